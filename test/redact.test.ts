import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTION_RULES, redactText, REDACTED } from '../engine/redact.js';
import { prng } from './helpers/prng.js';

describe('redactText', () => {
  const cases: Array<[string, string]> = [
    ['curl -H Authorization: Bearer sk-abcdefghijklmnopqrstuvwx https://api.openai.com', `curl -H Authorization: Bearer ${REDACTED} https://api.openai.com`],
    ['authorization: Basic dXNlcjpwYXNz', `authorization: Basic ${REDACTED}`],
    ['{"x-api-key": "sk-ant-api03-abcdefgh"}', `{"x-api-key": "${REDACTED}"}`],
    ['api-key: 0123456789abcdef', `api-key: ${REDACTED}`],
    ['Cookie: session=abc; other=1', `Cookie: ${REDACTED}; other=1`],
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
    const all = (t: string): string => REDACTION_RULES.reduce((o, [re, rep]) => o.replace(new RegExp(re.source, re.flags), rep), t);
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
});
