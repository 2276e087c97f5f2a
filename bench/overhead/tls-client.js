// HTTPS request loop for bench/overhead: every request is a new TCP+TLS
// connection (agent:false, no session reuse → full handshake) carrying one
// small POST. Runs <seconds> or <max> requests, <concurrency> in flight.
//   node tls-client.js <port> <ca.pem> <seconds> <max> <concurrency> [servername] [host]
// env: TLSLOOP_KEEPALIVE=1: requests go over kept-alive connections (one
//      per worker) instead, as an SDK's HTTP client sends them;
//      TLSLOOP_GET=/path sends that GET instead of the chat completion POST;
//      TLSLOOP_PLAIN=1: plain-text HTTP instead of TLS (ca.pem unused);
//      TLSLOOP_POST=/path: POST a small JSON that is no LLM call there instead.
// Prints {"requests":N,"secs":S,"rate":N/S,"errors":E}.
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { createSecureContext } from 'node:tls';

const plain = process.env.TLSLOOP_PLAIN === '1';
const { Agent, request } = plain ? http : https;

const [port, caFile, secs = '5', max = '1000000', conc = '4', servername = 'api.openai.com', host = '127.0.0.1'] = process.argv.slice(2);
// One context for all requests (building one per request costs more than the handshake).
const secureContext = plain ? undefined : createSecureContext({ ca: readFileSync(caFile) });
const post = process.env.TLSLOOP_POST;
const payload = JSON.stringify(post ? { note: 'not an LLM call', items: [1, 2, 3] } : { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
const get = process.env.TLSLOOP_GET;
const agent = process.env.TLSLOOP_KEEPALIVE === '1' ? new Agent({ keepAlive: true, maxSockets: Number(conc) }) : false;
const what = get
  ? { method: 'GET', path: get, headers: { host: servername } }
  : { method: 'POST', path: post ?? '/v1/chat/completions', headers: { host: servername, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } };
const t0 = performance.now();
const deadline = t0 + Number(secs) * 1000;
let started = 0;
let done = 0;
let errors = 0;

function one() {
  return new Promise((resolve) => {
    const req = request(
      plain ? { host, port: Number(port), agent, ...what } : { host, port: Number(port), servername, secureContext, agent, ...what },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) done++;
          else errors++;
          resolve();
        });
        res.on('error', () => (errors++, resolve()));
      },
    );
    req.on('error', () => (errors++, resolve()));
    req.end(get ? undefined : payload);
  });
}

async function worker() {
  while (performance.now() < deadline && started < Number(max)) {
    started++;
    await one();
  }
}

await Promise.all(Array.from({ length: Number(conc) }, worker));
if (agent) agent.destroy();
const s = (performance.now() - t0) / 1000;
process.stdout.write(JSON.stringify({ requests: done, secs: Number(s.toFixed(4)), rate: Number((done / s).toFixed(1)), errors }) + '\n');
