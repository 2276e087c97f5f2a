import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';

import { DnsCache, parseHostsFile } from '../../engine/enrich/dns-cache.js';
import { parseDns } from '../../engine/parse/dns.js';
import type { DnsAnswer, DnsInfo } from '../../engine/model/event.js';
import { prng } from '../helpers/prng.js';

/** test/fixtures/dns, from dist/test/enrich/ where this runs */
const FIXTURES = new URL('../../../test/fixtures/dns/', import.meta.url);

function fixture(name: string, tcp = false): DnsInfo {
  return parseDns(readFileSync(new URL(name, FIXTURES)), tcp).dns;
}

/** a clock the test moves by hand */
function clock(start = 1_700_000_000_000): { now: () => number; advance: (s: number) => void } {
  let t = start;
  return { now: () => t, advance: (s: number) => void (t += s * 1000) };
}

const A = (name: string, value: string, ttl = 300): DnsAnswer => ({ name, type: 'A', value, ttl });
const CNAME = (name: string, value: string, ttl = 300): DnsAnswer => ({ name, type: 'CNAME', value, ttl });
function answer(qname: string, answers: DnsAnswer[], qtype = 'A'): DnsInfo {
  return { id: 1, rcode: 'NOERROR', questions: [{ name: qname, type: qtype }], answers };
}

describe('DnsCache: crediting names', () => {
  it('credits the question name and every alias of a captured CNAME chain, question first', () => {
    const cache = new DnsCache();
    cache.addResponse(fixture('cname-chain.response.bin'));
    assert.deepEqual(cache.namesFor('192.0.2.47'), [
      'api.anthropic.com',
      'anthropic.edge.example.net',
      'api.anthropic.com.cdn.cloudflare.net',
    ]);
    assert.deepEqual(cache.addressesFor('api.anthropic.com'), ['192.0.2.47']);
    assert.deepEqual(cache.addressesFor('anthropic.edge.example.net'), ['192.0.2.47']);
    cache.addResponse(fixture('edns-cname-aaaa.response.bin'));
    assert.deepEqual(cache.addressesFor('API.Anthropic.com.'), ['2001:db8::47', '192.0.2.47']);
    assert.equal(cache.namesFor('2001:DB8:0:0::47')[0], 'api.anthropic.com');
    assert.equal(cache.size, 2);
  });

  it('the chain from the issue: api.openai.com → CNAME → A', () => {
    const cache = new DnsCache();
    cache.addResponse(
      answer('api.openai.com', [
        CNAME('api.openai.com', 'api.openai.com.cdn.cloudflare.net'),
        A('api.openai.com.cdn.cloudflare.net', '1.2.3.4'),
      ]),
    );
    assert.deepEqual(cache.namesFor('1.2.3.4'), ['api.openai.com', 'api.openai.com.cdn.cloudflare.net']);
  });

  it('does not credit records that are not on a chain from the question', () => {
    const cache = new DnsCache();
    cache.addResponse(
      answer('evil.example', [A('evil.example', '192.0.2.66'), A('api.openai.com', '192.0.2.99'), CNAME('x.example', 'evil.example')]),
    );
    assert.deepEqual(cache.namesFor('192.0.2.66'), ['evil.example']);
    assert.deepEqual(cache.namesFor('192.0.2.99'), []);
    assert.deepEqual(cache.addressesFor('api.openai.com'), []);
    assert.deepEqual(cache.addressesFor('x.example'), []);
  });

  it('stops at a CNAME loop', () => {
    const cache = new DnsCache();
    cache.addResponse(answer('a.test', [CNAME('a.test', 'b.test'), CNAME('b.test', 'a.test'), A('b.test', '192.0.2.5')]));
    assert.deepEqual(cache.namesFor('192.0.2.5'), ['a.test', 'b.test']);
  });

  it('credits the ipv4hint/ipv6hint addresses of an HTTPS answer, not those of AliasMode', () => {
    const cache = new DnsCache();
    cache.addResponse(fixture('https.response.bin'));
    cache.addResponse(fixture('https-alias.response.bin'));
    assert.deepEqual(cache.namesFor('192.0.2.10'), ['ai.example.test']);
    assert.deepEqual(cache.namesFor('192.0.2.11'), ['ai.example.test']);
    assert.deepEqual(cache.namesFor('2001:db8::10'), ['ai.example.test']);
    assert.deepEqual(cache.addressesFor('alias.example.test'), []);
  });

  it('learns nothing from queries, NXDOMAIN, SERVFAIL or REFUSED', () => {
    const cache = new DnsCache();
    for (const f of ['a.query.bin', 'nxdomain.response.bin', 'servfail.response.bin', 'refused-edns.response.bin']) {
      cache.addResponse(fixture(f));
    }
    assert.equal(cache.size, 0);
  });

  it('lists the most recently seen name first', () => {
    const c = clock();
    const cache = new DnsCache({ now: c.now });
    cache.addResponse(answer('one.test', [A('one.test', '192.0.2.1')]));
    c.advance(1);
    cache.addResponse(answer('two.test', [A('two.test', '192.0.2.1')]));
    assert.deepEqual(cache.namesFor('192.0.2.1'), ['two.test', 'one.test']);
    c.advance(1);
    cache.addResponse(answer('one.test', [A('one.test', '192.0.2.1')]));
    assert.deepEqual(cache.namesFor('192.0.2.1'), ['one.test', 'two.test']);
  });

  it('keeps at most 16 names per address, the newest', () => {
    const cache = new DnsCache();
    for (let i = 0; i < 40; i++) cache.addResponse(answer(`n${i}.test`, [A(`n${i}.test`, '192.0.2.1')]));
    const names = cache.namesFor('192.0.2.1');
    assert.equal(names.length, 16);
    assert.equal(names[0], 'n39.test');
    assert.deepEqual(cache.addressesFor('n0.test'), []);
  });

  it('learns from the TCP-framed and the v4-mapped fixtures too', () => {
    const cache = new DnsCache();
    cache.addResponse(fixture('tcp-a.response.bin', true));
    cache.addResponse(fixture('aaaa-mapped.response.bin'));
    assert.deepEqual(cache.namesFor('127.0.0.1'), ['api.openai.com']);
    assert.deepEqual(cache.namesFor('192.0.2.55'), ['mapped.example.test']);
  });
});

describe('DnsCache: the plain answer (one question, its own A/AAAA records)', () => {
  /** TXT beside the answers sends addResponse down its general path, which ignores TXT. */
  const TXT: DnsAnswer = { name: 'x.test', type: 'TXT', value: 'v=1', ttl: 5 };

  it('is credited exactly as the general path credits it, whatever the duplicates, TTLs, case and forms', () => {
    const rand = prng(7);
    const rnd = (n: number): number => Math.floor(rand() * n);
    const forms = (ip: string): string[] => (ip.includes(':') ? [ip, ip.toUpperCase()] : [ip, `::ffff:${ip}`]);
    const pool = ['192.0.2.1', '192.0.2.2', '2001:db8::1', '2001:db8::a', '198.51.100.9'];
    for (let round = 0; round < 300; round++) {
      const qname = ['api.openai.com', 'API.OpenAI.com.', 'a.test'][rnd(3)]!;
      const answers: DnsAnswer[] = [];
      for (let i = 1 + rnd(6); i > 0; i--) {
        const ip = pool[rnd(pool.length)]!;
        const value = forms(ip)[rnd(2)]!;
        answers.push({ name: qname.toLowerCase().replace(/\.$/, ''), type: ip.includes(':') ? 'AAAA' : 'A', value, ttl: [0, 40, 300, 90000][rnd(4)]! });
      }
      const c = clock();
      const direct = new DnsCache({ now: c.now });
      const general = new DnsCache({ now: c.now });
      direct.addResponse(answer(qname, answers));
      general.addResponse(answer(qname, [...answers, TXT]));
      const expiry = (cache: DnsCache): string[] => {
        const alive: string[] = [];
        for (const s of [29, 31, 41, 301, 86401]) {
          c.advance(s);
          alive.push(`${s}: ${pool.map((ip) => cache.namesFor(ip).join(',')).join(' ')} | ${cache.addressesFor(qname).join(',')}`);
        }
        c.advance(-(29 + 31 + 41 + 301 + 86401));
        return alive;
      };
      assert.deepEqual(expiry(direct), expiry(general), JSON.stringify(answers));
    }
  });

  it('leaves an answer with an alias or a name other than the question to the general path', () => {
    const cache = new DnsCache();
    cache.addResponse(answer('api.openai.com', [A('api.openai.com', '192.0.2.1'), A('other.test', '192.0.2.2')]));
    assert.deepEqual(cache.namesFor('192.0.2.1'), ['api.openai.com']);
    assert.deepEqual(cache.namesFor('192.0.2.2'), []);
  });
});

describe('DnsCache: TTL', () => {
  it('forgets a mapping when its TTL runs out', () => {
    const c = clock();
    const cache = new DnsCache({ now: c.now });
    cache.addResponse(fixture('a.response.bin')); // TTL 300
    c.advance(299);
    assert.deepEqual(cache.namesFor('127.0.0.1'), ['api.openai.com']);
    assert.deepEqual(cache.addressesFor('api.openai.com'), ['127.0.0.1']);
    c.advance(1);
    assert.deepEqual(cache.namesFor('127.0.0.1'), []);
    assert.deepEqual(cache.addressesFor('api.openai.com'), []);
    assert.equal(cache.size, 0);
  });

  it('lives as long as the shortest TTL on the chain', () => {
    const c = clock();
    const cache = new DnsCache({ now: c.now });
    cache.addResponse(answer('a.test', [CNAME('a.test', 'b.test', 60), A('b.test', '192.0.2.7', 3600)]));
    c.advance(59);
    assert.deepEqual(cache.namesFor('192.0.2.7'), ['a.test', 'b.test']);
    c.advance(1);
    assert.deepEqual(cache.namesFor('192.0.2.7'), []);
  });

  it('clamps TTLs to [minTtlS, maxTtlS]', () => {
    const c = clock();
    const cache = new DnsCache({ now: c.now }); // defaults 30 and 86400
    cache.addResponse(answer('zero.test', [A('zero.test', '192.0.2.1', 0)]));
    cache.addResponse(answer('long.test', [A('long.test', '192.0.2.2', 10_000_000)]));
    c.advance(29);
    assert.deepEqual(cache.namesFor('192.0.2.1'), ['zero.test']);
    c.advance(1);
    assert.deepEqual(cache.namesFor('192.0.2.1'), []);
    c.advance(86400 - 31);
    assert.deepEqual(cache.namesFor('192.0.2.2'), ['long.test']);
    c.advance(1);
    assert.deepEqual(cache.namesFor('192.0.2.2'), []);

    const custom = new DnsCache({ now: c.now, minTtlS: 5, maxTtlS: 10 });
    custom.addResponse(answer('x.test', [A('x.test', '192.0.2.3', 1)]));
    custom.addResponse(answer('y.test', [A('y.test', '192.0.2.4', 100)]));
    c.advance(5);
    assert.deepEqual(custom.namesFor('192.0.2.3'), []);
    assert.deepEqual(custom.namesFor('192.0.2.4'), ['y.test']);
    c.advance(5);
    assert.deepEqual(custom.namesFor('192.0.2.4'), []);
  });

  it('prune() drops expired mappings without a lookup', () => {
    const c = clock();
    const cache = new DnsCache({ now: c.now });
    cache.addResponse(fixture('cname-chain.response.bin'));
    cache.addResponse(answer('later.test', [A('later.test', '192.0.2.9', 900)]));
    assert.equal(cache.size, 2);
    c.advance(300);
    assert.equal(cache.prune(), 3);
    assert.equal(cache.size, 1);
  });
});

describe('DnsCache: bounds', () => {
  it('evicts the least recently updated address at maxEntries', () => {
    const cache = new DnsCache({ maxEntries: 3 });
    for (const i of [1, 2, 3]) cache.addResponse(answer(`h${i}.test`, [A(`h${i}.test`, `192.0.2.${i}`)]));
    assert.equal(cache.size, 3);
    // refreshing .1 makes .2 the oldest
    cache.addResponse(answer('h1.test', [A('h1.test', '192.0.2.1')]));
    cache.addResponse(answer('h4.test', [A('h4.test', '192.0.2.4')]));
    assert.equal(cache.size, 3);
    assert.deepEqual(cache.namesFor('192.0.2.2'), []);
    assert.deepEqual(cache.addressesFor('h2.test'), []);
    assert.deepEqual(cache.namesFor('192.0.2.1'), ['h1.test']);
    assert.deepEqual(cache.namesFor('192.0.2.3'), ['h3.test']);
    assert.deepEqual(cache.namesFor('192.0.2.4'), ['h4.test']);
  });

  it('stays within maxEntries under a stream of distinct addresses', () => {
    const cache = new DnsCache({ maxEntries: 100 });
    for (let i = 0; i < 5000; i++) {
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      cache.addResponse(answer(`n${i}.test`, [A(`n${i}.test`, ip)]));
    }
    assert.equal(cache.size, 100);
    assert.deepEqual(cache.namesFor('10.0.19.135'), ['n4999.test']);
    assert.deepEqual(cache.addressesFor('n0.test'), []);
  });
});

describe('DnsCache: static entries and address forms', () => {
  it('static mappings never expire, are not evicted, and come after learned names', () => {
    const c = clock();
    const cache = new DnsCache({ now: c.now, maxEntries: 1 });
    cache.addStatic('Intranet.Example.', '192.0.2.200');
    cache.addStatic('llm.internal', '192.0.2.201');
    cache.addResponse(answer('learned.test', [A('learned.test', '192.0.2.200')]));
    assert.deepEqual(cache.namesFor('192.0.2.200'), ['learned.test', 'intranet.example']);
    cache.addResponse(answer('other.test', [A('other.test', '192.0.2.9')]));
    c.advance(10 * 365 * 86400);
    assert.deepEqual(cache.namesFor('192.0.2.200'), ['intranet.example']);
    assert.deepEqual(cache.namesFor('192.0.2.201'), ['llm.internal']);
    assert.deepEqual(cache.addressesFor('llm.internal'), ['192.0.2.201']);
    assert.equal(cache.size, 3); // two static addresses, and a learned one that expired but was not looked up since
  });

  it('finds an IPv4 address by its v4-mapped IPv6 form and the other way round', () => {
    const cache = new DnsCache();
    cache.addResponse(fixture('a.response.bin'));
    assert.deepEqual(cache.namesFor('::ffff:127.0.0.1'), ['api.openai.com']);
    assert.deepEqual(cache.namesFor('::FFFF:7f00:1'), ['api.openai.com']);
    cache.addResponse(fixture('aaaa-mapped.response.bin'));
    assert.deepEqual(cache.namesFor('192.0.2.55'), ['mapped.example.test']);
    assert.deepEqual(cache.namesFor('::ffff:192.0.2.55'), ['mapped.example.test']);
    assert.deepEqual(cache.addressesFor('mapped.example.test'), ['192.0.2.55']);
    cache.addStatic('mapped.static', '::ffff:198.51.100.1');
    assert.deepEqual(cache.namesFor('198.51.100.1'), ['mapped.static']);
  });

  it('ignores what is not an address or a name', () => {
    const cache = new DnsCache();
    cache.addStatic('x.test', 'not-an-ip');
    cache.addStatic('', '192.0.2.1');
    cache.addResponse(answer('bad.test', [A('bad.test', 'garbage')]));
    assert.equal(cache.size, 0);
    assert.deepEqual(cache.namesFor('garbage'), []);
    assert.deepEqual(cache.addressesFor(''), []);
  });
});

describe('parseHostsFile', () => {
  it('reads addresses, names and aliases, IPv6, comments and blank lines', () => {
    const text = [
      '# /etc/hosts',
      '127.0.0.1\tlocalhost',
      '127.0.1.1   myhost.example.org myhost   # the machine itself',
      '',
      '   ',
      '::1     localhost ip6-localhost ip6-loopback',
      'FE80:0:0:0::1%lo  linklocal.test',
      '10.0.0.5 LLM.Internal. llm',
      '#10.0.0.6 commented.out',
      '10.0.0.7',
      'not-an-ip some.name',
      '10.0.0.8 dup.test dup.test\r',
    ].join('\n');
    assert.deepEqual(parseHostsFile(text), [
      { ip: '127.0.0.1', names: ['localhost'] },
      { ip: '127.0.1.1', names: ['myhost.example.org', 'myhost'] },
      { ip: '::1', names: ['localhost', 'ip6-localhost', 'ip6-loopback'] },
      { ip: 'fe80::1', names: ['linklocal.test'] },
      { ip: '10.0.0.5', names: ['llm.internal', 'llm'] },
      { ip: '10.0.0.8', names: ['dup.test'] },
    ]);
  });

  it('feeds addStatic', () => {
    const cache = new DnsCache();
    for (const { ip, names } of parseHostsFile('10.1.2.3 a.internal b.internal\n')) {
      for (const n of names) cache.addStatic(n, ip);
    }
    assert.deepEqual(cache.namesFor('10.1.2.3'), ['a.internal', 'b.internal']);
  });
});

// ---- against a real resolver ----

const DNSMASQ = '/usr/sbin/dnsmasq';

/** A standard query (RFC 1035 §4.1.1, RD set) built by hand. */
function query(id: number, name: string, qtype: number): Buffer {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
  return Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, qtype >> 8, qtype & 255, 0, 1]);
}

async function ask(port: number, msg: Buffer): Promise<Buffer> {
  const sock = dgram.createSocket('udp4');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer from dnsmasq')), 2000);
      sock.once('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      sock.once('error', reject);
      sock.send(msg, port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

describe('DnsCache fed by a live dnsmasq on 127.0.0.1', { skip: !existsSync(DNSMASQ) && `${DNSMASQ} not installed` }, () => {
  it('labels the addresses of a CNAME chain with the name that was asked for', async () => {
    const port = 20000 + Math.floor(Math.random() * 40000);
    const args = [
      '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts',
      '--listen-address=127.0.0.1', '--bind-interfaces', `--port=${port}`, '--pid-file=', '--local-ttl=60',
      '--host-record=edge.cdn.example.net,192.0.2.80,2001:db8::80',
      '--cname=api.openai.com,edge.cdn.example.net',
    ];
    if (process.getuid?.() === 0) args.push('--user=root');
    const proc = spawn(DNSMASQ, args, { stdio: 'ignore' });
    try {
      let got: Buffer | undefined;
      // dnsmasq needs a moment to bind
      for (let attempt = 0; attempt < 20 && !got; attempt++) {
        try {
          got = await ask(port, query(0x7001, 'api.openai.com', 1));
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(got, 'dnsmasq did not answer');
      const a = parseDns(got);
      const aaaa = parseDns(await ask(port, query(0x7002, 'api.openai.com', 28)));
      assert.equal(a.dns.rcode, 'NOERROR');
      const cache = new DnsCache();
      cache.addResponse(a.dns);
      cache.addResponse(aaaa.dns);
      assert.deepEqual(cache.namesFor('192.0.2.80'), ['api.openai.com', 'edge.cdn.example.net']);
      assert.deepEqual(cache.namesFor('2001:db8::80'), ['api.openai.com', 'edge.cdn.example.net']);
      assert.deepEqual(cache.addressesFor('api.openai.com'), ['2001:db8::80', '192.0.2.80']);
    } finally {
      proc.kill();
    }
  });
});
