// Executables' hashes (engine/host/exe-hash.ts): read in a worker, kept by
// the file's identity (device, inode, change time) so a file is read once
// per version; a path that no longer names the file asked for is not read.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExeHasher, exeKeyOf, kernelDev } from '../../engine/host/exe-hash.js';

const dir = mkdtempSync(join(tmpdir(), 'busted-exe-hash-'));
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('ExeHasher', () => {
  const hasher = new ExeHasher();
  after(async () => {
    await hasher.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hashes a file once per version: a write moves its change time, and it is read again', async () => {
    const f = join(dir, 'prog');
    writeFileSync(f, 'version one');
    const k1 = exeKeyOf(f)!;
    assert.equal(hasher.get(k1), undefined);
    assert.equal(await hasher.hash(k1, [f]), sha(f));
    assert.equal(hasher.get(k1), sha(f), 'kept');
    await new Promise((r) => setTimeout(r, 20));
    appendFileSync(f, ' and two');
    const k2 = exeKeyOf(f)!;
    assert.notEqual(k2.ctimeNs, k1.ctimeNs);
    assert.equal(hasher.get(k2), undefined, 'another version');
    assert.equal(await hasher.hash(k2, [f]), sha(f));
    assert.equal(hasher.stats.hashed, 2);
  });

  it('does not read a path that names another file than the one asked for, and tries the next', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    writeFileSync(a, 'aaa');
    writeFileSync(b, 'bbb');
    const kb = exeKeyOf(b)!;
    assert.equal(await hasher.hash(kb, [a, join(dir, 'missing'), b]), sha(b));
    const gone = { ...kb, ino: kb.ino + 1000n };
    assert.equal(await hasher.hash(gone, [a, b]), undefined, 'no path names it');
    assert.equal(hasher.get(gone), undefined, 'tried again next time');
  });

  it('hashes a large file in the worker while the event loop runs', async () => {
    const big = join(dir, 'big');
    writeFileSync(big, Buffer.alloc(24 << 20, 7));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const h = await hasher.hash(exeKeyOf(big)!, [big]);
    clearInterval(timer);
    assert.equal(h, sha(big));
    assert.ok(ticks > 0, 'the event loop ran meanwhile');
  });

  it("converts stat's device numbers to the kernel's (major << 20 | minor)", () => {
    // glibc: minor's low byte, major, then minor's high bits from bit 20
    assert.equal(kernelDev(0xfe00), (254 << 20) | 0);
    assert.equal(kernelDev(0x0803), (8 << 20) | 3);
    assert.equal(kernelDev(0x100103), (1 << 20) | 0x103);
    assert.equal(kernelDev(statSync('/').dev) >= 0, true);
  });
});
