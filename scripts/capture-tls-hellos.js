#!/usr/bin/env node
/**
 * Regenerates the binary TLS hello fixtures in test/fixtures/tls/ (see the
 * README.md there) by live capture on 127.0.0.1 only:
 *
 *   node scripts/capture-tls-hellos.js [--only name,name,...] [outdir]
 *
 * ClientHellos: each client (curl, openssl s_client, python3 ssl, node tls)
 * connects to a throwaway node TCP server that keeps the first handshake
 * message it receives and hangs up. ServerHellos: a node TCP proxy sits in
 * front of `openssl s_server` or a python3 ssl server (self-signed RSA and
 * ECDSA certs made in a temp dir) and keeps the first handshake message the
 * server sends back. `--only` limits the run to the named fixtures (file
 * names without `.bin`).
 *
 * Only whole TLS records are stored, from the record header that starts the
 * hello to the end of the record that completes it.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const OPENSSL = '/usr/bin/openssl';
const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);

/** End offset of the record that completes the first handshake message, or -1 if more bytes are needed. */
function helloEnd(buf) {
  let off = 0;
  let have = 0;
  let want = -1;
  const hdr = [];
  while (off + 5 <= buf.length) {
    if (buf[off] !== 0x16) throw new Error(`not a handshake record at ${off}: ${buf[off]}`);
    const len = buf.readUInt16BE(off + 3);
    if (off + 5 + len > buf.length) return -1;
    for (let i = 0; i < len && hdr.length < 4; i++) hdr.push(buf[off + 5 + i]);
    have += len;
    off += 5 + len;
    if (want < 0 && hdr.length === 4) want = 4 + ((hdr[1] << 16) | (hdr[2] << 8) | hdr[3]);
    if (want >= 0 && have >= want) return off;
  }
  return -1;
}

function save(outdir, name, bytes, note) {
  mkdirSync(outdir, { recursive: true });
  writeFileSync(path.join(outdir, `${name}.bin`), bytes);
  console.log(`${name}.bin  ${bytes.length} bytes  ${note}`);
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Starts `argv(port)` as a client against a recording server and returns the ClientHello it sent. */
async function captureClient(argv) {
  let done;
  const got = new Promise((resolve) => (done = resolve));
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const end = helloEnd(buf);
      if (end >= 0) {
        done(buf.subarray(0, end));
        sock.destroy();
      }
    });
    sock.on('error', () => {});
  });
  const port = await listen(server);
  const [cmd, ...rest] = argv(port);
  const child = spawn(cmd, rest, { stdio: ['pipe', 'ignore', 'ignore'] });
  child.stdin.end();
  try {
    return await withTimeout(got, 10000, cmd);
  } finally {
    if (child.exitCode === null) child.kill();
    server.close();
  }
}

function freePort() {
  const s = net.createServer();
  return listen(s).then((port) => new Promise((resolve) => s.close(() => resolve(port))));
}

/**
 * Starts the server `serverArgv(port)` (it must print ACCEPT once listening on
 * 127.0.0.1:port) behind a recording proxy, connects `openssl s_client
 * clientArgs` through the proxy and returns the ServerHello.
 */
async function captureServer(serverArgv, clientArgs) {
  const backend = await freePort();
  const [cmd, ...rest] = serverArgv(backend);
  const srv = spawn(cmd, rest, { stdio: ['pipe', 'pipe', 'pipe'] });
  let client;
  const proxy = net.createServer();
  try {
    await withTimeout(
      new Promise((resolve, reject) => {
        let out = '';
        srv.stdout.on('data', (d) => {
          out += d;
          if (out.includes('ACCEPT')) resolve();
        });
        srv.once('exit', (code) => reject(new Error(`${cmd} exited ${code}`)));
      }),
      10000,
      `${cmd} start`,
    );
    let done;
    const got = new Promise((resolve) => (done = resolve));
    proxy.on('connection', (down) => {
      const up = net.connect(backend, '127.0.0.1');
      let buf = Buffer.alloc(0);
      down.pipe(up);
      up.on('data', (d) => {
        down.write(d);
        if (buf === null) return;
        buf = Buffer.concat([buf, d]);
        const end = helloEnd(buf);
        if (end >= 0) {
          done(buf.subarray(0, end));
          buf = null;
        }
      });
      up.on('error', () => down.destroy());
      down.on('error', () => up.destroy());
      up.on('end', () => down.end());
    });
    const port = await listen(proxy);
    client = spawn(OPENSSL, ['s_client', '-connect', `127.0.0.1:${port}`, ...clientArgs], { stdio: ['pipe', 'ignore', 'ignore'] });
    client.stdin.end();
    return await withTimeout(got, 10000, `${cmd} hello`);
  } finally {
    if (client && client.exitCode === null) client.kill();
    if (srv.exitCode === null) srv.kill();
    proxy.close();
  }
}

const PY_CLIENT = `
import socket, ssl, sys
port, sni, alpn = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if alpn:
    ctx.set_alpn_protocols(alpn.split(','))
s = socket.create_connection(('127.0.0.1', port), timeout=5)
try:
    ctx.wrap_socket(s, server_hostname=sni or None)
except Exception:
    pass
`;

// A python ssl TLS 1.2 server with an sni_callback: OpenSSL then acknowledges
// the client's SNI with an empty server_name extension in the ServerHello.
const PY_SERVER = `
import socket, ssl, sys
port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
ctx.set_ciphers('ECDHE-ECDSA-CHACHA20-POLY1305')
ctx.set_alpn_protocols(['h2'])
ctx.sni_callback = lambda sock, name, c: None
ls = socket.create_server(('127.0.0.1', port))
print('ACCEPT', flush=True)
c, _ = ls.accept()
try:
    ctx.wrap_socket(c, server_side=True)
except Exception:
    pass
`;

// alpn is "a,b,c", or "hex:..." for a ready-made protocol_name_list (length-prefixed
// names), which node passes through as is: the way to offer non-ASCII protocol ids.
const NODE_CLIENT = `
const tls = require('node:tls');
const [port, sni, alpn] = process.argv.slice(1);
const opts = { host: '127.0.0.1', port: Number(port), rejectUnauthorized: false };
if (sni) opts.servername = sni;
if (alpn) opts.ALPNProtocols = alpn.startsWith('hex:') ? Buffer.from(alpn.slice(4), 'hex') : alpn.split(',');
const s = tls.connect(opts);
s.on('error', () => {});
s.on('close', () => process.exit(0));
`;

// Long enough to push the ClientHello past one 512-byte record with -max_send_frag 512.
const MANY_ALPN = ['h2', 'http/1.1', ...Array.from({ length: 30 }, (_, i) => `busted-test-protocol-${i}`)].join(',');

// protocol_name_list: "\xba\xad" (not ASCII, not UTF-8) then "http/1.1".
const NON_ASCII_ALPN = `hex:02baad08${Buffer.from('http/1.1').toString('hex')}`;

async function live(outdir, only) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'busted-tls-'));
  const wanted = ([name]) => !only || only.has(name);
  try {
    const req = ['req', '-x509', '-nodes', '-days', '1', '-subj', '/CN=localhost'];
    execFileSync(OPENSSL, [...req, '-newkey', 'rsa:2048', '-keyout', path.join(dir, 'rsa-key.pem'), '-out', path.join(dir, 'rsa-cert.pem')], { stdio: 'ignore' });
    execFileSync(OPENSSL, [...req, '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-keyout', path.join(dir, 'ecdsa-key.pem'), '-out', path.join(dir, 'ecdsa-cert.pem')], { stdio: 'ignore' });
    const curlVer = execFileSync('curl', ['--version']).toString().split('\n')[0];
    const sslVer = execFileSync(OPENSSL, ['version']).toString().trim();
    const pyVer = execFileSync('python3', ['-c', 'import ssl,sys; print(sys.version.split()[0], ssl.OPENSSL_VERSION)']).toString().trim();
    console.log(`# ${curlVer}\n# ${sslVer}\n# python ${pyVer}\n# node ${process.version} (OpenSSL ${process.versions.openssl})`);

    const clients = [
      ['client-curl-h2', 'curl: SNI api.openai.com, ALPN h2,http/1.1', (p) => ['curl', '-sk', '--max-time', '5', '--resolve', `api.openai.com:${p}:127.0.0.1`, `https://api.openai.com:${p}/v1/models`]],
      ['client-curl-http11', 'curl --http1.1: SNI api.anthropic.com, ALPN http/1.1', (p) => ['curl', '-sk', '--http1.1', '--max-time', '5', '--resolve', `api.anthropic.com:${p}:127.0.0.1`, `https://api.anthropic.com:${p}/`]],
      ['client-openssl-h2', 's_client: SNI example.com, ALPN h2,http/1.1', (p) => [OPENSSL, 's_client', '-connect', `127.0.0.1:${p}`, '-servername', 'example.com', '-alpn', 'h2,http/1.1']],
      ['client-openssl-tls12-nosni', 's_client -tls1_2 -noservername, no ALPN', (p) => [OPENSSL, 's_client', '-connect', `127.0.0.1:${p}`, '-tls1_2', '-noservername']],
      ['client-openssl-tls12-noalpn', 's_client -tls1_2: SNI noalpn.example, no ALPN', (p) => [OPENSSL, 's_client', '-connect', `127.0.0.1:${p}`, '-tls1_2', '-servername', 'noalpn.example']],
      ['client-openssl-tls12-h2', 's_client -tls1_2: SNI tls12.example, ALPN h2,http/1.1', (p) => [OPENSSL, 's_client', '-connect', `127.0.0.1:${p}`, '-tls1_2', '-servername', 'tls12.example', '-alpn', 'h2,http/1.1']],
      ['client-openssl-tls12-seclevel0', "s_client -tls1_2 -cipher 'ALL:@SECLEVEL=0': SNI legacy.example, ALPN h2,http/1.1", (p) => [OPENSSL, 's_client', '-connect', `127.0.0.1:${p}`, '-tls1_2', '-cipher', 'ALL:@SECLEVEL=0', '-servername', 'legacy.example', '-alpn', 'h2,http/1.1']],
      ['client-openssl-multirecord', 's_client: SNI big.example, ffdhe4096 key share, 32 ALPN ids, -max_send_frag 512 (ClientHello spans records)', (p) => [OPENSSL, 's_client', '-connect', `127.0.0.1:${p}`, '-servername', 'big.example', '-groups', 'ffdhe4096:x25519', '-alpn', MANY_ALPN, '-max_send_frag', '512']],
      ['client-python-h2', 'python3 ssl: SNI python.example, ALPN h2,http/1.1', (p) => ['python3', '-c', PY_CLIENT, String(p), 'python.example', 'h2,http/1.1']],
      ['client-python-noalpn', 'python3 ssl: SNI localhost, no ALPN', (p) => ['python3', '-c', PY_CLIENT, String(p), 'localhost', '']],
      ['client-node-http11', 'node tls.connect: SNI node.example, ALPN http/1.1', (p) => [process.execPath, '-e', NODE_CLIENT, String(p), 'node.example', 'http/1.1']],
      ['client-node-ip', 'node tls.connect to 127.0.0.1 without servername (no SNI), ALPN h2', (p) => [process.execPath, '-e', NODE_CLIENT, String(p), '', 'h2']],
      ['client-node-nonascii-alpn', 'node tls.connect: SNI node.example, ALPN protocol_name_list [ba ad], http/1.1', (p) => [process.execPath, '-e', NODE_CLIENT, String(p), 'node.example', NON_ASCII_ALPN]],
    ];
    for (const [name, note, argv] of clients.filter(wanted)) save(outdir, name, await captureClient(argv), note);

    const cert = (kind) => [path.join(dir, `${kind}-cert.pem`), path.join(dir, `${kind}-key.pem`)];
    const sServer = (sArgs) => (p) => [OPENSSL, 's_server', '-accept', `127.0.0.1:${p}`, '-cert', cert('rsa')[0], '-key', cert('rsa')[1], '-naccept', '1', ...sArgs];
    const servers = [
      ['server-openssl-tls13', 's_server -tls1_3 -alpn h2; s_client -alpn h2', sServer(['-tls1_3', '-alpn', 'h2']), ['-servername', 'srv.example', '-alpn', 'h2']],
      ['server-openssl-tls12', 's_server -tls1_2 -alpn h2; s_client -alpn h2,http/1.1', sServer(['-tls1_2', '-alpn', 'h2']), ['-servername', 'srv.example', '-alpn', 'h2,http/1.1']],
      ['server-openssl-hrr', 's_server -tls1_3 -groups secp384r1 (client key share is x25519: HelloRetryRequest)', sServer(['-tls1_3', '-groups', 'secp384r1']), ['-servername', 'srv.example']],
      [
        'server-python-tls12-h2',
        'python3 ssl server: TLS 1.2, ECDSA P-256 cert, ECDHE-ECDSA-CHACHA20-POLY1305, ALPN h2, sni_callback (SNI acked); s_client -alpn h2,http/1.1',
        (p) => ['python3', '-c', PY_SERVER, String(p), ...cert('ecdsa')],
        ['-servername', 'srv.example', '-alpn', 'h2,http/1.1'],
      ],
    ];
    for (const [name, note, serverArgv, cArgs] of servers.filter(wanted)) save(outdir, name, await captureServer(serverArgv, cArgs), note);
    const unknown = [...(only ?? [])].filter((n) => ![...clients, ...servers].some(([name]) => name === n));
    if (unknown.length > 0) throw new Error(`--only: no such fixture: ${unknown.join(', ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function opt(name) {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}

const only = opt('--only');
await live(args[0] ?? path.join(here, '..', 'test', 'fixtures', 'tls'), only ? new Set(only.split(',')) : undefined);
