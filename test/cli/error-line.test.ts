/**
 * The one line a hook that did not attach is warned with: its error's first
 * line, and libbpf's last word on it. A real case: an object with an extern
 * libbpf cannot resolve (a `memcmp` clang emitted as a call) fails to open
 * with ENOENT, which alone reads "No such file or directory" of a file that
 * is there.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BpfObject } from '../../engine/kernel/libbpf.js';
import { BPF_DIR } from '../../engine/paths.js';
import { errorLine } from '../../engine/cli/monitor.js';

const clang = spawnSync('clang', ['--version']).status === 0;

describe('the warning line of a hook that did not attach', () => {
  it('is the first line alone when nothing more was said', () => {
    assert.equal(errorLine('attach x: Argument list too long (errno 7)'), 'attach x: Argument list too long (errno 7)');
    assert.equal(errorLine(undefined), '');
  });

  it("carries libbpf's last word: an extern it could not find, not a missing file", { skip: clang ? undefined : 'needs clang (scripts/setup.sh installs it) to build the object' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'busted-errline-'));
    try {
      const src = join(dir, 'x.bpf.c');
      writeFileSync(
        src,
        `#include "${join(BPF_DIR, 'vmlinux.h')}"
#include <bpf/bpf_helpers.h>
char buf[2][16];
SEC("tp_btf/sched_process_exec")
int x(void *ctx) { return __builtin_memcmp(buf[0], buf[1], 16) == 0; }
char LICENSE[] SEC("license") = "GPL";
`,
      );
      const obj = join(dir, 'x.bpf.o');
      const cc = spawnSync('clang', ['-g', '-O2', '-target', 'bpf', '-c', src, '-o', obj], { encoding: 'utf8' });
      assert.equal(cc.status, 0, cc.stderr);
      let message = '';
      try {
        BpfObject.open(obj).close();
      } catch (e) {
        message = (e as Error).message;
      }
      assert.match(message, /^open BPF object .*: No such file or directory/);
      assert.match(errorLine(message), /No such file or directory \(errno 2\) \(libbpf: failed to find BTF for extern 'memcmp'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
