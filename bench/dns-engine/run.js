#!/usr/bin/env node
// Engine throughput on DNS: how many resolver exchanges one core turns into
// events, from the decoded kernel records on, as the dns workload of
// bench/overhead makes them (a stub resolver with a new UDP socket per
// query): the socket's first datagram ("connect"), the query, the answer
// (DNS parsing, the name cache, provider classification) and the socket's
// close, four records and four events per exchange.
//   plain   "api.openai.com A?" answered by one A record, its name a pointer
//           to the question's (dnsmasq's answer)
//   cname   the same name answered through a CNAME chain to two addresses
// Every variant runs in interleaved rounds; the median round is reported.
//   node bench/dns-engine/run.js [seconds-per-round]
import dnsPacket from 'dns-packet';
import { interpreterMaker, median } from '../lib.js';

const newInterpreter = await interpreterMaker();

const ROUND_MS = Number(process.argv[2] ?? 1) * 1000;
const ROUNDS = 5;

const question = [{ type: 'A', name: 'api.openai.com' }];
const query = dnsPacket.encode({ type: 'query', id: 0x1234, flags: dnsPacket.RECURSION_DESIRED, questions: question });
const answers = {
  plain: [{ type: 'A', name: 'api.openai.com', ttl: 300, data: '127.0.0.1' }],
  cname: [
    { type: 'CNAME', name: 'api.openai.com', ttl: 300, data: 'api.openai.com.cdn.cloudflare.net' },
    { type: 'A', name: 'api.openai.com.cdn.cloudflare.net', ttl: 60, data: '162.159.140.245' },
    { type: 'A', name: 'api.openai.com.cdn.cloudflare.net', ttl: 60, data: '172.66.0.243' },
  ],
};
// dns-packet writes every name in full; resolvers (dnsmasq here) write the
// answer's name as a pointer to the question's (RFC 1035 §4.1.4): so does
// the plain variant
const encoded = (v) => dnsPacket.encode({ type: 'response', id: 0x1234, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: question, answers: answers[v] });
function response(v) {
  const full = encoded(v);
  if (v !== 'plain') return full;
  const q = full.subarray(12, 12 + 16 + 4); // api.openai.com, type, class
  const rr = full.subarray(12 + 20 + 16); // the answer after its name
  return Buffer.concat([full.subarray(0, 12), q, Buffer.from([0xc0, 0x0c]), rr]);
}

const task = (pid) => ({ pid, tid: pid, ppid: 1, uid: 1000, gid: 1000, flags: 1, comm: 'dnsloop', cgroupId: 1 });
const flow = (sport) => ({ family: 4, protocol: 17, saddr: '127.0.0.1', sport, daddr: '127.53.1.1', dport: 53 });

/** One exchange's four records, as the kernel reports them. */
function exchange(i, answer) {
  const sockId = 0x10000 + i;
  const f = flow(32768 + (i % 28000));
  const t = task(1000 + (i % 8));
  const ts = 1e9 + i * 20_000;
  return [
    { kind: 'udp', phase: 'flow', ts, task: t, sockId, flow: f, egress: true, bytesSent: 0, bytesReceived: 0, startNs: ts },
    { kind: 'pkt', pktKind: 'dns', ts: ts + 1000, task: t, sockId, flow: f, egress: true, len: query.length, data: new Uint8Array(query) },
    { kind: 'pkt', pktKind: 'dns', ts: ts + 9000, task: t, sockId, flow: f, egress: false, len: answer.length, data: new Uint8Array(answer) },
    { kind: 'udp', phase: 'closed', ts: ts + 10000, task: t, sockId, flow: f, egress: undefined, bytesSent: query.length, bytesReceived: answer.length, startNs: ts },
  ];
}

function round(variant, ms) {
  let events = 0;
  let responses = 0;
  const interp = newInterpreter((e) => {
    events++;
    if (e.type === 'dns_response' && e.provider === 'openai') responses++;
  });
  const answer = response(variant);
  let n = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(ms) * 1_000_000n;
  do {
    for (let k = 0; k < 100; k++, n++) for (const r of exchange(n, answer)) interp.handle(r);
  } while (process.hrtime.bigint() < end);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (responses !== n || events !== 4 * n) throw new Error(`${variant}: ${events} events, ${responses} openai answers for ${n} exchanges`);
  return n / secs;
}

const rates = Object.fromEntries(Object.keys(answers).map((v) => [v, []]));
round('plain', 300); // warm-up
for (let r = 0; r < ROUNDS; r++) for (const v of Object.keys(answers)) rates[v].push(round(v, ROUND_MS));
for (const [v, xs] of Object.entries(rates)) {
  const m = median(xs);
  console.log(`RESULT ${JSON.stringify({ name: `dns-${v}`, unit: 'exchanges/s', value: Math.round(m), min: Math.round(Math.min(...xs)), max: Math.round(Math.max(...xs)), us_per_event: +(1e6 / m / 4).toFixed(3) })}`);
}
