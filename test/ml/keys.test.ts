// The connection and destination keys of the features and the classifier
// (engine/ml/features.ts): numbers packed from interned addresses where the
// tables have room, the text otherwise; equal exactly for equal tuples, and
// the same for a connection before and after its table fills up. Its own
// file: filling the interning tables is for the life of the process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connKey, connText, destKey, destText } from '../../engine/ml/features.js';
import { prng } from '../helpers/prng.js';

type Tuple = { src_ip: string; src_port: number; dst_ip: string; dst_port: number };

function randomTuples(n: number, seed: number): Tuple[] {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const addrs = ['127.0.0.1', '127.0.0.9', '::1', '10.1.2.3', '2001:db8::5', '192.0.2.44'];
  const ports = [0, 1, 53, 443, 8000, 40000, 65535];
  return Array.from({ length: n }, () => ({ src_ip: pick(addrs), src_port: pick(ports), dst_ip: pick(addrs), dst_port: pick(ports) }));
}

describe('feature keys', () => {
  it('are equal exactly when the tuples are (2,000 random pairs of tuples, as separate objects and strings)', () => {
    const a = randomTuples(2000, 1);
    const b = randomTuples(2000, 2);
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!;
      const y = b[i]!;
      const copy = { ...x, src_ip: `${x.src_ip}`.slice(0), dst_ip: [x.dst_ip].join('') };
      assert.equal(connKey(copy), connKey(x));
      assert.equal(typeof connKey(x), 'number');
      assert.equal(connKey(x) === connKey(y), connText(x) === connText(y), `${connText(x)} / ${connText(y)}`);
      for (const pid of [1, 77, (1 << 22) - 1]) {
        assert.equal(typeof destKey(pid, x), 'number');
        assert.equal(destKey(pid, x) === destKey(pid, y), destText(pid, x) === destText(pid, y));
        assert.notEqual(destKey(pid, x), destKey(pid + 1, x));
      }
    }
  });

  it('fall back to the text where a part does not fit, and never meet a number key', () => {
    assert.equal(connKey({ src_ip: '127.0.0.1', src_port: 70000, dst_ip: '127.0.0.9', dst_port: 80 }), '127.0.0.1 70000 127.0.0.9 80');
    assert.equal(destKey(1 << 22, { dst_ip: '127.0.0.9', dst_port: 80 }), `${1 << 22} 127.0.0.9 80`);
    assert.equal(connKey({ dst_ip: '127.0.0.9', dst_port: 80 }), undefined);
  });

  it('keep their value for a connection seen before its table filled, and agree for one seen after', () => {
    const early = { src_ip: '198.51.100.1', src_port: 1234, dst_ip: '198.51.100.2', dst_port: 443 };
    const before = connKey(early);
    const destBefore = destKey(5, early);
    assert.equal(typeof before, 'number');
    // 65,536 address pairs and 32,768 addresses fill both tables
    for (let i = 0; i < 70_000; i++) {
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      connKey({ src_ip: '10.255.255.255', src_port: 1, dst_ip: ip, dst_port: 2 });
      destKey(1, { dst_ip: ip, dst_port: 2 });
    }
    assert.equal(connKey({ ...early }), before);
    assert.equal(destKey(5, { ...early }), destBefore);
    const late = { src_ip: '203.0.113.1', src_port: 999, dst_ip: '203.0.113.2', dst_port: 80 };
    assert.equal(connKey(late), '203.0.113.1 999 203.0.113.2 80');
    assert.equal(connKey({ ...late }), connKey(late));
    assert.equal(destKey(9, late), '9 203.0.113.2 80');
  });
});
