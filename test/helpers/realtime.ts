/**
 * The stand-in's side of OpenAI's Realtime API: an RFC 6455 WebSocket
 * server on the provider server's HTTP/1.1 upgrade, with permessage-deflate
 * (RFC 7692, the window carried across messages both ways) when the client
 * offers it. It answers session.update with session.updated and
 * response.create with response.done (a function call and fixed usage), and
 * records every message it receives.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import * as zlib from 'node:zlib';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const TAIL = Buffer.from([0, 0, 0xff, 0xff]);

/** One zlib stream used message by message: each write flushed (Z_SYNC_FLUSH), its output collected. */
function flusher(z: zlib.DeflateRaw | zlib.InflateRaw): (b: Buffer) => Promise<Buffer> {
  let chain: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
  const parts: Buffer[] = [];
  z.on('data', (d: Buffer) => parts.push(d));
  return (b) =>
    (chain = chain.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          z.write(b);
          z.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(parts.splice(0))));
          z.once('error', reject);
        }),
    ));
}

export function acceptRealtime(req: IncomingMessage, socket: Duplex, head: Buffer, usage: { input: number; output: number }, received: string[]): void {
  const url = req.url ?? '';
  const key = req.headers['sec-websocket-key'];
  if (!/\/v1\/realtime(\?|$)/.test(url) || typeof key !== 'string') {
    socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  const deflate = /permessage-deflate/i.test(String(req.headers['sec-websocket-extensions'] ?? ''));
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : ''}\r\n`,
  );
  const model = new URLSearchParams(url.split('?')[1] ?? '').get('model') ?? 'm';
  const compress = deflate ? flusher(zlib.createDeflateRaw()) : undefined;
  const inflate = deflate ? flusher(zlib.createInflateRaw()) : undefined;
  const at = received.push(`${String(req.headers.host)} ${url} `) - 1;

  const send = async (o: object): Promise<void> => {
    let data: Buffer = Buffer.from(JSON.stringify(o));
    if (compress) {
      const c = await compress(data);
      data = c.subarray(0, c.length - 4); // the flush's 00 00 ff ff goes (RFC 7692 7.2.1)
    }
    const n = data.length;
    const hdr = n < 126 ? Buffer.from([0x81 | (compress ? 0x40 : 0), n]) : n < 65536 ? Buffer.from([0x81 | (compress ? 0x40 : 0), 126, n >> 8, n & 0xff]) : Buffer.concat([Buffer.from([0x81 | (compress ? 0x40 : 0), 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
    if (!socket.destroyed) socket.write(Buffer.concat([hdr, data]));
  };
  const onMessage = async (text: string): Promise<void> => {
    received[at] += text;
    let m: { type?: string; session?: { instructions?: string } } = {};
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (m.type === 'session.update') await send({ type: 'session.updated', session: { model, instructions: m.session?.instructions } });
    if (m.type === 'response.create') {
      await send({
        type: 'response.done',
        response: { status: 'completed', output: [{ type: 'function_call', name: 'get_weather', call_id: 'c1', arguments: '{}' }], usage: { input_tokens: usage.input, output_tokens: usage.output, total_tokens: usage.input + usage.output } },
      });
    }
  };

  // client frames: masked, perhaps fragmented, compressed when RSV1 says so
  let buf = head.length ? Buffer.from(head) : Buffer.alloc(0);
  let parts: Buffer[] = [];
  let compressed = false;
  let chain = Promise.resolve();
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + 4 + len) return;
      const mask = buf.subarray(off, off + 4);
      const payload = Buffer.from(buf.subarray(off + 4, off + 4 + len).map((b, i) => b ^ mask[i & 3]!));
      const fin = (buf[0]! & 0x80) !== 0;
      const opcode = buf[0]! & 0x0f;
      if (opcode === 1 || opcode === 2) compressed = (buf[0]! & 0x40) !== 0;
      buf = buf.subarray(off + 4 + len);
      if (opcode === 8) {
        socket.end(Buffer.from([0x88, 0]));
        return;
      }
      if (opcode >= 8) continue;
      parts.push(payload);
      if (!fin) continue;
      const whole = Buffer.concat(parts);
      parts = [];
      const wasCompressed = compressed;
      chain = chain.then(async () => {
        const plain = wasCompressed && inflate ? await inflate(Buffer.concat([whole, TAIL])) : whole;
        await onMessage(plain.toString('utf8'));
      });
    }
  });
  socket.on('error', () => {});
}
