/**
 * MCP sessions: what a session's `initialize` said of its two sides, and
 * which request each answer is to.
 *
 * A client opens a session with `initialize`, naming itself (clientInfo);
 * the server's answer names the server (serverInfo) and the protocol
 * revision both use (MCP spec, "Lifecycle"). Every later message of the
 * session then carries those names (`mcp.client`, `mcp.server`), so that a
 * policy can tell a `tools/call` of `delete_file` on the filesystem server
 * from one on a scratch server, and an inventory can list which servers
 * each program talks to. JSON-RPC answers name only their id: an answer is
 * given the method and tool of the request it answers, asked the other way
 * in the same session (a server's own requests, such as
 * `sampling/createMessage`, are answered by the client).
 *
 * Over HTTP a session is the `Mcp-Session-Id` the server gave (streamable
 * HTTP keeps it across connections), else the connection; over stdio it is
 * the client and the server process it started (interpreter.ts).
 */
import { createHash } from 'node:crypto';
import type { McpInfo, McpParty } from '../model/event.js';
import { ask, type Ask } from './request-events.js';
import { msBetween } from './clock.js';

/** which way a message went: client to server, or server to client */
export type McpDirection = 'c' | 's';

/** unanswered requests a session keeps: the oldest go first */
const MAX_ASKED = 1024;
/** servers whose first tools/list answer is remembered */
const MAX_SERVERS = 4096;

/**
 * The first tools/list answer of each server (by name and version) this
 * run, as a digest of its tools' names and what it says of them: a later
 * answer that differs is flagged (`mcp.tools_changed`).
 */
export class ToolsSeen {
  private readonly first = new Map<string, string>();

  /** Whether M, a tools/list answer of SERVER, differs from that server's first. */
  changed(server: McpParty, m: McpInfo): boolean {
    const key = `${server.name}\0${server.version ?? ''}`;
    const digest = createHash('sha256').update(`${(m.tools ?? []).join('\n')}\0${m.context ?? ''}`).digest('base64');
    const was = this.first.get(key);
    if (was !== undefined) return was !== digest;
    if (this.first.size >= MAX_SERVERS) this.first.delete(this.first.keys().next().value!);
    this.first.set(key, digest);
    return false;
  }
}

/** How long answer M took: from its request's time ASKED to its own, AT (ns, the kernel's clock; 0: not known). */
function answerTime(m: McpInfo, asked: number, at: number): void {
  if (asked > 0 && at >= asked) m.duration_ms = msBetween(asked, at);
}

/** Answer M, made at AT, answers REQ: its method, tool, the event that reported it, and how long it took. */
export function answers(m: McpInfo, req: Ask, at: number): void {
  m.method = req.method;
  if (req.tool !== undefined) m.tool = req.tool;
  if (req.event !== undefined) m.request_event = req.event;
  if (req.traceparent !== undefined && m.traceparent === undefined) m.traceparent = req.traceparent;
  answerTime(m, req.at, at);
}

export class McpSession {
  client?: McpParty;
  server?: McpParty;
  /** requests waiting for their answers, by `${direction}:${id}` */
  private readonly asked = new Map<string, Ask>();

  /** SEEN: where servers' first tool lists are kept (none: not compared) */
  constructor(private readonly seen?: ToolsSeen) {}

  /**
   * M, read going DIR: its answer's request remembered, or the request it
   * answers found (undefined DIR: pairing was done elsewhere, stdio.ts);
   * the session's names learnt from it, or given to it. AT: when it was
   * written or read (ns, the kernel's clock; 0: not known), to time an
   * answer from its request.
   */
  note(m: McpInfo, dir?: McpDirection, at = 0): void {
    if (dir !== undefined && m.id !== undefined) {
      if (m.kind === 'request' && m.method !== undefined) {
        if (this.asked.size >= MAX_ASKED) this.asked.delete(this.asked.keys().next().value!);
        this.asked.set(`${dir}:${m.id}`, ask(m as McpInfo & { method: string }, at));
      } else if (m.kind === 'response' && m.method === undefined) {
        const k = `${dir === 'c' ? 's' : 'c'}:${m.id}`;
        const req = this.asked.get(k);
        if (req !== undefined) {
          this.asked.delete(k);
          answers(m, req, at);
        }
      }
    }
    // a new initialize starts the session afresh (a client that reconnects on a kept connection)
    if (m.client !== undefined) {
      this.client = m.client;
      this.server = undefined;
    } else if (this.client !== undefined) m.client = this.client;
    if (m.server !== undefined) this.server = m.server;
    else if (this.server !== undefined) m.server = this.server;
    if (m.tools !== undefined && m.kind === 'response' && m.server !== undefined && this.seen?.changed(m.server, m)) m.tools_changed = true;
  }
}

/** Sessions by key, the least recently used going first past MAX. */
export class McpSessions {
  private readonly byKey = new Map<string, McpSession>();
  private readonly seen = new ToolsSeen();

  constructor(private readonly max = 4096) {}

  /** KEY's session: undefined unless it was made or bound. */
  get(key: string): McpSession | undefined {
    const s = this.byKey.get(key);
    if (s !== undefined) {
      this.byKey.delete(key);
      this.byKey.set(key, s);
    }
    return s;
  }

  /** KEY's session, made when it has none yet. */
  of(key: string): McpSession {
    return this.get(key) ?? this.bind(key, this.fresh());
  }

  /** A session bound to no key yet (a connection's), comparing tool lists with the others'. */
  fresh(): McpSession {
    return new McpSession(this.seen);
  }

  /** KEY names S from now on (a session id the server gave to a session a connection opened). */
  bind(key: string, s: McpSession): McpSession {
    this.byKey.delete(key);
    if (this.byKey.size >= this.max) this.byKey.delete(this.byKey.keys().next().value!);
    this.byKey.set(key, s);
    return s;
  }

  /** Forget every session whose key starts with PREFIX (a process exited). */
  forget(prefix: string): void {
    for (const k of this.byKey.keys()) if (k.startsWith(prefix)) this.byKey.delete(k);
  }

  get size(): number {
    return this.byKey.size;
  }
}
