// HTTPS server for bench/overhead: answers every request with a small body.
// Clients use agent:false so every request is a new connection with a full
// handshake. Prints {"port":N} on stdout once listening; stops on SIGTERM or
// after BENCH_MAX_SECS (default 300) so it never outlives the bench.
//   node tls-server.js <cert.pem> <key.pem> [host]
// env: TLSLOOP_PLAIN=1: plain-text HTTP instead (cert and key unused).
import { readFileSync } from 'node:fs';
import { createServer as createPlain } from 'node:http';
import { createServer as createTls } from 'node:https';

const [cert, key, host = '127.0.0.1'] = process.argv.slice(2);
const body = JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' } }] });
const handler = (req, res) => {
  req.resume();
  req.on('end', () => {
    // keep-alive when the client asks for it (tlsloop with TLSLOOP_REQS_PER_CONN)
    const close = (req.headers.connection ?? '').toLowerCase() === 'close';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(close ? { connection: 'close' } : {}) });
    res.end(body);
  });
};
const server = process.env.TLSLOOP_PLAIN === '1' ? createPlain(handler) : createTls({ cert: readFileSync(cert), key: readFileSync(key) }, handler);
server.keepAliveTimeout = 30_000;
server.listen(0, host, () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n'));
const stop = () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 500).unref();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(() => process.exit(0), Number(process.env.BENCH_MAX_SECS ?? 300) * 1000).unref();
