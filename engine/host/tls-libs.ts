/**
 * TLS libraries on this host that the plaintext probes (issue 4) can hook:
 * shared libssl/libgnutls, and binaries that carry OpenSSL statically and
 * export its symbols (node does).
 */
import { existsSync, realpathSync } from 'node:fs';
import { dynamicSymbols } from './elf.js';

export interface TlsLibrary {
  kind: 'openssl' | 'boringssl' | 'gnutls' | 'openssl-static';
  path: string;
  /** the symbols the probes need that this file exports */
  symbols: string[];
}

const OPENSSL_SYMBOLS = ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex', 'SSL_ctrl', 'SSL_set_fd', 'SSL_get_fd', 'SSL_free'];
const GNUTLS_SYMBOLS = ['gnutls_record_send', 'gnutls_record_recv'];

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib64', '/lib'];

function firstExisting(names: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const dir of LIB_DIRS) {
    for (const n of names) {
      const p = `${dir}/${n}`;
      if (!existsSync(p)) continue;
      const real = realpathSync(p);
      if (seen.has(real)) continue;
      seen.add(real);
      out.push(real);
    }
  }
  return out;
}

export function findTlsLibraries(extraBinaries: string[] = [process.execPath]): TlsLibrary[] {
  const out: TlsLibrary[] = [];
  const add = (kind: TlsLibrary['kind'], path: string, wanted: string[]) => {
    try {
      const syms = [...dynamicSymbols(path, wanted).keys()];
      if (syms.length) out.push({ kind, path, symbols: syms.sort() });
    } catch {
      // unreadable or not ELF: not a library we can hook
    }
  };
  for (const p of firstExisting(['libssl.so.3', 'libssl.so.1.1'])) add('openssl', p, OPENSSL_SYMBOLS);
  for (const p of firstExisting(['libgnutls.so.30'])) add('gnutls', p, GNUTLS_SYMBOLS);
  for (const b of extraBinaries) if (existsSync(b)) add('openssl-static', realpathSync(b), OPENSSL_SYMBOLS);
  return out;
}
