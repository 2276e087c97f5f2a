/**
 * OpenAI's Realtime API over a WebSocket (wss://api.openai.com/v1/realtime)
 * through real clients, read from their TLS libraries: python3 (libssl, a
 * hand-written RFC 6455 client that compresses its messages with
 * permessage-deflate, the window carried across messages) and node (its
 * own OpenSSL, the built-in WebSocket, which receives compressed messages
 * from the stand-in). Each text message with text in it is an
 * llm_request, each response.done an llm_response with its usage; under
 * `busted enforce` with the shipped policies, a secret in a user turn never
 * reaches the server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BustedEvent } from '../../engine/model/event.js';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';
import { makePki, type Pki } from '../../engine/demo/pki.js';
import { MonitorProcess } from '../helpers/agent.js';
import { PYTHON, run } from '../../engine/demo/spawn.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';
import { startProviderServer, USAGE, type ProviderServer } from '../helpers/providers.js';

const skip = kernelSkipReason();
const HOST = 'api.openai.com';
const KEY = 'sk-proj-e2eREALTIMEkey0123456789abcdef';
const SECRET = 'AKIAIOSFODNN7EXAMPLE';

/** python3: handshake offering permessage-deflate, then session.update, a user turn, response.create; waits for response.done. */
function pythonClient(port: number, ca: string, user: string): string[] {
  return [
    PYTHON,
    '-c',
    `import base64, json, os, socket, ssl, struct, sys, zlib
ctx = ssl.create_default_context(cafile=${JSON.stringify(ca)})
s = ctx.wrap_socket(socket.create_connection((${JSON.stringify(HOST)}, ${port})), server_hostname=${JSON.stringify(HOST)})
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET /v1/realtime?model=gpt-4o-realtime-preview HTTP/1.1\\r\\nHost: ${HOST}\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
  "Sec-WebSocket-Key: " + key + "\\r\\nSec-WebSocket-Version: 13\\r\\nSec-WebSocket-Extensions: permessage-deflate\\r\\n"
  "Authorization: Bearer ${KEY}\\r\\n\\r\\n").encode())
buf = b""
while b"\\r\\n\\r\\n" not in buf:
    d = s.recv(4096)
    if not d: sys.exit(5)
    buf += d
head, buf = buf.split(b"\\r\\n\\r\\n", 1)
assert b" 101 " in head.split(b"\\r\\n")[0], head
deflate = b"permessage-deflate" in head.lower()
comp = zlib.compressobj(wbits=-15)
dec = zlib.decompressobj(wbits=-15)
def send(o):
    data, first = json.dumps(o).encode(), 0x81
    if deflate:
        data, first = (comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4], 0xC1
    n, mask = len(data), os.urandom(4)
    hdr = bytes([first]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else bytes([0x80 | 127]) + struct.pack(">Q", n))
    s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
def frames():
    global buf
    while True:
        while len(buf) >= 2:
            n, off = buf[1] & 0x7f, 2
            if n == 126: n, off = struct.unpack(">H", buf[2:4])[0], 4
            elif n == 127: n, off = struct.unpack(">Q", buf[2:10])[0], 10
            if len(buf) < off + n: break
            b0, payload, buf = buf[0], buf[off:off + n], buf[off + n:]
            yield json.loads(dec.decompress(payload + b"\\x00\\x00\\xff\\xff") if b0 & 0x40 else payload)
        d = s.recv(65536)
        if not d: sys.exit(6)
        buf += d
send({"type": "session.update", "session": {"instructions": "be terse", "tools": [{"type": "function", "name": "get_weather"}]}})
send({"type": "input_audio_buffer.append", "audio": base64.b64encode(os.urandom(3000)).decode()})
send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": ${JSON.stringify(user)}}]}})
send({"type": "response.create"})
for m in frames():
    if m.get("type") == "response.done": break
print("done")`,
  ];
}

/** node: the built-in WebSocket (it offers permessage-deflate; the stand-in then compresses what it sends). */
function nodeClient(port: number, user: string): string[] {
  return [
    process.execPath,
    '--experimental-websocket',
    '--no-warnings',
    '-e',
    `const ws = new WebSocket(${JSON.stringify(`wss://${HOST}:${port}/v1/realtime?model=gpt-4o-realtime-preview`)});
ws.onerror = (e) => { console.error(e.message); process.exit(4); };
ws.onopen = () => {
  ws.send(JSON.stringify({ type: 'session.update', session: { instructions: 'be terse' } }));
  ws.send(JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: ${JSON.stringify(user)} }] } }));
  ws.send(JSON.stringify({ type: 'response.create' }));
};
ws.onmessage = (m) => { if (JSON.parse(m.data).type === 'response.done') { console.log('done'); process.exit(0); } };
setTimeout(() => process.exit(7), 8000);`,
  ];
}

describe('OpenAI Realtime over a WebSocket (real clients, real kernel)', { skip }, () => {
  let cg: TestCgroup;
  let pki: Pki;
  let server: ProviderServer;
  let dir: string;
  let hosts: string;

  before(async () => {
    cg = new TestCgroup();
    pki = makePki([HOST]);
    server = await startProviderServer(pki);
    dir = mkdtempSync(join(tmpdir(), 'busted-realtime-'));
    hosts = join(dir, 'hosts');
    writeFileSync(hosts, `127.0.0.1 localhost ${HOST}\n`);
  });

  after(async () => {
    await server?.close();
    await cg?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  const inCg = () => ({ cgroup: cg.path, hosts, env: { NODE_EXTRA_CA_CERTS: pki.caCert } });

  it('busted monitor: instructions, the user turn, tools and the usage, from python3 (compressed messages) and node (compressed answers); no audio event, no key', async () => {
    const agent = await MonitorProcess.start(['--cgroup', cg.path]);
    try {
      for (const [name, argv] of [
        ['python3', pythonClient(server.port, pki.caCert, 'q-realtime-python3')],
        ['node', nodeClient(server.port, 'q-realtime-node')],
      ] as const) {
        const r = await run([...argv], inCg());
        assert.equal(r.code, 0, `${name}: ${r.stderr}`);
        const mine = (e: BustedEvent) => e.process?.pid === r.pid;
        const user = await agent.waitFor((e) => mine(e) && e.type === 'llm_request' && e.llm?.user_message !== undefined, `${name}: the user turn`);
        assert.equal(user.provider, 'openai');
        assert.equal(user.llm?.model, 'gpt-4o-realtime-preview');
        assert.equal(user.llm?.user_message, `q-realtime-${name}`);
        assert.equal(user.llm?.stream, true);
        assert.equal(user.http?.path, '/v1/realtime');
        const session = agent.events.find((e) => mine(e) && e.type === 'llm_request' && e.llm?.system_prompt === 'be terse');
        assert.ok(session, `${name}: session.update's instructions are a system prompt`);
        if (name === 'python3') assert.deepEqual(session.llm?.tools, ['get_weather']);
        const done = await agent.waitFor((e) => mine(e) && e.type === 'llm_response', `${name}: response.done`);
        assert.deepEqual(done.llm?.usage, { input_tokens: USAGE.input, output_tokens: USAGE.output });
        assert.deepEqual(done.llm?.tool_calls, ['get_weather']);
        // the audio append (base64 is no text) and response.create (nothing but its type) are no events
        assert.equal(agent.events.filter((e) => mine(e) && e.type === 'llm_request').length, 2, `${name}: session.update and the user turn`);
      }
      assert.ok(!JSON.stringify(agent.events).includes(KEY.slice(8)), 'the API key appears nowhere');
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });

  it('busted enforce with the shipped policies: a secret in a user turn never reaches the server; a harmless session completes', async () => {
    const agent = await MonitorProcess.start(['--policies', join(PACKAGE_ROOT, 'policies'), '--cgroup', cg.path, '--no-server-side'], 20_000, 'enforce');
    try {
      const r = await run(pythonClient(server.port, pki.caCert, `deploy with ${SECRET} (realtime-secret)`), inCg());
      assert.notEqual(r.code, 0, 'the session carrying a secret is cut');
      const req = await agent.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid && e.llm?.user_message !== undefined, 'the user turn');
      const d = await agent.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, 'its decision');
      assert.deepEqual(d.decision?.reasons, ['prompt to openai contains an AWS access key']);
      assert.equal(d.decision?.enforced, true);
      assert.ok(!server.received.some((b) => b.includes('(realtime-secret)')), 'the server never received the turn');
      assert.ok(!agent.stdout.includes(SECRET), "the secret appears in busted's output");
      const ok = await run(pythonClient(server.port, pki.caCert, 'a harmless realtime turn'), inCg());
      assert.equal(ok.code, 0, ok.stderr);
      assert.ok(server.received.some((b) => b.includes('a harmless realtime turn')), 'the harmless turn arrived');
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });
});
