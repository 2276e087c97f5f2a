// TLS library discovery on this machine's own files: the system libssl
// and this node are found with every probe symbol and the file offsets
// the uprobes attach at, each file once however often it is scanned.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GO_TLS, mappedFiles, TLS_PROBE_TABLE, TlsLibraryFinder, tlsFamilies } from '../../engine/host/tls-libs.js';
import { goBinary, goKeepsArgs, goRelease, retSites } from '../../engine/host/elf.js';
import { goClient, goSkipReason } from '../helpers/go-client.js';
import { makePki } from '../../engine/demo/pki.js';
import { createServer, type AddressInfo } from 'node:net';

const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';

function whichStrace(): boolean {
  return spawnSync('strace', ['-V']).status === 0;
}

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
    // GnuTLS (wget): its calls by name, no internal functions looked for
    const gnutls = libs.find((l) => l.kind === 'gnutls');
    assert.ok(gnutls && /\/libgnutls\.so\.30/.test(gnutls.path), JSON.stringify(libs.map((l) => l.path)));
    assert.deepEqual(gnutls.symbols, ['gnutls_deinit', 'gnutls_handshake', 'gnutls_record_recv', 'gnutls_record_send', 'gnutls_server_name_set', 'gnutls_transport_set_int2']);
    const gnm = execFileSync('nm', ['-D', '--defined-only', gnutls.path], { encoding: 'utf8' });
    assert.equal(gnutls.offsets.gnutls_record_send, Number.parseInt(gnm.split('\n').find((l) => / T gnutls_record_send(@@.*)?$/.test(l))!.split(' ')[0]!, 16));
    // NSS: its SSL layer in libssl3, its I/O in NSPR's libnspr4
    const nss = libs.find((l) => l.kind === 'nss');
    assert.deepEqual(nss?.symbols, ['SSL_ForceHandshake', 'SSL_ImportFD', 'SSL_ResetHandshake', 'SSL_SetURL']);
    const nspr = libs.find((l) => l.kind === 'nspr');
    assert.deepEqual(nspr?.symbols, ['PR_Close', 'PR_Read', 'PR_Recv', 'PR_Send', 'PR_Write']);
    const node = libs.find((l) => l.kind === 'openssl-static');
    assert.ok(node && node.symbols.includes('SSL_write') && node.offsets.SSL_read! > 0);
    // every process scanned, and again: nothing found twice
    f.scanAll();
    assert.deepEqual(f.system(), []);
    assert.deepEqual(f.scanAll(), []);
    assert.deepEqual(f.scanPid(process.ppid), []);
  });

  it('looks only for the families it is asked to (--tls-libs)', () => {
    const f = new TlsLibraryFinder({ kinds: ['gnutls'] });
    assert.deepEqual([...new Set(f.system().map((l) => l.kind))], ['gnutls'], 'no libssl, no node');
    assert.deepEqual(f.scanPid(process.pid === 1 ? 1 : process.ppid), []);
    assert.deepEqual(tlsFamilies(['openssl', 'nss']), ['openssl', 'nss', 'nspr']);
  });

  it('names the libraries it does not hook yet, with what stands in the way', () => {
    const planned = TLS_PROBE_TABLE.filter((t) => t.status === 'planned').map((t) => t.kind);
    assert.deepEqual(planned, ['boringssl']);
    for (const t of TLS_PROBE_TABLE) if (t.status === 'planned') assert.ok(t.note, t.kind);
  });

  it('reads the files a maps text maps, once each, with the device and inode its lines show, and only those asked for', () => {
    const maps = [
      '5582cd8a1000-5582cd8a3000 r--p 00000000 fe:00 260131                     /usr/bin/curl',
      '5582cd8a3000-5582cd8a8000 r-xp 00002000 fe:00 260131                     /usr/bin/curl',
      '5582cdc00000-5582cdc21000 rw-p 00000000 00:00 0                          [heap]',
      '7f0000000000-7f0000001000 r--p 00000000 fe:00 1836213                    /usr/lib/x86_64-linux-gnu/libssl.so.3',
      '7f0000001000-7f0000002000 r-xp 00001000 fe:00 1836213                    /usr/lib/x86_64-linux-gnu/libssl.so.3',
      '7f0000002000-7f0000003000 rw-p 00000000 00:00 0 ',
      '7f0000003000-7f0000004000 r-xp 00000000 103:02 77                        /opt/app/lib/libssl.so.3',
      '7f0000004000-7f0000005000 r-xp 00000000 fe:00 99                         /tmp/libssl.so.3 (deleted)',
      '7f0000005000-7f0000006000 r-xp 00000000 fe:00 1836213                    /usr/lib/x86_64-linux-gnu/libssl.so.3',
      '7f0000006000-7f0000007000 r-xp 00000000 fe:00 555                        /usr/lib/x86_64-linux-gnu/libc.so.6',
      '7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]',
    ].join('\n');
    const asked: string[] = [];
    const got = mappedFiles(maps, (p) => (asked.push(p), p === '/usr/bin/curl' || p.endsWith('/libssl.so.3')));
    assert.deepEqual(got, [
      { path: '/usr/bin/curl', id: 'fe:00 260131' },
      { path: '/usr/lib/x86_64-linux-gnu/libssl.so.3', id: 'fe:00 1836213' },
      { path: '/opt/app/lib/libssl.so.3', id: '103:02 77' },
    ]);
    // each run of a file's lines is asked about once; anonymous and deleted mappings never
    assert.deepEqual(asked, ['/usr/bin/curl', '/usr/lib/x86_64-linux-gnu/libssl.so.3', '/opt/app/lib/libssl.so.3', '/usr/lib/x86_64-linux-gnu/libssl.so.3', '/usr/lib/x86_64-linux-gnu/libc.so.6']);
    assert.deepEqual(mappedFiles('', () => true), []);
  });

  it('looks at a process\'s files once: scanning it again reads its maps and stats nothing', { skip: whichStrace() ? undefined : 'needs strace to count the system calls' }, () => {
    // a child node scans this process (node: its own OpenSSL) twice, under strace
    const dir = mkdtempSync(join(tmpdir(), 'busted-scan-'));
    try {
      const log = join(dir, 'trace');
      const code = `
        import { statSync } from 'node:fs';
        import { TlsLibraryFinder } from ${JSON.stringify(new URL('../../engine/host/tls-libs.js', import.meta.url).href)};
        const f = new TlsLibraryFinder({ binaries: [] });
        const mark = (n) => statSync('/busted-mark-' + n, { throwIfNoEntry: false });
        mark(1);
        const a = f.scanPid(${process.pid}, true);
        mark(2);
        const b = f.scanPid(${process.pid}, true);
        mark(3);
        console.log(JSON.stringify([a.map((l) => l.kind), b.length]));`;
      const r = spawnSync('strace', ['-f', '-o', log, '-e', 'trace=stat,lstat,newfstatat,statx,readlink,readlinkat', process.execPath, '--input-type=module', '-e', code], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), [['openssl-static'], 0]);
      const lines = readFileSync(log, 'utf8').split('\n');
      const at = (n: number) => lines.findIndex((l) => l.includes(`/busted-mark-${n}`));
      const between = (x: number, y: number) => lines.slice(at(x) + 1, at(y)).filter((l) => /\b(stat|lstat|newfstatat|statx|readlink|readlinkat)\(/.test(l));
      // the first scan stats node's binary (through /proc/PID/root and as itself) and reads it
      assert.ok(between(1, 2).some((l) => l.includes(`/proc/${process.pid}/root`)), between(1, 2).join('\n'));
      // the second: the exe link is read, and nothing is stat'ed
      assert.deepEqual(between(2, 3).map((l) => l.replace(/^\d+\s+/, '').replace(/,.*$/, '')), [`readlink("/proc/${process.pid}/exe"`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a library whose file could not be read at one look (its process gone meanwhile) is looked at again at the next', { skip: existsSync(LIBSSL) ? undefined : `no ${LIBSSL} here` }, () => {
    // a /proc of the test's making: pid 4242 maps /opt/busted-late/libssl.so.3 in a root of its own
    const dir = mkdtempSync(join(tmpdir(), 'busted-late-'));
    try {
      const proc = join(dir, 'proc');
      const rootfs = join(dir, 'rootfs');
      mkdirSync(join(proc, '4242'), { recursive: true });
      mkdirSync(join(rootfs, 'opt', 'busted-late'), { recursive: true });
      symlinkSync(rootfs, join(proc, '4242', 'root'));
      symlinkSync('/usr/bin/true', join(proc, '4242', 'exe'));
      writeFileSync(join(proc, '4242', 'maps'), '7f0000000000-7f0000001000 r-xp 00000000 fe:00 4242001                    /opt/busted-late/libssl.so.3\n');
      const f = new TlsLibraryFinder({ procRoot: proc, binaries: [] });
      assert.deepEqual(f.scanPid(4242, true), [], 'its file is not there to read');
      copyFileSync(LIBSSL, join(rootfs, 'opt', 'busted-late', 'libssl.so.3'));
      const found = f.scanPid(4242, true);
      assert.deepEqual(found.map((l) => [l.kind, l.path]), [['openssl', join(proc, '4242', 'root', 'opt', 'busted-late', 'libssl.so.3')]]);
      assert.deepEqual(f.scanPid(4242, true), [], 'once read, not again');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds a running Go executable (its crypto/tls methods, the RETs of Write and Read), with or without its symbol table, and only when asked for go', { skip: goSkipReason() }, async () => {
    const { plain, stripped } = goClient();
    // a server that accepts and never answers: the Go client waits in its handshake, long enough to be looked at
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    const pki = makePki();
    const ca = pki.caCert;
    for (const bin of [plain, stripped]) {
      const child = spawn(bin, [ca, `https://127.0.0.1:${port}/`], { stdio: 'ignore' });
      try {
        await new Promise<void>((r, j) => {
          silent.once('connection', () => r());
          child.once('exit', (c) => j(new Error(`the Go client exited ${c}`)));
        });
        assert.deepEqual(new TlsLibraryFinder({ kinds: ['openssl-static'], binaries: [] }).scanPid(child.pid!), [], 'no OpenSSL in it');
        const [lib, ...more] = new TlsLibraryFinder({ kinds: ['go'], binaries: [] }).scanPid(child.pid!);
        assert.equal(more.length, 0);
        assert.equal(lib?.kind, 'go');
        assert.equal(lib.path, bin);
        assert.match(lib.version ?? '', /^go1\.\d+/);
        assert.deepEqual(lib.symbols, [GO_TLS.close, GO_TLS.read, GO_TLS.write, GO_TLS.handshake].sort());
        assert.ok((lib.retSites?.[GO_TLS.read]?.length ?? 0) > 0, 'Read: its RETs');
        assert.equal(lib.retSites?.[GO_TLS.write], undefined, 'Write is copied at entry: its returns are not probed');
        assert.deepEqual(lib.atStackCheck, [GO_TLS.read, GO_TLS.write].sort(), 'both probed at their stack check');
        assert.deepEqual(lib.keepsArgs, [GO_TLS.read], 'Read keeps its arguments in their spill slots: read at its RETs alone');
      } finally {
        child.kill('SIGKILL');
      }
    }
    silent.close();
    rmSync(pki.dir, { recursive: true, force: true });
  });

  it('Go functions: the symbol table and .gopclntab agree; the RET sites are where objdump puts every ret', { skip: goSkipReason() ?? (spawnSync('objdump', ['--version']).status === 0 ? undefined : 'needs objdump (binutils) as the second opinion') }, () => {
    const { plain, stripped } = goClient();
    const want = Object.values(GO_TLS);
    const a = goBinary(plain, want, [GO_TLS.write, GO_TLS.read], [GO_TLS.write, GO_TLS.read])!;
    const b = goBinary(stripped, want, [GO_TLS.write, GO_TLS.read], [GO_TLS.write, GO_TLS.read])!;
    assert.ok(a && b, 'both builds are Go binaries busted can probe');
    assert.equal(a.version, b.version);
    for (const f of want) assert.equal(a.symbols.get(f)?.offset, b.symbols.get(f)?.offset, `${f}: the same place in both builds`);
    assert.deepEqual(a.retSites, b.retSites);
    assert.deepEqual(a.stackChecks, b.stackChecks);
    for (const f of [GO_TLS.write, GO_TLS.read]) {
      const sym = a.symbols.get(f)!;
      const out = execFileSync('objdump', ['-d', '--no-show-raw-insn', `--start-address=${sym.value}`, `--stop-address=${sym.value + sym.size}`, plain], { encoding: 'utf8' });
      // "  591e44:\tret" (objdump prints vaddrs; the text segment maps file offset 0 at 0x400000)
      const rets = [...out.matchAll(/^\s*([0-9a-f]+):\s+ret/gm)].map((m) => Number(BigInt(`0x${m[1]}`) - sym.value) + sym.offset!);
      assert.ok(rets.length > 0, out.slice(0, 500));
      assert.deepEqual(a.retSites[f], rets, f);
      // the stack check's jbe: the second or third instruction, after a cmp (and a lea into r12)
      const first = [...out.matchAll(/^\s*([0-9a-f]+):\s+(\S+)\s+(.*)$/gm)].slice(0, 3).map((m) => ({ at: Number(BigInt(`0x${m[1]}`) - sym.value) + sym.offset!, op: m[2], args: m[3] }));
      const jbe = first.find((i) => i.op === 'jbe');
      assert.ok(jbe && first.slice(0, first.indexOf(jbe)).every((i) => i.op === 'cmp' || (i.op === 'lea' && i.args.endsWith('%r12'))), JSON.stringify(first));
      assert.equal(a.stackChecks[f], jbe.at, `${f}: probed at its stack check's jbe`);
      // Read spills its receiver and buffer where its caller reserved them (the frame + 8, + 16) and keeps them; Write moves b on
      const frame = Number(/sub\s+\$0x([0-9a-f]+),%rsp/.exec(out)?.[1] ? `0x${/sub\s+\$0x([0-9a-f]+),%rsp/.exec(out)![1]}` : NaN);
      const spills = [`mov    %rax,0x${(frame + 8).toString(16)}(%rsp)`, `mov    %rbx,0x${(frame + 16).toString(16)}(%rsp)`];
      if (f === GO_TLS.read) {
        for (const sp of spills) assert.equal(out.split(sp).length - 1, 1, `${f}: ${sp} once`);
        assert.ok(a.keepsArgs.includes(f));
      } else {
        assert.ok(!a.keepsArgs.includes(f), `${f}: its buffer is spilled again as it moves on`);
      }
    }
    assert.equal(goBinary('/usr/bin/true', want, []), undefined, 'not a Go binary');
    assert.equal(goBinary(process.execPath, want, []), undefined, 'node is no Go binary');
  });

  it('Read keeps its receiver and buffer in their spill slots only when nothing after the prologue writes over them or takes their address', () => {
    // cmp 0x10(%r14),%rsp; jbe; sub $0x68,%rsp; mov %rax,0x70(%rsp); mov %rbx,0x78(%rsp) ... add $0x68,%rsp; ret
    const prologue = [0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0, 0, 0, 0, 0x48, 0x83, 0xec, 0x68, 0x48, 0x89, 0x44, 0x24, 0x70, 0x48, 0x89, 0x5c, 0x24, 0x78];
    const epilogue = [0x48, 0x83, 0xc4, 0x68, 0xc3];
    const keeps = (body: number[]) => goKeepsArgs(new Uint8Array([...prologue, ...body, ...epilogue]), 0x1000n);
    assert.equal(keeps([]), true);
    assert.equal(keeps([0x48, 0x8b, 0x44, 0x24, 0x70]), true, 'a load of a slot');
    assert.equal(keeps([0x48, 0x89, 0x6c, 0x24, 0x60]), true, 'a store below them (the frame pointer)');
    assert.equal(keeps([0x44, 0x0f, 0x11, 0x7c, 0x24, 0x68]), false, 'movups %xmm15,0x68(%rsp): 16 zero bytes over the receiver');
    assert.equal(keeps([0x48, 0x8d, 0x7c, 0x24, 0x70]), false, 'lea 0x70(%rsp),%rdi: its address handed on');
    assert.equal(keeps([0x48, 0x89, 0x4c, 0x24, 0x78]), false, 'mov %rcx,0x78(%rsp): the buffer moved on');
    assert.equal(goKeepsArgs(new Uint8Array([0x48, 0x89, 0x44, 0x24, 0x08, 0xc3]), 0x1000n), false, 'no frame: nothing to go by');
  });

  it('RET sites: only whole instructions (a c3 byte inside another is none); code that does not decode gives none', () => {
    // mov eax, 0xc3c3c3c3 (b8 c3 c3 c3 c3); ret (c3); xor eax, eax (31 c0); ret (c3)
    assert.deepEqual(retSites(new Uint8Array([0xb8, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0x31, 0xc0, 0xc3]), 0x1000n, 100), [105, 108]);
    // 0x06 (push es) does not exist in 64-bit mode
    assert.equal(retSites(new Uint8Array([0xc3, 0x06]), 0x1000n, 0), undefined);
    assert.deepEqual(goRelease('go1.19.8'), [1, 19]);
    assert.deepEqual(goRelease('devel go1.22-abc'), [1, 22]);
    assert.equal(goRelease('weird'), undefined);
  });
});
