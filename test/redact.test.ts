import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTION_RULES, redactEdges, redactEvent, redactText, REDACTED } from '../engine/redact.js';
import type { BustedEvent } from '../engine/model/event.js';
import { prng } from './helpers/prng.js';

describe('redactText', () => {
  const cases: Array<[string, string]> = [
    ['curl -H Authorization: Bearer sk-abcdefghijklmnopqrstuvwx https://api.openai.com', `curl -H Authorization: Bearer ${REDACTED} https://api.openai.com`],
    ['authorization: Basic dXNlcjpwYXNz', `authorization: Basic ${REDACTED}`],
    // a value that starts with punctuation, and an AWS session token (both found by the HTTP/2 fuzzing)
    ['authorization: Bearer ,opaqueSECRETvalue', `authorization: Bearer ${REDACTED}`],
    ['X-Amz-Security-Token: IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ', `X-Amz-Security-Token: ${REDACTED}`],
    ['{"x-api-key": "sk-ant-api03-abcdefgh"}', `{"x-api-key": "${REDACTED}"}`],
    ['api-key: 0123456789abcdef', `api-key: ${REDACTED}`],
    // every pair of a Cookie header: the session need not be the first
    ['Cookie: theme=dark; session=SECRET123\r\nAccept: */*', `Cookie: ${REDACTED}\r\nAccept: */*`],
    ['{"cookie":"a=1; sid=SECRET"}', `{"cookie":"${REDACTED}"}`],
    ['mytool --api-key s3cr3t --model gpt-4o', `mytool --api-key ${REDACTED} --model gpt-4o`],
    ['mytool --token=abc123', `mytool --token=${REDACTED}`],
    ['OPENAI_API_KEY=sk-live-123 node app.js', `OPENAI_API_KEY=${REDACTED} node app.js`],
    ['https://generativelanguage.googleapis.com/v1/models?key=AIzaSyA-1234567890abcdefghijklmnopqrstu', `https://generativelanguage.googleapis.com/v1/models?key=${REDACTED}`],
    ['key is AIzaSyA-1234567890abcdefghijklmnopqrstu here', `key is ${REDACTED} here`],
    ['use sk-proj-abcdefghijklmnop1234 please', `use ${REDACTED} please`],
    // the distinctive prefixes glued to a word before them
    ['hellosk-proj-AbCdEf0123456789abcdefXYZ', `hello${REDACTED}`],
    ['key:xsk-ant-api03-abcdefghijklmnop0123"', `key:x${REDACTED}"`],
    ['aws AKIAIOSFODNN7EXAMPLE', `aws ${REDACTED}`],
    // Google and AWS keys glued to a word (found by the HTTP/2 fuzz, test/interpret/app-h2.test.ts)
    ['/v1beta/models3AIzaSyA0123456789abcdefghijklmnopqrstu:generateContent', `/v1beta/models3${REDACTED}:generateContent`],
    ['host AKIAIOSFODNN7EXAMPLQD.example', `host ${REDACTED}D.example`],
    ['xASIAIOSFODNN7EXAMPLE', `x${REDACTED}`],
    ['tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U x', `tok ${REDACTED} x`],
    ['-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----', REDACTED],
    // a key spelt with JSON escapes (a JSON parser reads "sk-proj-...") or URL escapes, and headers inside a JSON string
    ['{"k":"\\u0073k-proj-AbCdEf0123456789abcdefXYZ"}', `{"k":"${REDACTED}"}`],
    ['{"k":"sk\\u002dant\\u002dapi03-abcdefghijklmnop"}', `{"k":"${REDACTED}"}`],
    ['/v1/x/sk%2Dproj%2DAbCdEf0123456789abcdefXYZ', `/v1/x/${REDACTED}`],
    ['{"arguments":"{\\"headers\\":{\\"Authorization\\":\\"Bearer opaque.T0ken~value\\"}}"}', `{"arguments":"{\\"headers\\":{\\"Authorization\\":\\"Bearer ${REDACTED}\\"}}"}`],
    ['{\\"x-api-key\\": \\"0123456789abcdef\\"}', `{\\"x-api-key\\": \\"${REDACTED}\\"}`],
  ];
  for (const [input, want] of cases) {
    it(`redacts: ${input.slice(0, 50)}`, () => assert.equal(redactText(input), want));
  }
  it('leaves ordinary command lines alone', () => {
    for (const s of ['curl -s https://api.openai.com/v1/models', 'python3 -m http.server 8000', 'ls --color=auto', 'git log --oneline -n 5', 'sk-short', 'desk-organizer-deluxe', 'task-management-and-planning-guide']) {
      assert.equal(redactText(s), s);
    }
  });

  it('runs only the rules whose trigger it saw, with the result of running them all: 20,000 generated texts', () => {
    const all = (t: string): string => REDACTION_RULES.reduce((o, [re, rep]) => (typeof rep === 'string' ? o.replace(new RegExp(re.source, re.flags), rep) : o.replace(new RegExp(re.source, re.flags), rep)), t);
    const rnd = prng(11);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const parts = [
      'Authorization: Bearer ', 'AUTHORIZATION=', 'proxy-authorization: token ', 'x-api-key: ', 'X-Goog-Api-Key=', 'Set-Cookie: ', '--api-key ', '-token=', '--access_token ', '--passwd=',
      'OPENAI_API_KEY=', 'MY_TOKEN=', 'db_SECRET=', '?key=', '&access_token=', '&signature=', '?sig=', 'sk-ant-', 'sk-proj-', 'sk-', 'AIza', 'xai-', 'gsk_', 'hf_', 'nvapi-',
      'AKIA', 'ASIA', 'ghp_', 'gho_', 'eyJ', '-----BEGIN RSA PRIVATE KEY-----', '-----END RSA PRIVATE KEY-----', 'max_tokens', 'tokens=', 'monkey=', 'desk-',
      'abcdefghijklmnopqrstuvwxyz0123456789', 'ABCDEFGHIJKLMNOP', 'abc.def', '.', ' ', '"', "'", ';', ',', '\n', '=', ':', '-', '_', 'İ', 'é', '0123456789',
    ];
    for (let i = 0; i < 20_000; i++) {
      let t = '';
      const n = 1 + Math.floor(rnd() * 12);
      for (let k = 0; k < n; k++) t += rnd() < 0.2 ? pick(parts).toUpperCase() : rnd() < 0.2 ? pick(parts).toLowerCase() : pick(parts);
      assert.equal(redactText(t), all(t), JSON.stringify(t));
    }
  });

  it('takes time linear in the text: long runs made to backtrack end at once (a hang check, not a benchmark)', () => {
    // each took time quadratic in its length: "authorization:" before spaces (16 kB: 1 s), a run of
    // capitals holding TOKEN without "=" (rule 3), "eyJ-" repeated (the JWT rule); a prompt of a few
    // megabytes held the ring buffer's consumer for hours. Linear, each of these 256 kB texts takes
    // milliseconds; quadratic, minutes.
    const n = 1 << 18;
    const texts: Array<[string, string]> = [
      ['authorization: spaces', 'authorization:' + ' '.repeat(n)],
      ['authorization: bearer spaces', 'Authorization: Bearer' + '\t'.repeat(n)],
      ['x-api-key spaces', 'x-api-key:' + ' '.repeat(n)],
      ['cookie spaces', 'Cookie:' + ' '.repeat(n) + '"'],
      ['TOKEN run', 'TOKEN'.repeat(n / 5)],
      ['API_KEY run', 'API_KEY'.repeat(n / 7)],
      ['eyJ- run', 'eyJ-'.repeat(n / 4)],
      ['eyJ part runs', 'eyJaaaaaaaaaaaa.'.repeat(n / 16)],
      ['--token spaces', '--token' + ' '.repeat(n) + '-'],
      ['sk- run', 'sk-'.repeat(n / 3)],
      // literals inside words, where the rule's word start fails (rules tried where their literal is: redact.ts STARTS)
      ['xsk- run', 'xsk-'.repeat(n / 4)],
      ['aeyJ run', 'aeyJ'.repeat(n / 4)],
      ['xauthorization: run', 'xauthorization:'.repeat(n / 15)],
      ['ghp_ inside words', 'aghp_'.repeat(n / 5)],
      ['BEGIN run', '-----BEGIN ' + 'A '.repeat(n / 2)],
      ['escapes', '\\u0041%41'.repeat(n / 9)],
    ];
    for (const [what, t] of texts) {
      const t0 = performance.now();
      redactText(t);
      const ms = performance.now() - t0;
      assert.ok(ms < 2000, `${what}: ${Math.round(ms)} ms for ${t.length} characters`);
    }
  });

  it('no key of any format survives, whatever stands around it and however it is escaped: 20,000 generated texts', () => {
    const rnd = prng(0x5ec7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const run = (alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
    const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    // [the text the key is written as, the part that must not survive]
    const keys: Array<() => [string, string]> = [
      () => { const k = 'sk-' + run(ALNUM + '_-', 20 + Math.floor(rnd() * 40)); return [k, k]; },
      () => { const k = 'sk-proj-' + run(ALNUM + '_-', 16 + Math.floor(rnd() * 60)); return [k, k]; },
      () => { const k = 'sk-ant-api03-' + run(ALNUM + '_-', 8 + Math.floor(rnd() * 60)); return [k, k]; },
      () => { const k = pick(['AKIA', 'ASIA']) + run('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16); return [k, k]; },
      () => { const k = pick(['ghp_', 'gho_', 'ghs_']) + run(ALNUM, 36); return [k, k]; },
      () => { const k = 'AIza' + run(ALNUM + '_-', 35); return [k, k]; },
      () => { const k = `eyJ${run(ALNUM, 20)}.eyJ${run(ALNUM, 30)}.${run(ALNUM + '_-', 43)}`; return [k, k]; },
      () => { const t = run(ALNUM + '._~+/=-', 20 + Math.floor(rnd() * 30)); return [`${pick(['Authorization', 'authorization', 'AUTHORIZATION', 'Proxy-Authorization'])}: ${pick(['Bearer', 'bearer', 'Basic', 'token'])} ${t}`, t]; },
      () => { const t = run(ALNUM + '._~+/=-', 20 + Math.floor(rnd() * 30)); return [`"authorization":"Bearer ${t}"`, t]; },
      () => { const t = run(ALNUM + '._~+/=-', 20 + Math.floor(rnd() * 30)); return [`\\"Authorization\\":\\"Bearer ${t}\\"`, t]; },
      () => { const t = run(ALNUM + '_-', 20 + Math.floor(rnd() * 30)); return [`${pick(['x-api-key', 'X-Api-Key', 'api-key', 'x-goog-api-key'])}: ${t}`, t]; },
      () => { const t = run(ALNUM + '_-', 20 + Math.floor(rnd() * 30)); return [`{"x-api-key": "${t}"}`, t]; },
    ];
    // neighbours that are no part of a key: ASCII punctuation and space, letters outside ASCII, JSON and line syntax
    const around = ['', ' ', '\n', '\r\n', '\t', '"', "'", ':', '=', ',', ';', '(', ')', '[', '{"k":"', '"}', 'é', 'ß', '日本語', '😀', 'Ω', '\u00a0', '\u2028', '“', '”', 'key: ', 'token=', '?a=1&b='];
    // a bare sk- glued to a word before it is left alone by design ("task-management-..."): fillers end in no word character, but
    // JSON's \n and \t, which end a word in a captured body
    const filler = ['hello ', 'the model said ', '{"role":"user","content":"', 'max_tokens ', ' task-management ', 'é', '\\n', '\\t', '\\"', '%20'];
    /** a key with some of its characters written as JSON or URL escapes */
    const escaped = (k: string) => k.replace(/[A-Za-z0-9_-]/g, (c) => (rnd() < 0.15 ? (rnd() < 0.5 ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : `%${c.charCodeAt(0).toString(16).toUpperCase()}`) : c));
    const spell = (t: string) => t.replace(/\\u00([0-9a-fA-F]{2})|%([0-9a-fA-F]{2})/g, (_m, u?: string, p?: string) => String.fromCharCode(parseInt(u ?? p!, 16)));
    for (let i = 0; i < 20_000; i++) {
      const [written, secret] = pick(keys)();
      const form = rnd() < 0.2 ? escaped(written) : written;
      let t = '';
      for (let k = Math.floor(rnd() * 3); k > 0; k--) t += pick(filler);
      t += pick(around) + form + pick(around);
      for (let k = Math.floor(rnd() * 3); k > 0; k--) t += pick(filler);
      const out = redactText(t);
      assert.ok(!out.includes(secret) && !spell(out).includes(secret), `case ${i}: ${JSON.stringify(t)} -> ${JSON.stringify(out)}`);
    }
  });
});

describe('redactEvent (the late redaction, after a policy decided)', () => {
  it('covers every field the interpreter redacts: a key in any text of an event is gone', () => {
    const key = 'sk-proj-AbCdEf0123456789abcdefXYZ';
    const e: BustedEvent = {
      id: 'x', time: 't', type: 'llm_request',
      tls: { payload: `data ${key}` },
      http: { method: key, path: `/v1/${key}`, host: `api.openai.com${key}`, content_type: `application/json; ${key}` },
      llm: { endpoint: `/openai/deployments/${key}/chat/completions`, model: key, user_message: key, system_prompt: key, tools: [key, { other: 1 }], tool_calls: [key] },
      mcp: { kind: 'request', method: key, id: key, tool: `file:///x?token=abc&k=${key}` },
      error: { code: 'E', message: `bad ${key}` },
    };
    redactEvent(e);
    assert.ok(!JSON.stringify(e).includes(key), JSON.stringify(e));
    assert.deepEqual(e.llm?.tools, [REDACTED, { other: 1 }]);
    assert.equal(e.mcp?.tool, `file:///x?token=${REDACTED}&k=${REDACTED}`);
  });
});

describe('redactEdges (a key cut by the edge of a TLS call or of its excerpt)', () => {
  /** the longest run of KEY found in S */
  const longestPart = (s: string, key: string): number => {
    let best = 0;
    for (let i = 0; i < key.length; i++) for (let j = i + best + 1; j <= key.length && s.includes(key.slice(i, j)); j++) best = j - i;
    return best;
  };

  it('no call of a key split in two shows 12 of its characters, wherever the split falls', () => {
    const rnd = prng(0xed9e);
    const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const body = (n: number) => Array.from({ length: n }, (_, i) => (i % 7 === 3 ? String(Math.floor(rnd() * 10)) : alnum[Math.floor(rnd() * alnum.length)]!)).join('');
    const keys = [`sk-proj-${body(40)}`, `sk-ant-api03-${body(60)}`, `AKIA${body(16).toUpperCase()}`, `ghp_${body(36)}`, `AIza${body(35)}`, `sk-${body(32)}`];
    for (const key of keys) {
      for (let k = 1; k < key.length; k++) {
        const before = `{"messages":[{"role":"user","content":"deploy with ${key.slice(0, k)}`;
        const after = `${key.slice(k)} tonight"}]}`;
        for (const part of [redactEdges(redactText(before)), redactEdges(redactText(after))]) {
          assert.ok(longestPart(part, key) < 12, `${key} split at ${k}: ${part}`);
        }
      }
    }
  });

  it('leaves the edges of ordinary calls alone', () => {
    for (const s of [
      'POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n\r\n',
      '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Summarise the attached report"}]}',
      'Summarisation of the quarterly report follows: revenue grew',
      'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"id":"chatcmpl-1"}',
      'data: {"choices":[{"delta":{"content":"the task"}}]}\n\n',
      'an ordinary sentence that ends with a word like desk',
    ]) {
      assert.equal(redactEdges(s), s);
    }
  });
});
