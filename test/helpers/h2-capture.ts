/**
 * Real HTTP/2 bytes for parser tests and benchmarks: node's http2 (nghttp2)
 * client and server talk cleartext HTTP/2 through a recording TCP proxy on
 * 127.0.0.1, so the frames, HPACK blocks (dynamic table, Huffman) and flow
 * control are what a real stack produces. The recording is from the
 * client's side: what it sent is `write`, what it got is `read`.
 */
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Chunk {
  direction: 'write' | 'read';
  data: Uint8Array;
}

export type H2Handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, body: string) => void;

export async function captureH2(handler: H2Handler, run: (client: http2.ClientHttp2Session) => Promise<void>): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  const server = http2.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => handler(req, res, Buffer.concat(parts).toString('utf8')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const serverPort = (server.address() as AddressInfo).port;
  const proxy = net.createServer((down) => {
    const up = net.connect(serverPort, '127.0.0.1');
    down.on('data', (d) => {
      chunks.push({ direction: 'write', data: new Uint8Array(d) });
      up.write(d);
    });
    up.on('data', (d) => {
      chunks.push({ direction: 'read', data: new Uint8Array(d) });
      down.write(d);
    });
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const client = http2.connect(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
  try {
    await run(client);
  } finally {
    client.close();
    await new Promise((r) => setTimeout(r, 20));
    proxy.close();
    server.close();
  }
  return chunks;
}

/** One request on a session: its status and body. */
export function h2request(client: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = client.request(headers);
    let status = 0;
    const parts: Buffer[] = [];
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve({ status, body: Buffer.concat(parts).toString('utf8') }));
    req.on('error', reject);
    req.end(body);
  });
}
