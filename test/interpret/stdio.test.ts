// MCP over stdio (engine/interpret/stdio.ts) on synthetic write records:
// lines cut across writes and several in one write, responses paired with
// the requests they answer (either way between parent and child), a tool
// call longer than the kernel's copy read by its start, and what is not
// JSON-RPC left out.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StdioRecord } from '../../engine/decode/records.js';
import { StdioMcp } from '../../engine/interpret/stdio.js';
import { reported } from '../../engine/interpret/request-events.js';

const enc = new TextEncoder();
const task = (pid: number) => ({ pid, tid: pid, ppid: 0, uid: 0, gid: 0, flags: 1, comm: 'x', cgroupId: 1 });
const write = (pid: number, text: string, file = 'f1', asked?: number, ts = 0): StdioRecord => {
  const data = enc.encode(text);
  return { kind: 'stdio', ts, task: task(pid), file, fd: 1, len: asked ?? data.length, end: 'pipe', peer: 'p1', peerIno: 0, data };
};
const msg = (o: object) => `${JSON.stringify({ jsonrpc: '2.0', ...o })}\n`;

describe('StdioMcp: MCP over stdio', () => {
  it('an answer is timed from its request, by the kernel\'s timestamps of the two writes', () => {
    const s = new StdioMcp();
    const [asked] = s.feed(write(10, msg({ id: 9, method: 'tools/call', params: { name: 'slow', arguments: {} } }), 'f1', undefined, 7_000_000_000), [1]);
    reported(asked!, 'ev-3');
    const [r] = s.feed(write(11, msg({ id: 9, result: { content: [] } }), 'f2', undefined, 7_123_456_789), [10]);
    assert.equal(r!.tool, 'slow');
    assert.equal(r!.duration_ms, 123.457);
    assert.equal(r!.request_event, 'ev-3', 'the event that reported its request');
    // a traced client's trace context in _meta: on the request, and its answer
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const [traced] = s.feed(write(10, msg({ id: 10, method: 'tools/call', params: { name: 't', arguments: {}, _meta: { traceparent: tp } } }), 'f1', undefined, 8_000_000_000), [1]);
    assert.equal(traced!.traceparent, tp);
    const [tr] = s.feed(write(11, msg({ id: 10, result: { content: [] } }), 'f2', undefined, 8_100_000_000), [10]);
    assert.equal(tr!.traceparent, tp);
  });

  it('one message per line, however the writes cut them', () => {
    const s = new StdioMcp();
    const call = msg({ id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi there' } } });
    assert.deepEqual(s.feed(write(10, call.slice(0, 20)), [1]), []);
    const [m] = s.feed(write(10, call.slice(20)), [1]);
    assert.deepEqual(m, { kind: 'request', method: 'tools/call', id: 3, tool: 'echo', context: 'hi there', transport: 'stdio' });
    // two in one write, and a notification
    const two = s.feed(write(10, msg({ method: 'notifications/initialized' }) + msg({ id: 4, method: 'tools/list' })), [1]);
    assert.deepEqual(
      two.map((x) => [x.kind, x.method, x.id]),
      [
        ['notification', 'notifications/initialized', undefined],
        ['request', 'tools/list', 4],
      ],
    );
    // a batch (JSON-RPC 2.0 arrays)
    assert.equal(s.feed(write(10, `${JSON.stringify([{ jsonrpc: '2.0', id: 5, method: 'ping' }, { jsonrpc: '2.0', id: 6, method: 'ping' }])}\n`), [1]).length, 2);
  });

  it("pairs an answer with its request: a server's (the writer's parent asked) and a client's (its child asked)", () => {
    const s = new StdioMcp();
    // client 10 (parent 1) calls; server 11 (parent 10) answers
    s.feed(write(10, msg({ id: 7, method: 'tools/call', params: { name: 'delete_file', arguments: { path: '/x' } } })), [1]);
    const [r] = s.feed(write(11, msg({ id: 7, result: { content: [] } }), 'f2'), [10]);
    assert.deepEqual(r, { kind: 'response', method: 'tools/call', id: 7, tool: 'delete_file', transport: 'stdio' });
    // answered once: a second answer with the same id is not that request's
    const [again] = s.feed(write(11, msg({ id: 7, result: {} }), 'f2'), [10]);
    assert.equal(again!.method, undefined);
    // the server asks its client (sampling); the client answers
    s.feed(write(11, msg({ id: 'srv-1', method: 'sampling/createMessage', params: { messages: [] } }), 'f2'), [10]);
    const [c] = s.feed(write(10, msg({ id: 'srv-1', result: { role: 'assistant' } })), [1]);
    assert.equal(c!.method, 'sampling/createMessage');
    // another pair of processes with the same id is not confused with these
    s.feed(write(20, msg({ id: 1, method: 'tools/list' }), 'f3'), [2]);
    const [other] = s.feed(write(31, msg({ id: 1, result: {} }), 'f4'), [30]);
    assert.equal(other!.method, undefined);
  });

  it('pairs through a launcher (npx, uvx) between client and server: the nearest ancestor that asked', () => {
    const s = new StdioMcp();
    // client 10 (parent 1); launcher 11 (child of 10); server 12 (child of 11)
    s.feed(write(10, msg({ id: 3, method: 'tools/call', params: { name: 'git_log' } })), [1]);
    const [r] = s.feed(write(12, msg({ id: 3, result: {} }), 'f2'), [11, 10, 1]);
    assert.equal(r!.method, 'tools/call');
    assert.equal(r!.tool, 'git_log');
    // the server asks; its client, two generations up, answers
    s.feed(write(12, msg({ id: 'q', method: 'roots/list' }), 'f2'), [11, 10, 1]);
    const [c] = s.feed(write(10, msg({ id: 'q', result: { roots: [] } })), [1]);
    assert.equal(c!.method, 'roots/list');
  });

  it('a tool call longer than the copy is read by its start: its name, id and what was copied of its arguments', () => {
    const s = new StdioMcp();
    const line = msg({ id: 9, method: 'tools/call', params: { name: 'delete_file', arguments: { path: '/etc/passwd', pad: 'x'.repeat(30_000) } } });
    const copied = line.slice(0, 16384);
    const [m] = s.feed(write(10, copied, 'f1', line.length), [1]);
    assert.equal(m!.kind, 'request');
    assert.equal(m!.method, 'tools/call');
    assert.equal(m!.tool, 'delete_file');
    assert.equal(m!.id, 9);
    assert.equal(m!.truncated, true);
    assert.match(m!.context!, /\/etc\/passwd/);
    // the next write starts afresh
    const [n] = s.feed(write(10, msg({ id: 10, method: 'tools/list' })), [1]);
    assert.equal(n!.method, 'tools/list');
  });

  it('what is no JSON-RPC makes no message', () => {
    const s = new StdioMcp();
    assert.deepEqual(s.feed(write(10, '{"level":"info","msg":"started"}\nnot json at all\n{"jsonrpc":"1.0","id":1,"method":"x"}\n'), [1]), []);
    assert.equal(s.notJson, 1);
    // a cut line that is not JSON-RPC either
    assert.deepEqual(s.feed(write(10, '{"log": "x', 'f1', 100_000), [1]), []);
  });

  it('forgets the streams of a process that exited', () => {
    const s = new StdioMcp();
    s.feed(write(10, '{"jsonrpc":"2.0","id":1,'), [1]);
    s.forget(10);
    // the rest alone is no message
    assert.deepEqual(s.feed(write(10, '"method":"tools/list"}\n'), [1]), []);
  });
});

describe('the other end of a stdio stream (host/stdio-peer.ts), on a /proc laid out in a temporary directory', () => {
  it("finds the child, else the parent, that has the reading end open; the writer's threads' children all count", async () => {
    const { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { childrenOf, holderOf } = await import('../../engine/host/stdio-peer.js');
    const proc = mkdtempSync(join(tmpdir(), 'busted-proc-'));
    const task = (pid: number, tid: number, children: number[]) => {
      mkdirSync(join(proc, String(pid), 'task', String(tid)), { recursive: true });
      writeFileSync(join(proc, String(pid), 'task', String(tid), 'children'), children.length ? `${children.join(' ')} ` : '');
    };
    const fds = (pid: number, links: string[]) => {
      mkdirSync(join(proc, String(pid), 'fd'), { recursive: true });
      links.forEach((l, i) => symlinkSync(l, join(proc, String(pid), 'fd', String(i))));
    };
    try {
      task(10, 10, [11]);
      task(10, 12, [13]);
      fds(11, ['/dev/null', 'socket:[77]']);
      fds(13, ['pipe:[55]', 'pipe:[56]']);
      fds(1, ['pipe:[99]']);
      assert.deepEqual(childrenOf(10, proc).sort(), [11, 13]);
      assert.equal(holderOf('pipe:[56]', childrenOf(10, proc), proc), 13);
      assert.equal(holderOf('socket:[77]', childrenOf(10, proc), proc), 11);
      assert.equal(holderOf('pipe:[99]', [...childrenOf(10, proc), 1], proc), 1);
      assert.equal(holderOf('pipe:[1]', [11, 13, 404], proc), undefined, 'none has it; a gone pid is no error');
      assert.deepEqual(childrenOf(404, proc), []);
      // a launcher between: descendants deepest first; a pipe's write-only end does not count as holding it for reading
      const { descendantsOf } = await import('../../engine/host/stdio-peer.js');
      task(11, 11, [20]);
      task(20, 20, []);
      assert.deepEqual(descendantsOf(10, 3, proc), [20, 11, 13]);
      fds(20, ['pipe:[56]']);
      mkdirSync(join(proc, '13', 'fdinfo'), { recursive: true });
      writeFileSync(join(proc, '13', 'fdinfo', '1'), 'pos:\t0\nflags:\t01\nmnt_id:\t15\n');
      assert.equal(holderOf('pipe:[56]', [13], proc), undefined, "13's pipe:[56] is its write end");
      assert.equal(holderOf('pipe:[56]', descendantsOf(10, 3, proc), proc), 20);
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });
});
