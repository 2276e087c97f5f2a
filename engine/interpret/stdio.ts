/**
 * MCP over stdio (bpf/stdio.bpf.c, `--mcp-stdio`): the JSON-RPC a client
 * writes to the server it spawned, on the server's stdin, and what the
 * server writes back on its stdout. The transport (MCP spec, "stdio") is
 * one message per line, UTF-8, no embedded newlines; each writer's stream
 * (its pid and the file it writes to) is cut into lines here and each line
 * read as MCP messages, as a body over HTTP is (llm.ts mcpFromValues).
 *
 * A response names only its id: it is paired with the request it answers,
 * written the other way between the same two processes. A server is its
 * client's descendant (its child, or a launcher's such as npx's or uvx's),
 * so a server's answer is looked up under its ancestors' requests and a
 * client's answer (to a server's `sampling/createMessage`, say) under its
 * descendants'; it then carries that request's method and tool, as an HTTP
 * response does its stream's.
 *
 * A message longer than the kernel copies (16 KiB) ends where the copy
 * ends and does not parse: its method, id and tool are read from its start
 * (`truncated`), so that a tool call is judged by its name however long its
 * arguments.
 */
import { answers } from './mcp-session.js';
import { ask, type Ask } from './request-events.js';
import type { StdioRecord } from '../decode/records.js';
import type { McpInfo } from '../model/event.js';
import { mcpFromValues } from './llm.js';

/** A line longer than this (no newline in sight) is dropped: not MCP, or not readable here. */
const MAX_LINE = 1 << 20;
/** streams and unanswered requests kept: the oldest go first */
const MAX_STREAMS = 1024;
const MAX_PENDING = 4096;

interface Stream {
  /** the line so far */
  text: string;
  /** bytes of the line were not copied: it ends there */
  cut: boolean;
}

const utf8 = new TextDecoder();

export class StdioMcp {
  private readonly streams = new Map<string, Stream>();
  /** requests by `w:${writer}:${id}` and `p:${each of the writer's ancestors}:${id}` */
  private readonly pending = new Map<string, Ask>();
  /** lines that were not JSON: counted, not reported */
  notJson = 0;

  /** PAIR: answers are given the method and tool of their request (false: a reader's view, judged, not reported) */
  constructor(private readonly pairs = true) {}

  /** The MCP messages R completes, for its writer (whose ANCESTORS are given nearest first). */
  feed(r: StdioRecord, ancestors: readonly number[]): McpInfo[] {
    const key = `${r.task.pid}:${r.file}`;
    let st = this.streams.get(key);
    if (st === undefined) {
      if (this.streams.size >= MAX_STREAMS) this.streams.delete(this.streams.keys().next().value!);
      st = { text: '', cut: false };
      this.streams.set(key, st);
    }
    const out: McpInfo[] = [];
    const lines = (st.text + utf8.decode(r.data)).split('\n');
    st.text = lines.pop()!;
    for (const line of lines) this.line(line, st.cut, r.task.pid, ancestors, out, r.ts);
    st.cut = false;
    if (r.data.length < r.len) {
      // the rest of this write was not copied: the line it was in ends here, and the next write starts afresh
      this.line(st.text, true, r.task.pid, ancestors, out, r.ts);
      st.text = '';
    } else if (st.text.length > MAX_LINE) st.text = '';
    return out;
  }

  /** Forget a process's streams (it exited). */
  forget(pid: number): void {
    if (this.streams.size === 0) return;
    const p = `${pid}:`;
    for (const k of this.streams.keys()) if (k.startsWith(p)) this.streams.delete(k);
  }

  private line(text: string, cut: boolean, pid: number, ancestors: readonly number[], out: McpInfo[], at: number): void {
    const t = text.trim();
    if (t === '') return;
    let msgs: McpInfo[];
    try {
      const v: unknown = JSON.parse(t);
      msgs = mcpFromValues(Array.isArray(v) ? v : [v]);
    } catch {
      const m = cut ? fromStart(t) : undefined;
      if (m === undefined) {
        this.notJson++;
        return;
      }
      msgs = [m];
    }
    for (const m of msgs) {
      if (this.pairs) this.pair(m, pid, ancestors, at);
      m.transport = 'stdio';
      out.push(m);
    }
  }

  /** AT: when the write was made (ns, the kernel's clock): an answer is timed from its request's */
  private pair(m: McpInfo, pid: number, ancestors: readonly number[], at: number): void {
    if (m.id === undefined) return;
    if (m.kind === 'request' && m.method !== undefined) {
      if (this.pending.size >= MAX_PENDING) {
        // the oldest go: as many as this request adds
        const oldest = this.pending.keys();
        for (let i = 0; i <= ancestors.length; i++) this.pending.delete(oldest.next().value!);
      }
      const req = ask(m as McpInfo & { method: string }, at);
      this.pending.set(`w:${pid}:${m.id}`, req);
      for (const a of ancestors) this.pending.set(`p:${a}:${m.id}`, req);
      return;
    }
    if (m.kind !== 'response') return;
    // a server answering an ancestor's request (the nearest that asked), or a client answering a descendant's
    const k = ancestors.map((a) => `w:${a}:${m.id}`).find((x) => this.pending.has(x)) ?? `p:${pid}:${m.id}`;
    const req = this.pending.get(k);
    if (req === undefined) return;
    this.pending.delete(k);
    answers(m, req, at);
  }
}

/**
 * What the start of a message cut short says: its method, id and tool (a
 * tool call's name comes before its arguments in every SDK's output). Only
 * a JSON-RPC 2.0 request or notification; undefined otherwise.
 */
function fromStart(t: string): McpInfo | undefined {
  if (!t.startsWith('{') || !/"jsonrpc"\s*:\s*"2\.0"/.test(t)) return undefined;
  const method = /"method"\s*:\s*"([^"\\]*)"/.exec(t)?.[1];
  if (method === undefined) return undefined;
  const id = /"id"\s*:\s*(-?\d+|"[^"\\]*")/.exec(t)?.[1];
  // what was copied stands for its params: a secret in it is seen
  const m: McpInfo = { kind: id === undefined ? 'notification' : 'request', method, context: t, truncated: true };
  if (id !== undefined) m.id = id.startsWith('"') ? id.slice(1, -1) : Number(id);
  const name = /"params"\s*:\s*\{[^{]*?"(?:name|uri)"\s*:\s*"([^"\\]*)"/.exec(t)?.[1];
  if (name !== undefined && (method === 'tools/call' || method === 'prompts/get' || method.startsWith('resources/'))) m.tool = name;
  return m;
}
