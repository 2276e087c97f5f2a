// TLS library discovery on this machine's own files: the system libssl
// and this node are found with every probe symbol and the file offsets
// the uprobes attach at, each file once however often it is scanned.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { TLS_PROBE_TABLE, TlsLibraryFinder } from '../../engine/host/tls-libs.js';

const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';

describe('TlsLibraryFinder', () => {
  it('finds the system libssl and node with their probe symbols and file offsets, once each', { skip: existsSync(LIBSSL) ? undefined : `no ${LIBSSL} here` }, () => {
    const f = new TlsLibraryFinder();
    const libs = f.system();
    const ssl = libs.find((l) => l.path === LIBSSL);
    assert.ok(ssl, JSON.stringify(libs));
    assert.equal(ssl.kind, 'openssl');
    assert.deepEqual(ssl.symbols, [
      'SSL_connect', 'SSL_ctrl', 'SSL_do_handshake', 'SSL_free', 'SSL_get_fd', 'SSL_read', 'SSL_read_ex', 'SSL_set_fd', 'SSL_write', 'SSL_write_ex', 'ssl_read_internal', 'ssl_write_internal',
    ]);
    assert.match(ssl.id, /^\d+:\d+$/);
    // the offsets agree with the symbol table as binutils reads it (libssl: addresses are file offsets in its text segment)
    const nm = execFileSync('nm', ['-D', '--defined-only', LIBSSL], { encoding: 'utf8' });
    const addr = Number.parseInt(nm.split('\n').find((l) => / T SSL_write(@@.*)?$/.test(l))!.split(' ')[0]!, 16);
    assert.equal(ssl.offsets.SSL_write, addr);
    // the internal functions: what the wrappers call first, as objdump decodes them, and each begins with a push
    for (const [internal, wrappers] of [['ssl_write_internal', ['SSL_write', 'SSL_write_ex']], ['ssl_read_internal', ['SSL_read', 'SSL_read_ex']]] as const) {
      const at: number = ssl.offsets[internal]!;
      for (const w of wrappers) {
        const start = ssl.offsets[w]!;
        const dis = execFileSync('objdump', ['-d', '--no-show-raw-insn', `--start-address=${start}`, `--stop-address=${start + 64}`, LIBSSL], { encoding: 'utf8' });
        const call = /\scall\s+([0-9a-f]+)/.exec(dis);
        assert.ok(call, `${w}: no call in\n${dis}`);
        assert.equal(Number.parseInt(call[1]!, 16), at, `${w} calls ${call[1]} first`);
      }
      const first = execFileSync('objdump', ['-d', '--no-show-raw-insn', `--start-address=${at}`, `--stop-address=${at + 2}`, LIBSSL], { encoding: 'utf8' });
      assert.match(first, /\spush\s+%r/, internal);
    }
    const node = libs.find((l) => l.kind === 'openssl-static');
    assert.ok(node && node.symbols.includes('SSL_write') && node.offsets.SSL_read! > 0);
    // every process scanned, and again: nothing found twice
    f.scanAll();
    assert.deepEqual(f.system(), []);
    assert.deepEqual(f.scanAll(), []);
    assert.deepEqual(f.scanPid(process.ppid), []);
  });

  it('names the libraries it does not hook yet, with what stands in the way', () => {
    const planned = TLS_PROBE_TABLE.filter((t) => t.status === 'planned').map((t) => t.kind);
    assert.deepEqual(planned, ['boringssl', 'gnutls', 'nss', 'go']);
    for (const t of TLS_PROBE_TABLE) if (t.status === 'planned') assert.ok(t.note, t.kind);
  });
});
