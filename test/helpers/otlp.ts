/**
 * An OTLP/HTTP receiver for tests (a collector's /v1/logs and /v1/traces),
 * and a check of what it receives against opentelemetry-proto's messages
 * in their protobuf JSON mapping: every field a known one of its message,
 * of its type (64-bit integers as decimal strings, ids as hex), so that a
 * misspelt field, which a real collector would silently drop, fails.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import assert from 'node:assert/strict';

export interface OtlpRequest {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

export interface OtlpReceiver {
  port: number;
  url: string;
  requests: OtlpRequest[];
  /** answers the next N requests with STATUS (a collector that is down or busy) */
  failNext(n: number, status: number): void;
  logRecords(): Array<{ resource: Record<string, unknown>; record: Record<string, unknown> }>;
  spans(): Array<{ resource: Record<string, unknown>; span: Record<string, unknown> }>;
  close(): Promise<void>;
}

type Obj = Record<string, unknown>;

function keysOnly(o: Obj, allowed: string[], where: string): void {
  for (const k of Object.keys(o)) assert.ok(allowed.includes(k), `${where}: unknown field ${k} (allowed: ${allowed.join(', ')})`);
}

const U64 = /^(0|[1-9][0-9]*)$/;

function anyValue(v: unknown, where: string): unknown {
  assert.ok(v && typeof v === 'object' && !Array.isArray(v), `${where}: an AnyValue object`);
  const o = v as Obj;
  const keys = Object.keys(o);
  assert.equal(keys.length, 1, `${where}: exactly one of stringValue, intValue, …: ${JSON.stringify(o)}`);
  const [k] = keys;
  switch (k) {
    case 'stringValue':
      assert.equal(typeof o.stringValue, 'string', where);
      return o.stringValue;
    case 'boolValue':
      assert.equal(typeof o.boolValue, 'boolean', where);
      return o.boolValue;
    case 'intValue':
      assert.match(String(o.intValue), /^-?(0|[1-9][0-9]*)$/, `${where}: intValue`);
      return Number(o.intValue);
    case 'doubleValue':
      assert.equal(typeof o.doubleValue, 'number', where);
      return o.doubleValue;
    case 'arrayValue': {
      const a = o.arrayValue as Obj;
      keysOnly(a, ['values'], `${where}.arrayValue`);
      assert.ok(Array.isArray(a.values), `${where}.arrayValue.values`);
      return (a.values as unknown[]).map((x, i) => anyValue(x, `${where}[${i}]`));
    }
    default:
      return assert.fail(`${where}: not an AnyValue field: ${k}`);
  }
}

/** KeyValue[] → a plain object (and checked). */
export function attributes(kvs: unknown, where: string): Record<string, unknown> {
  assert.ok(Array.isArray(kvs), `${where}: attributes are an array`);
  const out: Record<string, unknown> = {};
  kvs.forEach((kv: Obj, i) => {
    keysOnly(kv, ['key', 'value'], `${where}[${i}]`);
    assert.equal(typeof kv.key, 'string');
    assert.ok(!(kv.key as string in out), `${where}: ${kv.key} twice`);
    out[kv.key as string] = anyValue(kv.value, `${where}.${kv.key}`);
  });
  return out;
}

function scope(s: unknown, where: string): void {
  const o = s as Obj;
  keysOnly(o, ['name', 'version', 'attributes'], where);
  assert.equal(typeof o.name, 'string', `${where}.name`);
}

/** Checks an ExportLogsServiceRequest; returns its records with their resources. */
export function checkLogs(body: Obj): Array<{ resource: Obj; record: Obj }> {
  keysOnly(body, ['resourceLogs'], 'logs');
  const out: Array<{ resource: Obj; record: Obj }> = [];
  for (const [i, rl] of (body.resourceLogs as Obj[]).entries()) {
    keysOnly(rl, ['resource', 'scopeLogs', 'schemaUrl'], `resourceLogs[${i}]`);
    keysOnly(rl.resource as Obj, ['attributes', 'droppedAttributesCount'], `resourceLogs[${i}].resource`);
    const resource = attributes((rl.resource as Obj).attributes, `resourceLogs[${i}].resource.attributes`);
    for (const [j, sl] of (rl.scopeLogs as Obj[]).entries()) {
      const w = `resourceLogs[${i}].scopeLogs[${j}]`;
      keysOnly(sl, ['scope', 'logRecords', 'schemaUrl'], w);
      scope(sl.scope, `${w}.scope`);
      for (const [k, r] of (sl.logRecords as Obj[]).entries()) {
        const wr = `${w}.logRecords[${k}]`;
        keysOnly(r, ['timeUnixNano', 'observedTimeUnixNano', 'severityNumber', 'severityText', 'body', 'attributes', 'droppedAttributesCount', 'flags', 'traceId', 'spanId', 'eventName'], wr);
        assert.match(String(r.timeUnixNano), U64, `${wr}.timeUnixNano`);
        assert.ok(Number.isInteger(r.severityNumber) && (r.severityNumber as number) >= 1 && (r.severityNumber as number) <= 24, `${wr}.severityNumber`);
        if (r.traceId !== undefined) assert.match(String(r.traceId), /^[0-9a-f]{32}$/, `${wr}.traceId`);
        if (r.spanId !== undefined) assert.match(String(r.spanId), /^[0-9a-f]{16}$/, `${wr}.spanId`);
        const record: Obj = { ...r, body: anyValue(r.body, `${wr}.body`), attributes: attributes(r.attributes ?? [], `${wr}.attributes`) };
        out.push({ resource, record });
      }
    }
  }
  return out;
}

/** Checks an ExportTraceServiceRequest; returns its spans with their resources. */
export function checkTraces(body: Obj): Array<{ resource: Obj; span: Obj }> {
  keysOnly(body, ['resourceSpans'], 'traces');
  const out: Array<{ resource: Obj; span: Obj }> = [];
  for (const [i, rs] of (body.resourceSpans as Obj[]).entries()) {
    keysOnly(rs, ['resource', 'scopeSpans', 'schemaUrl'], `resourceSpans[${i}]`);
    const resource = attributes((rs.resource as Obj).attributes, `resourceSpans[${i}].resource.attributes`);
    for (const [j, ss] of (rs.scopeSpans as Obj[]).entries()) {
      const w = `resourceSpans[${i}].scopeSpans[${j}]`;
      keysOnly(ss, ['scope', 'spans', 'schemaUrl'], w);
      scope(ss.scope, `${w}.scope`);
      for (const [k, s] of (ss.spans as Obj[]).entries()) {
        const ws = `${w}.spans[${k}]`;
        keysOnly(s, ['traceId', 'spanId', 'traceState', 'parentSpanId', 'flags', 'name', 'kind', 'startTimeUnixNano', 'endTimeUnixNano', 'attributes', 'droppedAttributesCount', 'events', 'droppedEventsCount', 'links', 'droppedLinksCount', 'status'], ws);
        assert.match(String(s.traceId), /^[0-9a-f]{32}$/, `${ws}.traceId`);
        assert.notEqual(s.traceId, '0'.repeat(32));
        assert.match(String(s.spanId), /^[0-9a-f]{16}$/, `${ws}.spanId`);
        if (s.parentSpanId !== undefined) assert.match(String(s.parentSpanId), /^[0-9a-f]{16}$/, `${ws}.parentSpanId`);
        if (s.flags !== undefined) assert.ok(Number.isInteger(s.flags) && (s.flags as number) >= 0 && (s.flags as number) <= 0xffffffff, `${ws}.flags`);
        assert.ok(typeof s.name === 'string' && s.name.length > 0, `${ws}.name`);
        assert.ok(Number.isInteger(s.kind) && (s.kind as number) >= 0 && (s.kind as number) <= 5, `${ws}.kind`);
        assert.match(String(s.startTimeUnixNano), U64);
        assert.match(String(s.endTimeUnixNano), U64);
        assert.ok(BigInt(s.startTimeUnixNano as string) <= BigInt(s.endTimeUnixNano as string), `${ws}: starts before it ends`);
        const st = (s.status ?? {}) as Obj;
        keysOnly(st, ['code', 'message'], `${ws}.status`);
        assert.ok(st.code === undefined || [0, 1, 2].includes(st.code as number), `${ws}.status.code`);
        out.push({ resource, span: { ...s, attributes: attributes(s.attributes ?? [], `${ws}.attributes`) } });
      }
    }
  }
  return out;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: OtlpRequest[] = [];
  let failing = 0;
  let failStatus = 503;
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      if (failing > 0) {
        failing--;
        res.writeHead(failStatus).end();
        return;
      }
      if (req.method !== 'POST' || !['/v1/logs', '/v1/traces'].includes(req.url ?? '') || req.headers['content-type'] !== 'application/json') {
        res.writeHead(400).end();
        return;
      }
      let body: Obj;
      try {
        body = JSON.parse(Buffer.concat(parts).toString('utf8')) as Obj;
      } catch {
        res.writeHead(400).end();
        return;
      }
      requests.push({ path: req.url!, headers: req.headers, body });
      // an export that was taken whole: an empty partial success
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    failNext(n, status) {
      failing = n;
      failStatus = status;
    },
    logRecords: () => requests.filter((r) => r.path === '/v1/logs').flatMap((r) => checkLogs(r.body)),
    spans: () => requests.filter((r) => r.path === '/v1/traces').flatMap((r) => checkTraces(r.body)),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
