/**
 * --output syslog:HOST:PORT and syslog+tcp:HOST:PORT against a real rsyslogd
 * on loopback (test/helpers/rsyslog.ts): RFC 5424 fields as rsyslog parses
 * them, octet-counted framing over TCP, every message received, in order, and
 * a reconnect after rsyslog restarts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import type { BustedEvent } from '../../engine/model/event.js';
import { eventJson } from '../../engine/sinks/jsonl.js';
import { formatRfc5424, parseHostPort, SD_ID, SyslogSink } from '../../engine/sinks/syslog.js';
import { makeEvent } from '../helpers/events.js';
import { freePort, Rsyslog, rsyslogSkipReason } from '../helpers/rsyslog.js';

const skip = rsyslogSkipReason();

async function until(pred: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const ids = (r: { msg: string }[]) => r.map((x) => (JSON.parse(x.msg) as BustedEvent).id);

describe('RFC 5424 formatting', () => {
  it('header, structured data with escapes, JSON message', () => {
    const e: BustedEvent = { id: 'ev-"1]', time: '2026-12-05T10:00:00.123456789Z', type: 'decision', provider: 'openai', decision: { action: 'block', reasons: ['x'], enforced: true, subject: 'ev-0', policy_revision: 'r\\1' } };
    const m = formatRfc5424(e, 16, 'host-a', '77', 8192);
    assert.equal(m, `<132>1 2026-12-05T10:00:00.123456Z host-a busted 77 decision [${SD_ID} id="ev-\\"1\\]" type="decision" provider="openai" action="block" enforced="true" subject="ev-0" policy_revision="r\\\\1"] ${eventJson(e)}`);
  });

  it('a message over the limit loses its captured content first', () => {
    const e = makeEvent(1, 20_000);
    const m = formatRfc5424(e, 16, 'h', '1', 8192);
    assert.ok(Buffer.byteLength(m) <= 8192);
    const json = JSON.parse(m.slice(m.indexOf('] ') + 2));
    assert.equal(json.truncated, true);
    assert.equal(json.llm.user_message, undefined);
    assert.equal(json.llm.model, 'gpt-4o-mini');
  });

  it('parses HOST:PORT, [v6]:PORT and a bare host', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:5514', 'syslog'), { host: '127.0.0.1', port: 5514 });
    assert.deepEqual(parseHostPort('[::1]:6514', 'syslog'), { host: '::1', port: 6514 });
    assert.deepEqual(parseHostPort('logs.example', 'syslog'), { host: 'logs.example', port: 514 });
    assert.throws(() => parseHostPort('h:99999', 'syslog+tcp'), /--output syslog\+tcp:h:99999: expected HOST:PORT/);
  });
});

describe('syslog sinks against rsyslogd', { skip }, () => {
  let rs: Rsyslog;
  before(async () => {
    rs = new Rsyslog(await freePort(), await freePort());
    await rs.start();
  });
  after(async () => {
    await rs?.dispose();
  });

  it('UDP: every message arrives, parsed by rsyslog as RFC 5424', async () => {
    const sink = new SyslogSink('udp', { host: '127.0.0.1', port: rs.udpPort }, { onError: () => {} });
    const N = 600;
    for (let i = 0; i < N; i++) {
      sink.write(makeEvent(i));
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
    }
    const big = makeEvent(10_000, 30_000);
    const missing = () => {
      const have = new Set(ids(rs.received().filter((r) => r.input === 'udp')));
      return [...Array.from({ length: N }, (_, i) => `ev-${i}`), 'ev-10000'].filter((x) => !have.has(x)).join(' ');
    };
    sink.write(big);
    await sink.close();
    await until(() => rs.received().filter((r) => r.input === 'udp').length === N + 1, `${N + 1} UDP messages (have ${rs.received().length}; missing ${missing()})`);
    const got = rs.received().filter((r) => r.input === 'udp');
    assert.deepEqual(ids(got).slice(0, N), Array.from({ length: N }, (_, i) => `ev-${i}`));
    const r0 = got[1]!; // an llm_request
    assert.equal(r0.pri, String(16 * 8 + 6));
    assert.equal(r0.version, '1');
    assert.equal(r0.host, hostname());
    assert.equal(r0.app, 'busted');
    assert.equal(r0.procid, String(process.pid));
    assert.equal(r0.msgid, 'llm_request');
    assert.match(r0.time, /^2026-12-05T10:00:00\.001000/);
    assert.equal(r0.sd, `[${SD_ID} id="ev-1" type="llm_request" provider="openai" pid="4242" comm="curl" model="gpt-4o-mini"]`);
    assert.equal(r0.msg, eventJson(makeEvent(1)));
    const last = JSON.parse(got[N]!.msg);
    assert.equal(last.id, "ev-10000");
    assert.equal(last.truncated, true, 'the 30 KB event came without its prompt');
    assert.equal(sink.dropped, 0);
  });

  it('TCP: octet-counted frames, all in order; reconnects after rsyslog restarts', async () => {
    const before = rs.received().length;
    const sink = new SyslogSink('tcp', { host: '127.0.0.1', port: rs.tcpPort }, { onError: () => {}, backoffBaseMs: 50, backoffMaxMs: 200 });
    // one message with a newline inside the JSON: octet counting keeps it whole
    const odd: BustedEvent = { ...makeEvent(0), id: 'ev-nl', process: { pid: 1, comm: 'sh', cmdline: 'echo a\nb' } };
    sink.write(odd);
    for (let i = 0; i < 2000; i++) sink.write(makeEvent(i));
    await until(() => rs.received().length - before === 2001, '2001 TCP messages');
    let got = rs.received().slice(before);
    assert.deepEqual(ids(got), ['ev-nl', ...Array.from({ length: 2000 }, (_, i) => `ev-${i}`)]);
    assert.equal(JSON.parse(got[0]!.msg).process.cmdline, 'echo a\nb');
    assert.ok(got.every((r) => r.input === 'tcp'));

    // rsyslog goes away; what is written meanwhile waits and follows the reconnect
    await rs.stop();
    await until(() => !sink.connected, 'the sink to notice');
    for (let i = 2000; i < 2500; i++) sink.write(makeEvent(i));
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(sink.queued > 0, 'queued while rsyslog is down');
    const mark = rs.received().length;
    await rs.start();
    await until(() => rs.received().length - mark === 500, 'the 500 queued messages after the reconnect');
    got = rs.received().slice(mark);
    assert.deepEqual(ids(got), Array.from({ length: 500 }, (_, i) => `ev-${2000 + i}`));
    await sink.close();
    assert.equal(sink.dropped, 0);
  });
});
