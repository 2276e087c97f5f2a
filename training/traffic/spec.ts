/**
 * The traffic kinds the classifier is trained and judged on, as data: for
 * each kind, how a session of it is drawn from a seeded PRNG — how many
 * connections and requests, their sizes, and how the server answers each
 * request (sent to the server in the request's `x-gen` header, so the
 * server needs no state). LLM-like kinds stream tokens at a model's pace or
 * answer JSON after the model's think time; the others are the many kinds
 * of traffic an LLM stream must not be confused with.
 *
 * Kinds marked `heldOut` are never seen in training: the held-out report
 * says how the model does on traffic unlike anything it learnt from.
 */
import { prng } from '../../test/helpers/prng.js';

/** How the server answers one request. */
export type Behaviour =
  | {
      /** a body of `bytes`, after `head` ms, sent at `rate` bytes/s (0: at once) in `chunk`-byte writes */
      shape: 'body';
      head: number;
      bytes: number;
      rate: number;
      chunk: number;
      type: string;
    }
  | {
      /** headers after `head` ms, the first event `first` ms later, then `events` events `cadence` ms apart (± jitter, with stalls) */
      shape: 'paced';
      head: number;
      first: number;
      events: number;
      cadence: number;
      jitter: number;
      /** event sizes, bytes */
      size: [number, number];
      /** chance of a stall (a pause of 150–900 ms) before an event */
      stall: number;
      /** small keep-alive events every `ping` ms while waiting for the first (0: none) */
      ping: number;
      type: string;
      /** 'sse': `data: {...}\n\n` events; 'ndjson': JSON lines; 'bin': opaque bytes */
      format: 'sse' | 'ndjson' | 'bin';
      seed: number;
    };

export interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  /** request body bytes */
  body: number;
  gen: Behaviour;
}

/** A WebSocket session: the client's messages and the server's pushes. */
export interface WsSpec {
  durationMs: number;
  /** client message every think ms, of size bytes; the server answers after reply ms with answer bytes */
  client: { think: [number, number]; size: [number, number]; reply: [number, number]; answer: [number, number] } | null;
  /** the server pushes a message every cadence ms (± jitter) */
  push: { cadence: number; jitter: number; size: [number, number] } | null;
  seed: number;
}

export interface ConnSpec {
  requests: RequestSpec[];
  /** pause before each request after the first, ms */
  think: number[];
}

export type ClientKind = 'node' | 'python' | 'curl';

export interface SessionSpec {
  id: string;
  kind: string;
  label: 0 | 1;
  client: ClientKind;
  host: string;
  port: number;
  tls: boolean;
  h2: boolean;
  conns: ConnSpec[];
  /** pause before each connection after the first, ms */
  connGap: number[];
  ws?: WsSpec;
}

export interface KindSpec {
  name: string;
  label: 0 | 1;
  heldOut: boolean;
  /** the endpoints it is served on: TLS or not, HTTP/2 offered or not, the port */
  endpoints: Array<{ tls: boolean; h2: boolean; port: number; weight: number }>;
  ws?: boolean;
  /** which clients can play it */
  clients: ClientKind[];
  draw(r: Rng): { conns: ConnSpec[]; connGap: number[]; ws?: WsSpec };
}

// ---- randomness -------------------------------------------------------------

export interface Rng {
  (): number;
}

/** mulberry32, the tests' seeded PRNG: the same seed gives the same traffic */
export { prng };

export const uni = (r: Rng, lo: number, hi: number): number => lo + (hi - lo) * r();
/** log-uniform: as many small as large orders of magnitude */
export const logUni = (r: Rng, lo: number, hi: number): number => Math.exp(uni(r, Math.log(lo), Math.log(hi)));
export const int = (r: Rng, lo: number, hi: number): number => Math.floor(uni(r, lo, hi + 1));
export const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const round = Math.round;
const seedOf = (r: Rng): number => Math.floor(r() * 2 ** 31);

// ---- building blocks -----------------------------------------------------------

function streamLlm(r: Rng, o: { first: [number, number]; events: [number, number]; cadence: [number, number]; size: [number, number]; format?: 'sse' | 'ndjson'; ping?: number }): Behaviour {
  const first = round(logUni(r, ...o.first));
  // Some APIs send their headers at once, some only with the first token.
  const early = r() < 0.5;
  return {
    shape: 'paced',
    head: early ? round(uni(r, 20, Math.min(300, first))) : first,
    first: early ? first : 0,
    events: round(logUni(r, ...o.events)),
    cadence: round(logUni(r, ...o.cadence) * 10) / 10,
    jitter: round(uni(r, 0.15, 0.8) * 100) / 100,
    size: o.size,
    stall: r() < 0.5 ? 0 : 0.03,
    ping: o.ping ?? 0,
    type: o.format === 'ndjson' ? 'application/x-ndjson' : 'text/event-stream',
    format: o.format ?? 'sse',
    seed: seedOf(r),
  };
}

function body(r: Rng, o: { head: [number, number]; bytes: [number, number]; rate?: [number, number]; type?: string }): Behaviour {
  return {
    shape: 'body',
    head: round(logUni(r, ...o.head)),
    bytes: round(logUni(r, ...o.bytes)),
    rate: o.rate ? round(logUni(r, ...o.rate)) : 0,
    chunk: pick(r, [16384, 32768, 65536]),
    type: o.type ?? 'application/json',
  };
}

function paced(r: Rng, o: { head: [number, number]; first: [number, number]; events: [number, number]; cadence: [number, number]; jitter: [number, number]; size: [number, number]; type: string; format: 'sse' | 'bin' }): Behaviour {
  return {
    shape: 'paced',
    head: round(logUni(r, ...o.head)),
    first: round(uni(r, ...o.first)),
    events: int(r, ...o.events),
    cadence: round(logUni(r, ...o.cadence)),
    jitter: uni(r, ...o.jitter),
    size: o.size,
    stall: 0,
    ping: 0,
    type: o.type,
    format: o.format,
    seed: seedOf(r),
  };
}

const post = (path: string, bytes: number, gen: Behaviour): RequestSpec => ({ method: 'POST', path, body: round(bytes), gen });
const get = (path: string, gen: Behaviour): RequestSpec => ({ method: 'GET', path, body: 0, gen });
const thinks = (r: Rng, n: number, lo: number, hi: number): number[] => Array.from({ length: Math.max(0, n - 1) }, () => round(logUni(r, lo, hi)));

const TLS443 = { tls: true, h2: false, port: 443, weight: 3 };
const tlsAlt = (port: number) => ({ tls: true, h2: false, port, weight: 1 });
const plain = (port: number, weight = 1) => ({ tls: false, h2: false, port, weight });
const ALL_CLIENTS: ClientKind[] = ['node', 'python', 'curl'];

// ---- the kinds --------------------------------------------------------------------

export const KINDS: readonly KindSpec[] = [
  // ---- LLM-like, seen in training
  {
    name: 'sse_chat',
    label: 1,
    heldOut: false,
    endpoints: [TLS443, tlsAlt(8443), plain(8000)],
    clients: ALL_CLIENTS,
    draw(r) {
      const n = r() < 0.6 ? 1 : int(r, 2, 4);
      const requests = Array.from({ length: n }, () =>
        post('/v1/chat/completions', logUni(r, 300, 12000), streamLlm(r, { first: [120, 2500], events: [12, 500], cadence: [12, 90], size: [90, 260] })),
      );
      return { conns: [{ requests, think: thinks(r, n, 800, 15000) }], connGap: [] };
    },
  },
  {
    name: 'json_completion',
    label: 1,
    heldOut: false,
    endpoints: [TLS443, tlsAlt(8443), plain(8000)],
    clients: ALL_CLIENTS,
    draw(r) {
      const nConns = r() < 0.7 ? 1 : int(r, 2, 3);
      const conns = Array.from({ length: nConns }, () => {
        const n = r() < 0.6 ? 1 : int(r, 2, 4);
        const requests = Array.from({ length: n }, () => post('/v1/chat/completions', logUni(r, 300, 20000), body(r, { head: [400, 12000], bytes: [250, 5000] })));
        return { requests, think: thinks(r, n, 500, 10000) };
      });
      return { conns, connGap: thinks(r, nConns, 500, 8000) };
    },
  },
  {
    name: 'agent_loop',
    label: 1,
    heldOut: false,
    endpoints: [TLS443, tlsAlt(8443), plain(8000)],
    clients: ['node', 'python'],
    draw(r) {
      const n = int(r, 3, 10);
      let prompt = logUni(r, 1000, 4000);
      const requests: RequestSpec[] = [];
      for (let i = 0; i < n; i++) {
        const gen = r() < 0.5 ? streamLlm(r, { first: [150, 2000], events: [8, 120], cadence: [10, 70], size: [90, 300] }) : body(r, { head: [300, 6000], bytes: [200, 3000] });
        requests.push(post('/v1/chat/completions', prompt, gen));
        prompt += logUni(r, 400, 4000); // the conversation grows by each answer and tool result
      }
      return { conns: [{ requests, think: thinks(r, n, 40, 2500) }], connGap: [] };
    },
  },
  // ---- LLM-like, held out (never seen in training)
  {
    name: 'ndjson_local',
    label: 1,
    heldOut: true,
    endpoints: [plain(11434, 3), tlsAlt(443)],
    clients: ALL_CLIENTS,
    draw(r) {
      const n = r() < 0.7 ? 1 : int(r, 2, 3);
      const requests = Array.from({ length: n }, () => post('/api/chat', logUni(r, 200, 4000), streamLlm(r, { first: [40, 900], events: [20, 400], cadence: [8, 45], size: [70, 160], format: 'ndjson' })));
      return { conns: [{ requests, think: thinks(r, n, 500, 8000) }], connGap: [] };
    },
  },
  {
    name: 'sse_h2',
    label: 1,
    heldOut: true,
    endpoints: [{ tls: true, h2: true, port: 443, weight: 1 }],
    clients: ['node'],
    draw(r) {
      const n = r() < 0.6 ? 1 : int(r, 2, 4);
      const requests = Array.from({ length: n }, () => post('/v1/messages', logUni(r, 400, 15000), streamLlm(r, { first: [150, 2500], events: [15, 500], cadence: [12, 80], size: [120, 420] })));
      return { conns: [{ requests, think: thinks(r, n, 800, 12000) }], connGap: [] };
    },
  },
  {
    name: 'reasoning_stream',
    label: 1,
    heldOut: true,
    endpoints: [TLS443, plain(8000)],
    clients: ALL_CLIENTS,
    draw(r) {
      const requests = [post('/v1/responses', logUni(r, 500, 15000), streamLlm(r, { first: [2500, 15000], events: [40, 700], cadence: [8, 40], size: [90, 260], ping: r() < 0.5 ? 0 : round(uni(r, 1500, 5000)) }))];
      return { conns: [{ requests, think: [] }], connGap: [] };
    },
  },

  // ---- other traffic, seen in training
  {
    name: 'download',
    label: 0,
    heldOut: false,
    endpoints: [TLS443, plain(80), tlsAlt(8443)],
    clients: ALL_CLIENTS,
    draw(r) {
      return { conns: [{ requests: [get('/files/blob.bin', body(r, { head: [3, 250], bytes: [100e3, 60e6], rate: [1e6, 60e6], type: 'application/octet-stream' }))], think: [] }], connGap: [] };
    },
  },
  {
    name: 'rest_api',
    label: 0,
    heldOut: false,
    endpoints: [TLS443, plain(8080), tlsAlt(9443)],
    clients: ALL_CLIENTS,
    draw(r) {
      const nConns = int(r, 1, 3);
      const conns = Array.from({ length: nConns }, () => {
        const n = int(r, 1, 15);
        const requests = Array.from({ length: n }, () =>
          r() < 0.6 ? get(`/api/v2/items/${int(r, 1, 9999)}`, body(r, { head: [3, 400], bytes: [100, 30000] })) : post('/api/v2/items', logUni(r, 50, 3000), body(r, { head: [5, 500], bytes: [60, 4000] })),
        );
        return { requests, think: thinks(r, n, 15, 5000) };
      });
      return { conns, connGap: thinks(r, nConns, 100, 5000) };
    },
  },
  {
    name: 'package_fetch',
    label: 0,
    heldOut: false,
    endpoints: [TLS443, plain(80)],
    clients: ['node', 'python'],
    draw(r) {
      const n = int(r, 5, 50);
      const requests = Array.from({ length: n }, (_, i) => get(`/pkg/p${i}.tgz`, body(r, { head: [2, 120], bytes: [2000, 3e6], rate: [5e6, 100e6], type: 'application/octet-stream' })));
      return { conns: [{ requests, think: thinks(r, n, 1, 30) }], connGap: [] };
    },
  },
  {
    name: 'video_segments',
    label: 0,
    heldOut: false,
    endpoints: [TLS443, plain(80)],
    clients: ['node', 'python'],
    draw(r) {
      const n = int(r, 5, 16);
      const bytes = logUni(r, 200e3, 3e6);
      const requests = Array.from({ length: n }, (_, i) => get(`/hls/seg${i}.ts`, body(r, { head: [5, 150], bytes: [bytes * 0.7, bytes * 1.3], rate: [2e6, 30e6], type: 'video/mp2t' })));
      return { conns: [{ requests, think: thinks(r, n, 500, 4000) }], connGap: [] };
    },
  },
  {
    name: 'websocket_chat',
    label: 0,
    heldOut: false,
    endpoints: [TLS443, plain(8080)],
    ws: true,
    clients: ['node'],
    draw(r) {
      return {
        conns: [],
        connGap: [],
        ws: {
          durationMs: round(uni(r, 5000, 35000)),
          client: { think: [500, 8000], size: [30, 800], reply: [20, 300], answer: [50, 2000] },
          push: r() < 0.7 ? { cadence: round(logUni(r, 1000, 10000)), jitter: 0.5, size: [20, 300] } : null,
          seed: seedOf(r),
        },
      };
    },
  },
  {
    name: 'idle_keepalive',
    label: 0,
    heldOut: false,
    endpoints: [TLS443, plain(8080)],
    clients: ['node', 'python'],
    draw(r) {
      const n = int(r, 2, 6);
      const requests = Array.from({ length: n }, () => get('/health', body(r, { head: [2, 80], bytes: [40, 500] })));
      return { conns: [{ requests, think: thinks(r, n, 2500, 15000) }], connGap: [] };
    },
  },
  {
    name: 'upload',
    label: 0,
    heldOut: false,
    endpoints: [TLS443, plain(80)],
    clients: ALL_CLIENTS,
    draw(r) {
      const n = r() < 0.7 ? 1 : int(r, 2, 3);
      const requests = Array.from({ length: n }, () => post('/upload', logUni(r, 200e3, 30e6), body(r, { head: [10, 300], bytes: [80, 800] })));
      return { conns: [{ requests, think: thinks(r, n, 100, 3000) }], connGap: [] };
    },
  },
  {
    name: 'rpc_api',
    label: 0,
    heldOut: false,
    endpoints: [TLS443, plain(8080), tlsAlt(9443)],
    clients: ALL_CLIENTS,
    draw(r) {
      // JSON-RPC and service APIs: requests as large as prompts, answers from slow backends
      const n = r() < 0.5 ? 1 : int(r, 2, 10);
      const requests = Array.from({ length: n }, () => post('/rpc', logUni(r, 300, 10000), body(r, { head: [5, 2500], bytes: [100, 60000] })));
      return { conns: [{ requests, think: thinks(r, n, 20, 4000) }], connGap: [] };
    },
  },
  // ---- other traffic, held out
  {
    name: 'graphql',
    label: 0,
    heldOut: true,
    endpoints: [TLS443, { tls: true, h2: true, port: 8443, weight: 1 }],
    clients: ALL_CLIENTS,
    draw(r) {
      const n = r() < 0.4 ? 1 : int(r, 2, 8);
      const requests = Array.from({ length: n }, () => post('/graphql', logUni(r, 500, 8000), body(r, { head: [20, 3000], bytes: [1000, 100000] })));
      return { conns: [{ requests, think: thinks(r, n, 50, 6000) }], connGap: [] };
    },
  },
  {
    name: 'telemetry_batch',
    label: 0,
    heldOut: true,
    endpoints: [TLS443, plain(4318)],
    clients: ['node', 'python'],
    draw(r) {
      // an OTLP/log shipper: a batch every few seconds, acknowledged at once
      const n = int(r, 3, 12);
      const requests = Array.from({ length: n }, () => post('/v1/logs', logUni(r, 2000, 50000), body(r, { head: [2, 60], bytes: [2, 200] })));
      return { conns: [{ requests, think: thinks(r, n, 1000, 10000) }], connGap: [] };
    },
  },
  {
    name: 'websocket_ticker',
    label: 0,
    heldOut: true,
    endpoints: [TLS443, plain(8080)],
    ws: true,
    clients: ['node'],
    draw(r) {
      return {
        conns: [],
        connGap: [],
        ws: { durationMs: round(uni(r, 5000, 30000)), client: null, push: { cadence: round(logUni(r, 100, 1000)), jitter: uni(r, 0.1, 0.5), size: [40, 400] }, seed: seedOf(r) },
      };
    },
  },
  {
    name: 'sse_notifications',
    label: 0,
    heldOut: true,
    endpoints: [TLS443, plain(8080)],
    clients: ALL_CLIENTS,
    draw(r) {
      const requests = [get('/events', paced(r, { head: [5, 100], first: [0, 2000], events: [4, 20], cadence: [500, 6000], jitter: [0.2, 0.9], size: [50, 600], type: 'text/event-stream', format: 'sse' }))];
      return { conns: [{ requests, think: [] }], connGap: [] };
    },
  },
  {
    name: 'long_poll',
    label: 0,
    heldOut: true,
    endpoints: [TLS443, plain(8080)],
    clients: ['node', 'python'],
    draw(r) {
      const n = int(r, 1, 4);
      const requests = Array.from({ length: n }, () => get(`/poll?cursor=${int(r, 1, 1e6)}`, body(r, { head: [2000, 25000], bytes: [30, 800] })));
      return { conns: [{ requests, think: thinks(r, n, 5, 200) }], connGap: [] };
    },
  },
  {
    name: 'progressive_video',
    label: 0,
    heldOut: true,
    endpoints: [TLS443, plain(80)],
    clients: ALL_CLIENTS,
    draw(r) {
      const requests = [get('/movie.mp4', paced(r, { head: [10, 200], first: [0, 50], events: [8, 30], cadence: [300, 2000], jitter: [0.1, 0.4], size: [64e3, 512e3], type: 'video/mp4', format: 'bin' }))];
      return { conns: [{ requests, think: [] }], connGap: [] };
    },
  },
];

export interface Endpoint {
  kind: string;
  label: 0 | 1;
  host: string;
  ip: string;
  port: number;
  tls: boolean;
  h2: boolean;
  ws: boolean;
}

/** Each kind's endpoints: its own loopback address (127.77.K.1) and host name, so a connection's destination tells its kind. */
export function endpoints(): Endpoint[] {
  const out: Endpoint[] = [];
  KINDS.forEach((k, i) => {
    for (const e of k.endpoints) {
      out.push({ kind: k.name, label: k.label, host: `svc${i + 1}.traffic.test`, ip: `127.77.${i + 1}.1`, port: e.port, tls: e.tls, h2: e.h2, ws: k.ws === true });
    }
  });
  return out;
}

/** `count` sessions of a kind, drawn from `seed`. */
export function sessions(kind: KindSpec, count: number, seed: number): SessionSpec[] {
  const r = prng(seed);
  const eps = endpoints().filter((e) => e.kind === kind.name);
  const weights = kind.endpoints.map((e) => e.weight);
  const total = weights.reduce((a, b) => a + b, 0);
  return Array.from({ length: count }, (_, i) => {
    let x = r() * total;
    let ei = 0;
    while (x >= weights[ei]! && ei < weights.length - 1) x -= weights[ei++]!;
    const ep = eps[ei]!;
    const d = kind.draw(r);
    const single = d.conns.length === 1 && d.conns[0]!.requests.length === 1;
    // curl plays single requests; h2 and WebSocket sessions are node's
    const clients = kind.clients.filter((c) => c !== 'curl' || single);
    const client = ep.h2 || kind.ws ? 'node' : pick(r, clients);
    return { id: `${kind.name}-${seed}-${i}`, kind: kind.name, label: kind.label, client, host: ep.host, port: ep.port, tls: ep.tls, h2: ep.h2, ...d };
  });
}
