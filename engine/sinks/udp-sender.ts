/**
 * The syslog UDP sender, on a worker thread. Node sends one datagram per
 * call (no sendmmsg), several microseconds each; done on the agent's thread
 * that was most of what syslog over UDP cost it. The agent packs each turn's
 * messages into one buffer and transfers it here; this thread sends them and
 * reports what went out.
 */
import { createSocket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';

export interface UdpSenderData {
  address: string;
  port: number;
  family: 4 | 6;
}

/** One turn's datagrams: the bytes, back to back, and their lengths. */
export interface UdpPack {
  data: ArrayBuffer;
  lens: Uint32Array;
}

export interface UdpReport {
  sent: number;
  failed: number;
  error?: string;
}

const cfg = workerData as UdpSenderData;
const port = parentPort!;
const sock = createSocket(cfg.family === 6 ? 'udp6' : 'udp4');
let pending = 0;
let sent = 0;
let failed = 0;
let error: string | undefined;
let closing = false;

sock.on('error', (e) => (error = e.message));

function report(): void {
  if (!sent && !failed) return;
  const r: UdpReport = { sent, failed, ...(error ? { error } : {}) };
  sent = 0;
  failed = 0;
  error = undefined;
  port.postMessage(r);
}

function done(err: Error | null): void {
  pending--;
  if (err) {
    failed++;
    error = err.message;
  } else sent++;
  if (pending === 0) {
    report();
    if (closing) finish();
  }
}

function finish(): void {
  sock.close();
  port.close();
}

port.on('message', (m: UdpPack | 'close') => {
  if (m === 'close') {
    closing = true;
    if (pending === 0) {
      report();
      finish();
    }
    return;
  }
  let off = 0;
  for (const len of m.lens) {
    pending++;
    sock.send(new Uint8Array(m.data, off, len), cfg.port, cfg.address, done);
    off += len;
  }
});
