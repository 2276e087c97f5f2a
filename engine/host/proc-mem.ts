/**
 * Reading another process's memory through /proc/PID/mem: the rest of a
 * held TLS write (interpret/tls-data.ts). The kernel copies at most the
 * capture cap of a call (tls_cap_bytes, 16 KiB by default); a prompt longer
 * than that would reach the policy without its tail, so a secret past the
 * cap went through unseen. A gated write's thread is stopped at SSL_write's
 * entry until the engine decides, so its buffer holds what the library is
 * about to encrypt: the engine reads the rest there.
 *
 * Needs what ptrace needs (root, or CAP_SYS_PTRACE over the process): where
 * that is missing the read fails and the call stays cut at the cap.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** N bytes at user address ADDR of process PID; undefined when they cannot be read, fewer at an unmapped end. */
export type MemoryReader = (pid: number, addr: bigint, n: number) => Uint8Array | undefined;

export const readProcessMemory: MemoryReader = (pid, addr, n) => {
  let fd: number;
  try {
    fd = openSync(`/proc/${pid}/mem`, 'r');
  } catch {
    return undefined;
  }
  try {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const k = readSync(fd, out, got, n - got, addr + BigInt(got));
      if (k <= 0) break;
      got += k;
    }
    return got > 0 ? out.subarray(0, got) : undefined;
  } catch {
    return undefined; // EIO: an address not mapped (the process changed, or a bad record)
  } finally {
    closeSync(fd);
  }
};
