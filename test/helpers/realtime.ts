/**
 * The stand-in's side of OpenAI's Realtime API: an RFC 6455 WebSocket
 * server on the provider server's HTTP/1.1 upgrade, with permessage-deflate
 * (RFC 7692, the window carried across messages both ways) when the client
 * offers it. It answers session.update with session.updated and
 * response.create with response.done (a function call and fixed usage), and
 * records every message it receives.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import * as zlib from 'node:zlib';
import { wsAccept, wsFrame, wsReader } from '../../training/traffic/server.js';

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
  const accept = wsAccept(key);
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
    if (!socket.destroyed) socket.write(wsFrame(data, 1, false, compress !== undefined));
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

  // client frames: masked, perhaps fragmented, compressed when RSV1 (on a message's first frame) says so
  let parts: Buffer[] = [];
  let compressed = false;
  let chain = Promise.resolve();
  const frames = wsReader((opcode, payload, first) => {
    if (opcode === 8) {
      socket.end(wsFrame(Buffer.alloc(0), 8));
      return;
    }
    if (opcode >= 8) return;
    if (opcode === 1 || opcode === 2) compressed = (first & 0x40) !== 0;
    parts.push(payload);
    if ((first & 0x80) === 0) return;
    const whole = Buffer.concat(parts);
    parts = [];
    const wasCompressed = compressed;
    chain = chain.then(async () => {
      const plain = wasCompressed && inflate ? await inflate(Buffer.concat([whole, TAIL])) : whole;
      await onMessage(plain.toString('utf8'));
    });
  });
  if (head.length) frames(Buffer.from(head));
  socket.on('data', (d: Buffer) => frames(d));
  socket.on('error', () => {});
}
