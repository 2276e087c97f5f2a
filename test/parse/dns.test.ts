import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import dnsPacket from 'dns-packet';

import {
  canonicalIp,
  clearDnsNameCache,
  dnsTypeName,
  formatIPv6,
  parseDns,
  svcbHintAddresses,
  type ParsedDns,
} from '../../engine/parse/dns.js';
import { ErrorCode, ParseError } from '../../engine/model/errors.js';
import type { DnsInfo } from '../../engine/model/event.js';
import { prng } from '../helpers/prng.js';

/** test/fixtures/dns, from dist/test/parse/ where this runs */
const FIXTURES = new URL('../../../test/fixtures/dns/', import.meta.url);

function fixture(name: string): Buffer {
  return readFileSync(new URL(name, FIXTURES));
}

function isMalformed(e: unknown): boolean {
  return e instanceof ParseError && e.code === ErrorCode.DNS_MALFORMED && Number.isInteger(e.offset);
}

function assertMalformed(bytes: Uint8Array, tcp = false, note = ''): ParseError {
  let caught: unknown;
  try {
    parseDns(bytes, tcp);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `no error for ${note} ${Buffer.from(bytes).toString('hex')}`);
  assert.ok(isMalformed(caught), `not a DNS_MALFORMED ParseError for ${note}: ${String(caught)}`);
  return caught as ParseError;
}


// ---- hand-built messages ----
const u16 = (n: number): number[] => [n >> 8, n & 0xff];
const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
function wireName(name: string): number[] {
  const out: number[] = [];
  for (const l of name.split('.')) {
    if (l === '') continue;
    out.push(l.length, ...Buffer.from(l, 'latin1'));
  }
  out.push(0);
  return out;
}
function header(id: number, flags: number, qd: number, an: number, ns = 0, ar = 0): number[] {
  return [...u16(id), ...u16(flags), ...u16(qd), ...u16(an), ...u16(ns), ...u16(ar)];
}
/** an RR with the given owner bytes, type, TTL and RDATA */
function rr(owner: number[], type: number, ttl: number, rdata: number[]): number[] {
  return [...owner, ...u16(type), ...u16(1), ...u32(ttl), ...u16(rdata.length), ...rdata];
}
const QUESTION_AT = [0xc0, 0x0c]; // pointer to the question name at offset 12

/** A response to "example.test A" with the given answer records */
function response(answers: number[][], qname = 'example.test', qtype = 1): Buffer {
  return Buffer.from([...header(0x4242, 0x8180, 1, answers.length), ...wireName(qname), ...u16(qtype), ...u16(1), ...answers.flat()]);
}

// ---- the captured fixtures ----

const Q = (name: string, type: string) => [{ name, type }];

/** [fixture, tcp, expected] for every response captured from dnsmasq (see the fixtures README) */
const RESPONSES: ReadonlyArray<readonly [string, boolean, DnsInfo]> = [
  [
    'a.response.bin',
    false,
    {
      id: 0xa001,
      // asked as "Api.OpenAI.com": dnsmasq echoes the case, we lower it
      questions: Q('api.openai.com', 'A'),
      rcode: 'NOERROR',
      answers: [{ name: 'api.openai.com', type: 'A', value: '127.0.0.1', ttl: 300 }],
    },
  ],
  [
    'aaaa.response.bin',
    false,
    {
      id: 0xa002,
      questions: Q('api.openai.com', 'AAAA'),
      rcode: 'NOERROR',
      answers: [{ name: 'api.openai.com', type: 'AAAA', value: '::1', ttl: 300 }],
    },
  ],
  [
    'cname-chain.response.bin',
    false,
    {
      id: 0xa003,
      questions: Q('api.anthropic.com', 'A'),
      rcode: 'NOERROR',
      answers: [
        { name: 'api.anthropic.com', type: 'CNAME', value: 'anthropic.edge.example.net', ttl: 300 },
        { name: 'anthropic.edge.example.net', type: 'CNAME', value: 'api.anthropic.com.cdn.cloudflare.net', ttl: 300 },
        { name: 'api.anthropic.com.cdn.cloudflare.net', type: 'A', value: '192.0.2.47', ttl: 300 },
      ],
    },
  ],
  [
    'edns-cname-aaaa.response.bin',
    false,
    {
      id: 0xa004,
      questions: Q('api.anthropic.com', 'AAAA'),
      rcode: 'NOERROR',
      // the OPT record in the additional section is not an answer
      answers: [
        { name: 'api.anthropic.com', type: 'CNAME', value: 'anthropic.edge.example.net', ttl: 300 },
        { name: 'anthropic.edge.example.net', type: 'CNAME', value: 'api.anthropic.com.cdn.cloudflare.net', ttl: 300 },
        { name: 'api.anthropic.com.cdn.cloudflare.net', type: 'AAAA', value: '2001:db8::47', ttl: 300 },
      ],
    },
  ],
  ['nxdomain.response.bin', false, { id: 0xa005, questions: Q('nope.nxdomain.invalid', 'A'), rcode: 'NXDOMAIN', answers: [] }],
  // REFUSED with an OPT carrying Extended DNS Error 14 "Not Ready" (RFC 8914)
  ['refused-edns.response.bin', false, { id: 0xa006, questions: Q('example.com', 'A'), rcode: 'REFUSED', answers: [] }],
  ['servfail.response.bin', false, { id: 0xa007, questions: Q('x.servfail.test', 'A'), rcode: 'SERVFAIL', answers: [] }],
  [
    'https.response.bin',
    false,
    {
      id: 0xa008,
      questions: Q('ai.example.test', 'HTTPS'),
      rcode: 'NOERROR',
      answers: [
        {
          name: 'ai.example.test',
          type: 'HTTPS',
          value: '1 . alpn=h2,h3 ipv4hint=192.0.2.10,192.0.2.11 ipv6hint=2001:db8::10',
          ttl: 300,
        },
      ],
    },
  ],
  [
    'https-alias.response.bin',
    false,
    {
      id: 0xa009,
      questions: Q('alias.example.test', 'HTTPS'),
      rcode: 'NOERROR',
      answers: [{ name: 'alias.example.test', type: 'HTTPS', value: '0 ai.example.test', ttl: 300 }],
    },
  ],
  [
    'txt.response.bin',
    false,
    {
      id: 0xa00a,
      questions: Q('txt.example.test', 'TXT'),
      rcode: 'NOERROR',
      answers: [{ name: 'txt.example.test', type: 'TXT', value: 'v=spf1 -allsecond string', ttl: 300 }],
    },
  ],
  [
    'mx.response.bin',
    false,
    {
      id: 0xa00b,
      questions: Q('example.test', 'MX'),
      rcode: 'NOERROR',
      answers: [{ name: 'example.test', type: 'MX', value: '10 mail.example.test', ttl: 300 }],
    },
  ],
  [
    'srv.response.bin',
    false,
    {
      id: 0xa00c,
      questions: Q('_https._tcp.example.test', 'SRV'),
      rcode: 'NOERROR',
      answers: [{ name: '_https._tcp.example.test', type: 'SRV', value: '1 5 443 svc.example.test', ttl: 300 }],
    },
  ],
  [
    'ptr.response.bin',
    false,
    {
      id: 0xa00d,
      questions: Q('1.2.0.192.in-addr.arpa', 'PTR'),
      rcode: 'NOERROR',
      answers: [{ name: '1.2.0.192.in-addr.arpa', type: 'PTR', value: 'host.example.test', ttl: 300 }],
    },
  ],
  [
    'aaaa-mapped.response.bin',
    false,
    {
      id: 0xa00e,
      questions: Q('mapped.example.test', 'AAAA'),
      rcode: 'NOERROR',
      // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad
      answers: [{ name: 'mapped.example.test', type: 'AAAA', value: '::ffff:192.0.2.55', ttl: 300 }],
    },
  ],
  [
    'tcp-a.response.bin',
    true,
    {
      id: 0xb001,
      questions: Q('api.openai.com', 'A'),
      rcode: 'NOERROR',
      answers: [{ name: 'api.openai.com', type: 'A', value: '127.0.0.1', ttl: 300 }],
    },
  ],
  [
    'tcp-two.response.bin',
    true,
    {
      id: 0xb001, // the first of the two messages on the stream
      questions: Q('api.openai.com', 'A'),
      rcode: 'NOERROR',
      answers: [{ name: 'api.openai.com', type: 'A', value: '127.0.0.1', ttl: 300 }],
    },
  ],
];

/** [fixture, tcp, id, question] for every captured query */
const QUERIES: ReadonlyArray<readonly [string, boolean, number, string, string]> = [
  ['a.query.bin', false, 0xa001, 'api.openai.com', 'A'],
  ['aaaa.query.bin', false, 0xa002, 'api.openai.com', 'AAAA'],
  ['cname-chain.query.bin', false, 0xa003, 'api.anthropic.com', 'A'],
  ['edns-cname-aaaa.query.bin', false, 0xa004, 'api.anthropic.com', 'AAAA'],
  ['nxdomain.query.bin', false, 0xa005, 'nope.nxdomain.invalid', 'A'],
  ['refused-edns.query.bin', false, 0xa006, 'example.com', 'A'],
  ['servfail.query.bin', false, 0xa007, 'x.servfail.test', 'A'],
  ['https.query.bin', false, 0xa008, 'ai.example.test', 'HTTPS'],
  ['https-alias.query.bin', false, 0xa009, 'alias.example.test', 'HTTPS'],
  ['txt.query.bin', false, 0xa00a, 'txt.example.test', 'TXT'],
  ['mx.query.bin', false, 0xa00b, 'example.test', 'MX'],
  ['srv.query.bin', false, 0xa00c, '_https._tcp.example.test', 'SRV'],
  ['ptr.query.bin', false, 0xa00d, '1.2.0.192.in-addr.arpa', 'PTR'],
  ['aaaa-mapped.query.bin', false, 0xa00e, 'mapped.example.test', 'AAAA'],
  ['tcp-a.query.bin', true, 0xb001, 'api.openai.com', 'A'],
  ['tcp-two.query.bin', true, 0xb001, 'api.openai.com', 'A'],
];

const ALL_FIXTURES: ReadonlyArray<readonly [string, boolean]> = [
  ...RESPONSES.map(([f, tcp]) => [f, tcp] as const),
  ...QUERIES.map(([f, tcp]) => [f, tcp] as const),
];

describe('parseDns: messages captured from dnsmasq', () => {
  for (const [file, tcp, want] of RESPONSES) {
    it(`parses ${file}`, () => {
      const got = parseDns(fixture(file), tcp);
      assert.deepEqual(got, { response: true, dns: want });
    });
  }
  for (const [file, tcp, id, name, type] of QUERIES) {
    it(`parses ${file} as a query: no rcode, no answers`, () => {
      const got = parseDns(fixture(file), tcp);
      assert.deepEqual(got, { response: false, dns: { id, questions: [{ name, type }] } });
    });
  }

  it('reads the second message of a TCP stream after the first frame', () => {
    const stream = fixture('tcp-two.response.bin');
    const first = 2 + stream.readUInt16BE(0);
    const got = parseDns(stream.subarray(first), true);
    assert.equal(got.dns.id, 0xb002);
    assert.deepEqual(got.dns.answers, [{ name: 'api.openai.com', type: 'AAAA', value: '::1', ttl: 300 }]);
  });

  it('parses a Uint8Array view that does not start at offset 0 of its buffer', () => {
    const bytes = fixture('a.response.bin');
    const padded = new Uint8Array(bytes.length + 7);
    padded.set(bytes, 7);
    assert.equal(parseDns(padded.subarray(7)).dns.answers?.[0]?.value, '127.0.0.1');
  });

  it('ignores bytes after the last record (a capture buffer larger than the datagram)', () => {
    const bytes = Buffer.concat([fixture('a.response.bin'), Buffer.alloc(9, 0xee)]);
    assert.equal(parseDns(bytes).dns.answers?.length, 1);
  });
});

describe('parseDns: EDNS', () => {
  it('skips an OPT pseudo-record that a sender put in the answer section', () => {
    // https.response.bin ends with its OPT record; counting it as an answer
    // (ANCOUNT 2, ARCOUNT 0) moves it into the answer section.
    const bytes = Buffer.from(fixture('https.response.bin'));
    assert.equal(bytes.readUInt16BE(6), 1);
    assert.equal(bytes.readUInt16BE(10), 1);
    bytes.writeUInt16BE(2, 6);
    bytes.writeUInt16BE(0, 10);
    const got = parseDns(bytes);
    assert.deepEqual(
      got.dns.answers?.map((a) => a.type),
      ['HTTPS'],
    );
  });

  it('combines the extended RCODE in the OPT TTL with the header RCODE (RFC 6891 §6.1.3)', () => {
    const bytes = Buffer.from(fixture('refused-edns.response.bin'));
    // header RCODE 5 (REFUSED) → 0; OPT TTL's top byte → 1: RCODE 16, BADVERS
    bytes.writeUInt16BE(bytes.readUInt16BE(2) & 0xfff0, 2);
    const optTtl = bytes.indexOf(Buffer.from([0x00, 0x29, 0x04, 0xd0])) + 4;
    assert.ok(optTtl > 4);
    bytes[optTtl] = 1;
    assert.equal(parseDns(bytes).dns.rcode, 'BADVERS');
  });
});

describe('parseDns: record types', () => {
  it('lower-cases names and drops the trailing dot; the root is "."', () => {
    const bytes = response([rr(wireName('WWW.Example.TEST'), 5, 60, wireName('Target.EXAMPLE.test'))], 'WWW.Example.TEST', 5);
    const got = parseDns(bytes);
    assert.deepEqual(got.dns.questions, [{ name: 'www.example.test', type: 'CNAME' }]);
    assert.deepEqual(got.dns.answers, [{ name: 'www.example.test', type: 'CNAME', value: 'target.example.test', ttl: 60 }]);
    const root = Buffer.from([...header(1, 0, 1, 0), 0, ...u16(2), ...u16(1)]);
    assert.deepEqual(parseDns(root).dns.questions, [{ name: '.', type: 'NS' }]);
  });

  it('escapes a label holding a dot, so it cannot pass for several labels (RFC 4343 §2.1)', () => {
    const oneLabel = [14, ...Buffer.from('api.openai.com'), 0];
    const bytes = response([rr(QUESTION_AT, 1, 60, [192, 0, 2, 1])], 'x.test');
    const crafted = Buffer.from([...header(7, 0x8180, 1, 1), ...oneLabel, ...u16(1), ...u16(1), ...rr(QUESTION_AT, 1, 60, [192, 0, 2, 1])]);
    assert.equal(parseDns(bytes).dns.answers?.[0]?.name, 'x.test');
    const got = parseDns(crafted);
    assert.equal(got.dns.questions[0]?.name, 'api\\.openai\\.com');
    assert.equal(got.dns.answers?.[0]?.name, 'api\\.openai\\.com');
    const odd = Buffer.from([...header(7, 0, 1, 0), 4, 0x61, 0x20, 0x5c, 0x07, 0, ...u16(1), ...u16(1)]);
    assert.equal(parseDns(odd).dns.questions[0]?.name, 'a\\032\\\\\\007');
  });

  it('follows compression pointers in owner names and RDATA', () => {
    // answer owner → question; CNAME target "cdn" + pointer to the question
    const bytes = response([rr(QUESTION_AT, 5, 10, [3, ...Buffer.from('cdn'), 0xc0, 0x0c])]);
    assert.equal(parseDns(bytes).dns.answers?.[0]?.value, 'cdn.example.test');
  });

  it('clamps a TTL with the top bit set to 0 (RFC 2181 §8)', () => {
    const bytes = response([rr(QUESTION_AT, 1, 0x80000000, [192, 0, 2, 1])]);
    assert.equal(parseDns(bytes).dns.answers?.[0]?.ttl, 0);
  });

  it('prints other types: SOA and CAA field by field, unknown types in RFC 3597 form', () => {
    const bytes = dnsPacket.encode({
      type: 'response',
      id: 9,
      flags: 0,
      questions: [{ name: 'example.test', type: 'SOA' }],
      answers: [
        {
          name: 'example.test',
          type: 'SOA',
          ttl: 3600,
          data: { mname: 'ns1.example.test', rname: 'hostmaster.example.test', serial: 7, refresh: 1, retry: 2, expire: 3, minimum: 4 },
        },
        { name: 'example.test', type: 'CAA', ttl: 60, data: { flags: 0, tag: 'issue', value: 'letsencrypt.org' } },
        { name: 'example.test', type: 'NULL', ttl: 60, data: Buffer.from([1, 2]) },
      ],
    });
    const unknown = rr(QUESTION_AT, 4242, 5, [0xde, 0xad]);
    const patched = Buffer.concat([bytes, Buffer.from(unknown)]);
    patched.writeUInt16BE(4, 6);
    const got = parseDns(patched);
    assert.deepEqual(
      got.dns.answers?.map((a) => [a.type, a.value]),
      [
        ['SOA', 'ns1.example.test hostmaster.example.test 7 1 2 3 4'],
        ['CAA', '0 issue "letsencrypt.org"'],
        ['NULL', '\\# 2 0102'],
        ['TYPE4242', '\\# 2 dead'],
      ],
    );
  });

  it('prints every SVCB parameter kind', () => {
    const params = [
      ...u16(0), ...u16(4), ...u16(1), ...u16(4), // mandatory=alpn,ipv4hint
      ...u16(1), ...u16(7), 2, ...Buffer.from('h3'), 3, 0x61, 0x2c, 0x20, // alpn=h3,a\044\032
      ...u16(2), ...u16(0), // no-default-alpn
      ...u16(3), ...u16(2), ...u16(8443), // port=8443
      ...u16(4), ...u16(4), 192, 0, 2, 1, // ipv4hint
      ...u16(5), ...u16(3), 1, 2, 3, // ech (base64)
      ...u16(7), ...u16(4), ...Buffer.from('/dq{'), // dohpath
      ...u16(9999), ...u16(1), 0x7a, // an unknown key
    ];
    const rdata = [...u16(16), ...wireName('svc.example.test'), ...params];
    const bytes = response([rr(QUESTION_AT, 64, 60, rdata)], 'example.test', 64);
    const a = parseDns(bytes).dns.answers?.[0];
    assert.equal(a?.type, 'SVCB');
    assert.equal(
      a?.value,
      '16 svc.example.test mandatory=alpn,ipv4hint alpn=h3,a\\044\\032 no-default-alpn port=8443 ipv4hint=192.0.2.1 ech=AQID dohpath=/dq{ key9999=z',
    );
    assert.deepEqual(svcbHintAddresses(a!), ['192.0.2.1']);
  });

  it('svcbHintAddresses: the hints of a ServiceMode HTTPS answer, nothing for AliasMode or other types', () => {
    const https = parseDns(fixture('https.response.bin')).dns.answers![0]!;
    assert.deepEqual(svcbHintAddresses(https), ['192.0.2.10', '192.0.2.11', '2001:db8::10']);
    const alias = parseDns(fixture('https-alias.response.bin')).dns.answers![0]!;
    assert.deepEqual(svcbHintAddresses(alias), []);
    const a = parseDns(fixture('a.response.bin')).dns.answers![0]!;
    assert.deepEqual(svcbHintAddresses(a), []);
  });
});

describe('parseDns: malformed input is a ParseError, never anything else', () => {
  for (const [file, tcp] of ALL_FIXTURES) {
    it(`every truncated prefix of ${file}`, () => {
      const bytes = fixture(file);
      // on a TCP stream only the first message has to be complete
      const end = tcp ? 2 + bytes.readUInt16BE(0) : bytes.length;
      for (let n = 0; n < end; n++) assertMalformed(bytes.subarray(0, n), tcp, `${file}[0..${n})`);
    });
  }

  it('reports the offset within the input, counting the TCP length prefix', () => {
    const udp = fixture('a.response.bin');
    const tcp = fixture('tcp-a.response.bin');
    const e1 = assertMalformed(udp.subarray(0, 40));
    const framed = Buffer.from(tcp.subarray(0, 42));
    framed.writeUInt16BE(40, 0);
    const e2 = assertMalformed(framed, true);
    assert.ok(e1.offset <= 40);
    assert.equal(e2.offset, e1.offset + 2);
    assert.match(e1.message, /\(at byte \d+\)$/);
  });

  it('10,000 random inputs from a seeded PRNG: a valid result or a ParseError', () => {
    const rand = prng(0xd15ea5e);
    let parsed = 0;
    for (let i = 0; i < 10_000; i++) {
      const len = Math.floor(rand() * 300);
      const bytes = new Uint8Array(len);
      for (let j = 0; j < len; j++) bytes[j] = Math.floor(rand() * 256);
      // small section counts now and then, so that the body gets read too
      if (len >= 12 && rand() < 0.5) {
        for (let k = 4; k < 12; k += 2) {
          bytes[k] = 0;
          bytes[k + 1] = Math.floor(rand() * 3);
        }
      }
      const tcp = rand() < 0.1;
      try {
        checkShape(parseDns(bytes, tcp));
        parsed++;
      } catch (e) {
        assert.ok(isMalformed(e), `input ${i} (${Buffer.from(bytes).toString('hex')}): ${String(e)}`);
      }
    }
    assert.ok(parsed > 0, 'some random inputs should parse');
  });

  it('10,000 mutations of the fixtures: a valid result or a ParseError', () => {
    const rand = prng(42);
    const bases = ALL_FIXTURES.filter(([, tcp]) => !tcp).map(([f]) => fixture(f));
    for (let i = 0; i < 10_000; i++) {
      const bytes = Buffer.from(bases[Math.floor(rand() * bases.length)]!);
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      try {
        checkShape(parseDns(bytes));
      } catch (e) {
        assert.ok(isMalformed(e), `mutation ${i} (${bytes.toString('hex')}): ${String(e)}`);
      }
    }
  });

  it('names remembered from earlier messages read exactly as names decoded afresh (10,000 mutations)', () => {
    // Mutations keep most of a fixture's names and change a byte of some:
    // the same length and nearly the same bytes as a remembered name.
    const rand = prng(7);
    const bases = ALL_FIXTURES.filter(([, tcp]) => !tcp).map(([f]) => fixture(f));
    let hits = 0;
    for (let i = 0; i < 10_000; i++) {
      const bytes = Buffer.from(bases[Math.floor(rand() * bases.length)]!);
      for (let k = Math.floor(rand() * 3); k > 0; k--) {
        const at = 12 + Math.floor(rand() * (bytes.length - 12));
        bytes[at] = rand() < 0.5 ? bytes[at]! ^ 0x20 : Math.floor(rand() * 256); // letter case, or any byte
      }
      const outcome = (): string => {
        try {
          return JSON.stringify(parseDns(bytes));
        } catch (e) {
          return `error ${(e as ParseError).message} @${(e as ParseError).offset}`;
        }
      };
      const warm = outcome();
      clearDnsNameCache();
      const cold = outcome();
      assert.equal(warm, cold, `mutation ${i} (${bytes.toString('hex')})`);
      if (!warm.startsWith('error')) hits++;
    }
    assert.ok(hits > 1000, `only ${hits} mutations parsed`);
  });

  it('a compression pointer to itself', () => {
    const bytes = Buffer.from([...header(1, 0, 1, 0), 0xc0, 0x0c, ...u16(1), ...u16(1)]);
    const start = performance.now();
    const e = assertMalformed(bytes);
    assert.ok(performance.now() - start < 100);
    assert.equal(e.offset, 12);
  });

  it('two compression pointers pointing at each other', () => {
    // name at 12: label "a", then a pointer forward to 17, where a pointer leads back to 12
    const bytes = Buffer.from([...header(1, 0, 2, 0), 1, 0x61, 0xc0, 17, ...u16(1), 0xc0, 12, ...u16(1), ...u16(1)]);
    assertMalformed(bytes);
  });

  it('a CNAME whose RDATA points at itself', () => {
    // the RDATA starts at 12 (header) + 18 (question) + 12 (owner pointer, type, class, ttl, rdlength) = 42
    const bytes = response([rr(QUESTION_AT, 5, 60, [0xc0, 42])]);
    assert.equal(bytes.length, 44);
    assertMalformed(bytes);
  });

  it('a compression pointer into the header', () => {
    assertMalformed(response([rr(QUESTION_AT, 5, 60, [0xc0, 0x02])]));
  });

  it('a name longer than 255 octets', () => {
    const long = Array.from({ length: 5 }, () => 'x'.repeat(63)).join('.');
    assertMalformed(Buffer.from([...header(1, 0, 1, 0), ...wireName(long), ...u16(1), ...u16(1)]));
  });

  it('the reserved label types 0x40 and 0x80', () => {
    assertMalformed(Buffer.from([...header(1, 0, 1, 0), 0x41, 0, ...u16(1), ...u16(1)]));
    assertMalformed(Buffer.from([...header(1, 0, 1, 0), 0x81, 0, ...u16(1), ...u16(1)]));
  });

  it('section counts larger than the message could hold', () => {
    const bytes = Buffer.from(fixture('a.response.bin'));
    bytes.writeUInt16BE(0xffff, 6);
    assert.match(assertMalformed(bytes).message, /section counts/);
  });

  it('A and AAAA RDATA of the wrong length', () => {
    assertMalformed(response([rr(QUESTION_AT, 1, 60, [192, 0, 2, 1, 9])]));
    assertMalformed(response([rr(QUESTION_AT, 28, 60, new Array<number>(15).fill(0))]));
  });

  it('RDATA longer than the name it holds', () => {
    assertMalformed(response([rr(QUESTION_AT, 5, 60, [...wireName('a.test'), 0])]));
    assertMalformed(response([rr(QUESTION_AT, 15, 60, [...u16(10), ...wireName('mx.test'), 1])]));
  });

  it('an RDLENGTH that dns-packet reads differently (an SOA with a stray byte)', () => {
    const soa = dnsPacket.encode({
      type: 'response',
      id: 3,
      questions: [{ name: 'example.test', type: 'SOA' }],
      answers: [{ name: 'example.test', type: 'SOA', ttl: 60, data: { mname: 'a.test', rname: 'b.test' } }],
    });
    // header, question, owner name (dns-packet does not compress), type, class, TTL;
    // then RDLENGTH: grow it by one and append a byte
    const rdlenAt = 12 + 18 + 14 + 8;
    const rdlength = soa.readUInt16BE(rdlenAt);
    assert.equal(rdlenAt + 2 + rdlength, soa.length);
    const bad = Buffer.concat([soa, Buffer.from([0])]);
    bad.writeUInt16BE(rdlength + 1, rdlenAt);
    assert.match(assertMalformed(bad).message, /disagrees/);
  });

  it('SVCB parameters out of order or of the wrong size (RFC 9460 §2.2)', () => {
    const svcb = (params: number[]): Buffer =>
      response([rr(QUESTION_AT, 65, 60, [...u16(1), 0, ...params])], 'example.test', 65);
    assertMalformed(svcb([...u16(3), ...u16(2), 1, 187, ...u16(1), ...u16(3), 2, 0x68, 0x32])); // port before alpn
    assertMalformed(svcb([...u16(4), ...u16(3), 1, 2, 3])); // ipv4hint of 3 bytes
    assertMalformed(svcb([...u16(6), ...u16(4), 1, 2, 3, 4])); // ipv6hint of 4 bytes
    assertMalformed(svcb([...u16(1), ...u16(3), 5, 0x68, 0x32])); // alpn id longer than the value
    assertMalformed(svcb([...u16(1), ...u16(9), 2])); // value past the RDATA
  });

  it('a TCP frame longer than the bytes that arrived, or too short for a header', () => {
    assertMalformed(Buffer.from([0, 50, ...fixture('a.response.bin')]), true);
    assertMalformed(Buffer.from([0, 3, 1, 2, 3]), true);
  });

  it('input that is not bytes', () => {
    for (const v of [undefined, null, 'abc', 42, {}, [1, 2, 3], new ArrayBuffer(12)]) {
      assert.throws(() => parseDns(v as unknown as Uint8Array), isMalformed);
    }
  });
});

/** What any successful parse must look like, whatever the input was. */
function checkShape(p: ParsedDns): void {
  assert.equal(typeof p.response, 'boolean');
  assert.ok(Number.isInteger(p.dns.id));
  for (const q of p.dns.questions) {
    assert.equal(typeof q.name, 'string');
    assert.equal(typeof q.type, 'string');
  }
  if (p.response) {
    assert.equal(typeof p.dns.rcode, 'string');
    assert.ok(Array.isArray(p.dns.answers));
    for (const a of p.dns.answers!) {
      assert.equal(typeof a.name, 'string');
      assert.equal(typeof a.value, 'string');
      assert.notEqual(a.type, 'OPT');
      assert.ok(Number.isInteger(a.ttl) && a.ttl >= 0 && a.ttl <= 0x7fffffff);
    }
  } else {
    assert.equal(p.dns.rcode, undefined);
    assert.equal(p.dns.answers, undefined);
  }
}

describe('dnsTypeName', () => {
  it('names the registry types and uses TYPEn (RFC 3597 §5) for the rest', () => {
    assert.equal(dnsTypeName(1), 'A');
    assert.equal(dnsTypeName(28), 'AAAA');
    assert.equal(dnsTypeName(5), 'CNAME');
    assert.equal(dnsTypeName(64), 'SVCB');
    assert.equal(dnsTypeName(65), 'HTTPS');
    assert.equal(dnsTypeName(255), 'ANY');
    assert.equal(dnsTypeName(257), 'CAA');
    assert.equal(dnsTypeName(4242), 'TYPE4242');
  });
});

describe('IPv6 text form (RFC 5952)', () => {
  const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/:/g, ''), 'hex'));
  it('compresses the longest run of zero groups, the first of equal runs, never a single group', () => {
    assert.equal(formatIPv6(hex('2001:0db8:0000:0000:0001:0000:0000:0001')), '2001:db8::1:0:0:1');
    assert.equal(formatIPv6(hex('2001:0000:0000:0001:0000:0000:0000:0001')), '2001:0:0:1::1');
    assert.equal(formatIPv6(hex('2001:0db8:0000:0001:0001:0001:0001:0001')), '2001:db8:0:1:1:1:1:1');
    assert.equal(formatIPv6(new Uint8Array(16)), '::');
    assert.equal(formatIPv6(hex('0000:0000:0000:0000:0000:ffff:c000:0201')), '::ffff:192.0.2.1');
  });

  it('agrees with the WHATWG URL serialiser on 2,000 random addresses', () => {
    const rand = prng(7);
    for (let i = 0; i < 2000; i++) {
      const b = new Uint8Array(16);
      // mostly zero groups, to exercise the compression
      for (let g = 0; g < 8; g++) {
        if (rand() < 0.5) continue;
        b[g * 2] = Math.floor(rand() * 256);
        b[g * 2 + 1] = Math.floor(rand() * 256);
      }
      const ours = formatIPv6(b);
      if (ours.startsWith('::ffff:') && ours.includes('.')) continue; // URL prints those in hex
      const theirs = new URL(`http://[${ours}]/`).hostname.slice(1, -1);
      assert.equal(ours, theirs);
      assert.equal(canonicalIp(theirs.toUpperCase()), ours);
    }
  });

  it('canonicalIp accepts every spelling of an address and rejects non-addresses', () => {
    assert.equal(canonicalIp('2001:DB8:0:0:0:0:0:47'), '2001:db8::47');
    assert.equal(canonicalIp('2001:db8::0:47'), '2001:db8::47');
    assert.equal(canonicalIp('::FFFF:192.0.2.1'), '::ffff:192.0.2.1');
    assert.equal(canonicalIp('::ffff:c000:201'), '::ffff:192.0.2.1');
    assert.equal(canonicalIp('[::1]'), '::1');
    assert.equal(canonicalIp('fe80::1%eth0'), 'fe80::1');
    assert.equal(canonicalIp('192.0.2.1'), '192.0.2.1');
    assert.equal(canonicalIp('api.openai.com'), undefined);
    assert.equal(canonicalIp('1.2.3'), undefined);
    assert.equal(canonicalIp(''), undefined);
  });
});
