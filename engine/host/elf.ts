/**
 * A minimal ELF64 reader: the dynamic symbols a binary exports, read with
 * positioned reads (the node binary is ~100 MB; only its headers and
 * .dynsym/.dynstr are touched). Enough to find SSL_write and friends; and
 * a Go executable's crypto/tls methods (.symtab or .gopclntab), with what
 * the Go probes need of their code, decoded by iced-x86.
 * Layouts: System V gABI, "Sections" and "Symbol Table" chapters.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface ElfSymbol {
  name: string;
  /** st_value: the symbol's virtual address */
  value: bigint;
  size: bigint;
  /** where its code is in the file (what a uprobe attaches at), from the PT_LOAD segment holding it */
  offset?: number;
}

const PT_LOAD = 1;

const SHT_DYNSYM = 11;

function read(fd: number, off: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  const n = readSync(fd, b, 0, len, off);
  if (n !== len) throw new Error(`short read at ${off}`);
  return b;
}

interface LoadSegment {
  /** p_offset, p_vaddr, p_filesz, p_memsz */
  off: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
}

/** The PT_LOAD program headers of an ELF64 file whose 64-byte header is `eh` (none when the table is absent or implausible). */
function loadSegments(fd: number, eh: Buffer): LoadSegment[] {
  const phoff = Number(eh.readBigUInt64LE(0x20));
  const phentsize = eh.readUInt16LE(0x36);
  const phnum = eh.readUInt16LE(0x38);
  const out: LoadSegment[] = [];
  if (!phoff || phentsize < 56 || phnum > 512) return out;
  const ph = read(fd, phoff, phentsize * phnum);
  for (let i = 0; i < phnum; i++) {
    const o = i * phentsize;
    if (ph.readUInt32LE(o) !== PT_LOAD) continue;
    out.push({ off: ph.readBigUInt64LE(o + 8), vaddr: ph.readBigUInt64LE(o + 16), filesz: ph.readBigUInt64LE(o + 32), memsz: ph.readBigUInt64LE(o + 40) });
  }
  return out;
}

/** Where virtual address V lies in the file, by the PT_LOAD segment whose file bytes hold it; undefined past them. */
function fileOffsetIn(loads: readonly LoadSegment[], v: bigint): number | undefined {
  const seg = loads.find((l) => v >= l.vaddr && v < l.vaddr + l.filesz);
  return seg ? Number(v - seg.vaddr + seg.off) : undefined;
}

/**
 * The defined, non-zero symbols among WANT in the symbol table SEC
 * (.dynsym or .symtab, its names in the section it links to), at most
 * MAX bytes of either: their addresses and sizes. A name's first byte is
 * checked before the name is decoded (a Go binary's .symtab has tens of
 * thousands). Versioned names are stored plain; the version lives in
 * .gnu.version.
 */
function tableSymbols(fd: number, secs: readonly Section[], sec: Section, want: ReadonlySet<string>, max: number): Map<string, { value: bigint; size: bigint }> {
  const out = new Map<string, { value: bigint; size: bigint }>();
  const strtab = secs[sec.link];
  if (sec.entsize < 24 || sec.size > max || !strtab || strtab.size > max) return out;
  const syms = read(fd, sec.offset, sec.size);
  const strs = read(fd, strtab.offset, strtab.size);
  const firsts = new Set([...want].map((w) => w.charCodeAt(0)));
  for (let o = 0; o + 24 <= syms.length; o += sec.entsize) {
    const nameOff = syms.readUInt32LE(o);
    if (!firsts.has(strs[nameOff]!)) continue;
    const value = syms.readBigUInt64LE(o + 8);
    if (value === 0n || syms.readUInt16LE(o + 6) === 0) continue; // undefined: imported, not exported
    const end = strs.indexOf(0, nameOff);
    const name = strs.toString('latin1', nameOff, end < 0 ? strs.length : end);
    if (want.has(name)) out.set(name, { value, size: syms.readBigUInt64LE(o + 16) });
  }
  return out;
}

/** Exported (defined, non-zero) dynamic symbols among `wanted`. */
export function dynamicSymbols(path: string, wanted: readonly string[]): Map<string, ElfSymbol> {
  const out = new Map<string, ElfSymbol>();
  const want = new Set(wanted);
  const fd = openSync(path, 'r');
  try {
    const eh = read(fd, 0, 64);
    if (eh.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path}: not an ELF file`);
    if (eh[4] !== 2 || eh[5] !== 1) throw new Error(`${path}: not a little-endian ELF64 file`);
    // program headers: virtual address → file offset
    const loads = loadSegments(fd, eh);
    const secs = sections(fd, eh);
    for (const sec of secs) {
      if (sec.type !== SHT_DYNSYM) continue;
      for (const [name, f] of tableSymbols(fd, secs, sec, want, 64 << 20)) out.set(name, { name, ...f, offset: fileOffsetIn(loads, f.value) });
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/**
 * The function that every one of `wrappers` calls first (its first `call
 * rel32`, e8), when the wrappers are thin (at most `maxSize` bytes each),
 * all call the same function first, and that function begins with a push
 * of a register; undefined otherwise. Its file offset.
 *
 * SSL_write and SSL_write_ex (and SSL_read and SSL_read_ex) of OpenSSL's
 * libssl are such wrappers around one internal function
 * (ssl_write_internal(s, buf, num, &written), ssl_read_internal): the same
 * SSL*, buffer and length, and the count through a pointer. libssl's
 * wrappers begin with `sub $n,%rsp`, which a uprobe must single-step out of
 * line, while the internal functions begin with `push`, which the kernel
 * emulates: a probe there costs about a third (measured here: ~18 us vs
 * ~6.5 us per call), and one probe serves both wrappers. Where the
 * wrappers are not thin (node's OpenSSL inlines the internal function
 * into them, and their first calls are to helpers), nothing is found and
 * the wrappers are probed as before.
 */
export function commonCallee(path: string, wrappers: readonly ElfSymbol[], maxSize = 192): number | undefined {
  if (wrappers.length < 2 || wrappers.some((w) => w.offset === undefined || w.size === 0n || w.size > BigInt(maxSize))) return undefined;
  const fd = openSync(path, 'r');
  try {
    // file ranges of the loaded segments: [p_offset, p_offset + p_filesz)
    const segs = loadSegments(fd, read(fd, 0, 64)).map((l): [number, number] => [Number(l.off), Number(l.filesz)]);
    const segOf = (off: number) => segs.find(([s, n]) => off >= s && off < s + n);
    let target: number | undefined;
    for (const w of wrappers) {
      const seg = segOf(w.offset!);
      if (!seg || w.offset! + Number(w.size) > seg[0] + seg[1]) return undefined;
      const code = read(fd, w.offset!, Number(w.size));
      const i = code.indexOf(0xe8);
      if (i < 0 || i + 5 > code.length) return undefined;
      const t = w.offset! + i + 5 + code.readInt32LE(i + 1);
      if (segOf(t) !== seg || wrappers.some((x) => x.offset === t)) return undefined;
      if (target !== undefined && t !== target) return undefined;
      target = t;
    }
    const b = read(fd, target!, 2);
    const push = (b[0]! >= 0x50 && b[0]! <= 0x57) || (b[0] === 0x41 && b[1]! >= 0x50 && b[1]! <= 0x57);
    return push ? target : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

const EM_X86_64 = 62;
const SHT_SYMTAB = 2;

/** What busted needs of a Go executable to probe its crypto/tls. */
export interface GoBinary {
  /** the Go release that built it, as its build info says ("go1.19.8") */
  version: string;
  /** the wanted functions it has, at their file offsets */
  symbols: Map<string, ElfSymbol>;
  /** where the functions' RET instructions are (file offsets), for those asked */
  retSites: Record<string, number[]>;
  /** the `jbe` of the stack check (file offset) of those asked that have one (goEntrySite) */
  stackChecks: Record<string, number>;
  /** those of RETS that keep their first two arguments in their spill slots to the end (goKeepsArgs) */
  keepsArgs: string[];
}

interface Section {
  name: string;
  type: number;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

function sections(fd: number, eh: Buffer): Section[] {
  const shoff = Number(eh.readBigUInt64LE(0x28));
  const shentsize = eh.readUInt16LE(0x3a);
  const shnum = eh.readUInt16LE(0x3c);
  const shstrndx = eh.readUInt16LE(0x3e);
  if (!shoff || shentsize < 64 || shnum > 4096 || shstrndx >= shnum) return [];
  const sh = read(fd, shoff, shentsize * shnum);
  const raw = (i: number) => {
    const o = i * shentsize;
    return {
      nameOff: sh.readUInt32LE(o),
      type: sh.readUInt32LE(o + 4),
      addr: sh.readBigUInt64LE(o + 0x10),
      offset: Number(sh.readBigUInt64LE(o + 0x18)),
      size: Number(sh.readBigUInt64LE(o + 0x20)),
      link: sh.readUInt32LE(o + 0x28),
      entsize: Number(sh.readBigUInt64LE(o + 0x38)),
    };
  };
  const strs = raw(shstrndx);
  const names = strs.size > 0 && strs.size < 1 << 20 ? read(fd, strs.offset, strs.size) : Buffer.alloc(0);
  const out: Section[] = [];
  for (let i = 0; i < shnum; i++) {
    const s = raw(i);
    const end = names.indexOf(0, s.nameOff);
    out.push({ ...s, name: names.toString('latin1', s.nameOff, end < 0 ? names.length : end) });
  }
  return out;
}

/** An unsigned LEB128 varint at `at`: its value and the offset after it. */
function uvarint(b: Buffer, at: number): [number, number] {
  let v = 0;
  for (let shift = 0; at < b.length && shift < 35; shift += 7) {
    const x = b[at++]!;
    v += (x & 0x7f) * 2 ** shift;
    if (x < 0x80) return [v, at];
  }
  throw new Error('bad varint');
}

/**
 * The Go release in a .go.buildinfo section (cmd/go/internal/version,
 * debug/buildinfo): a 16-byte header "\xff Go buildinf:" + pointer size +
 * flags; with flag 2 (Go 1.18+) the version follows at 32 as a varint-
 * prefixed string, before that it is reached through a pointer at 16.
 */
function goVersion(fd: number, sec: Section, addrToOffset: (v: bigint) => number | undefined): string | undefined {
  const h = read(fd, sec.offset, Math.min(sec.size, 64));
  if (h.length < 32 || h.toString('latin1', 0, 14) !== '\xff Go buildinf:') return undefined;
  const ptrSize = h[14]!;
  const flags = h[15]!;
  if (flags & 1) return undefined; // big-endian
  if (flags & 2) {
    const b = read(fd, sec.offset + 32, Math.min(sec.size - 32, 64));
    const [n, at] = uvarint(b, 0);
    return n > 0 && at + n <= b.length ? b.toString('latin1', at, at + n) : undefined;
  }
  if (ptrSize !== 8) return undefined;
  const hdrAt = addrToOffset(h.readBigUInt64LE(16));
  if (hdrAt === undefined) return undefined;
  const hdr = read(fd, hdrAt, 16);
  const strAt = addrToOffset(hdr.readBigUInt64LE(0));
  const len = Number(hdr.readBigUInt64LE(8));
  return strAt !== undefined && len > 0 && len < 64 ? read(fd, strAt, len).toString('latin1') : undefined;
}

/** Go release numbers of "go1.19.8" (or "devel go1.22-..."): [major, minor], undefined when unrecognised. */
export function goRelease(version: string): [number, number] | undefined {
  const m = /go(\d+)\.(\d+)/.exec(version);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * Wanted functions from .gopclntab, for binaries built without a symbol
 * table (`-ldflags=-s`): Go 1.18+'s layout (runtime/symtab.go pcHeader,
 * functab, _func): entries as offsets from textStart, each function's size
 * the distance to the next entry.
 */
function pclntabFunctions(fd: number, secs: Section[], want: Set<string>): Map<string, { value: bigint; size: bigint }> {
  const out = new Map<string, { value: bigint; size: bigint }>();
  const sec = secs.find((s) => s.name === '.gopclntab');
  if (!sec || sec.size < 64 || sec.size > 256 << 20) return out;
  const t = read(fd, sec.offset, sec.size);
  const magic = t.readUInt32LE(0);
  if ((magic !== 0xfffffff0 && magic !== 0xfffffff1) || t[7] !== 8) return out;
  const word = (i: number) => Number(t.readBigUInt64LE(8 + 8 * i));
  const nfunc = word(0);
  const textStart = t.readBigUInt64LE(8 + 8 * 2);
  const names = word(3);
  const functab = word(7);
  if (functab + (nfunc + 1) * 8 > t.length) return out;
  for (let i = 0; i < nfunc; i++) {
    const at = functab + i * 8;
    const fn = functab + t.readUInt32LE(at + 4);
    if (fn + 8 > t.length) continue;
    const nameAt = names + t.readInt32LE(fn + 4);
    const end = t.indexOf(0, nameAt);
    if (end < 0) continue;
    const name = t.toString('latin1', nameAt, end);
    if (!want.has(name)) continue;
    const entry = t.readUInt32LE(at);
    const next = t.readUInt32LE(at + 8);
    out.set(name, { value: textStart + BigInt(entry), size: BigInt(next - entry) });
  }
  return out;
}

/**
 * The iced-x86 decoder (WebAssembly), loaded the first time a Go binary is
 * looked at: 50-90 ms, and ~15 MB of RSS, which an agent that never meets
 * a Go program does not pay (loading it at start put the enforce agent's
 * RSS at 149 MB, against issue 2's 150).
 */
type Iced = typeof import('iced-x86');
type Instruction = InstanceType<Iced['Instruction']>;
let iced: Iced | undefined;
function decoder(): Iced {
  iced ??= createRequire(import.meta.url)('iced-x86') as Iced;
  return iced;
}

/**
 * Each instruction of CODE (at virtual address ADDR) in turn, decoded by
 * iced-x86, to FN with its index, until FN returns false or the code
 * ends. The instruction is freed after FN (the decoder's memory is the
 * WebAssembly module's, not the garbage collector's).
 */
function eachInstruction(code: Uint8Array, addr: bigint, fn: (ins: Instruction, i: number) => boolean): void {
  const { Decoder, DecoderOptions } = decoder();
  const d = new Decoder(64, code, DecoderOptions.None);
  d.ip = addr;
  try {
    for (let i = 0; d.canDecode; i++) {
      const ins = d.decode();
      try {
        if (!fn(ins, i)) return;
      } finally {
        ins.free();
      }
    }
  } finally {
    d.free();
  }
}

/**
 * The file offsets of the RET instructions of the function whose code is
 * CODE (at virtual address ADDR, at file offset OFF), found by decoding
 * every instruction from its entry (iced-x86): a byte 0xc3 inside another
 * instruction is no RET, and a uprobe there would corrupt the program.
 * Undefined when the code does not decode cleanly to its end.
 */
export function retSites(code: Uint8Array, addr: bigint, off: number): number[] | undefined {
  const { FlowControl, Code } = decoder();
  const out: number[] = [];
  let whole = true;
  eachInstruction(code, addr, (ins) => {
    if (ins.code === Code.INVALID) return (whole = false);
    if (ins.flowControl === FlowControl.Return) out.push(off + Number(ins.ip - addr));
    return true;
  });
  return whole ? out : undefined;
}

/**
 * The file offset of the `jbe` of a Go function's stack check, when its
 * code CODE (at ADDR, at file offset OFF) begins with one: `cmp
 * 0x10(%r14),%rsp; jbe` (or, for a large frame, `lea -N(%rsp),%r12; cmp
 * 0x10(%r14),%r12; jbe`). Nothing before the jump touches the argument
 * registers, and the kernel emulates a conditional jump where it must
 * single-step the `cmp` or `lea` out of line: a probe there costs about a
 * third. Undefined for any other prologue (the probe then goes at entry).
 */
export function goEntrySite(code: Uint8Array, addr: bigint, off: number): number | undefined {
  const { Mnemonic, Register } = decoder();
  let at: number | undefined;
  eachInstruction(code.subarray(0, 32), addr, (ins, i) => {
    if (ins.mnemonic === Mnemonic.Jbe) at = off + Number(ins.ip - addr);
    const before = ins.mnemonic === Mnemonic.Cmp || (ins.mnemonic === Mnemonic.Lea && ins.op0Register === Register.R12);
    return at === undefined && before && i < 2;
  });
  return at;
}

/**
 * Whether a Go function (code CODE at ADDR) keeps its first two arguments
 * in their spill slots, where its caller's frame reserves them, until it
 * returns: its prologue (`sub $N,%rsp` after the stack check) stores RAX
 * at N+8(%rsp) and RBX at N+16(%rsp), and nothing else in it writes there
 * or takes their address. The stack pointer is the entry's again at each
 * RET, so the arguments are at 8(%rsp) and 16(%rsp) there: a probe at the
 * RETs alone sees a call whole (crypto/tls.(*Conn).Read: the *Conn and the
 * buffer, n in RAX), and no entry probe is needed.
 */
export function goKeepsArgs(code: Uint8Array, addr: bigint): boolean {
  const { MemorySizeExt, Mnemonic, OpKind, Register } = decoder();
  let frame: bigint | undefined;
  const stores = new Set<bigint>();
  let bad = false;
  eachInstruction(code, addr, (ins, i) => {
    if (frame === undefined) {
      // the prologue: the stack check, then the frame
      if (i > 4) bad = true;
      else if (ins.mnemonic === Mnemonic.Sub && ins.op0Kind === OpKind.Register && ins.op0Register === Register.RSP && ins.op1Kind !== OpKind.Register) frame = ins.immediate(1);
      return !bad;
    }
    const lo = frame + 8n;
    const hi = frame + 24n; // the receiver's slot and the buffer pointer's
    for (let op = 0; op < ins.opCount; op++) {
      if (ins.opKind(op) !== OpKind.Memory || ins.memoryBase !== Register.RSP || ins.memoryIndex !== Register.None) continue;
      const at = ins.memoryDisplacement;
      // an address at or above the frame's top handed on (to be written through): no
      if (ins.mnemonic === Mnemonic.Lea) {
        if (at >= frame) bad = true;
        continue;
      }
      // a write (the first operand of anything but a compare) over the slots: only each one's own spill, once
      const size = BigInt(Math.max(MemorySizeExt.size(ins.memorySize), 1));
      if (op !== 0 || ins.mnemonic === Mnemonic.Cmp || ins.mnemonic === Mnemonic.Test || at + size <= lo || at >= hi) continue;
      const want = at === lo ? Register.RAX : at === lo + 8n ? Register.RBX : undefined;
      if (want === undefined || size !== 8n || ins.mnemonic !== Mnemonic.Mov || ins.op1Kind !== OpKind.Register || ins.op1Register !== want || stores.has(at)) bad = true;
      stores.add(at);
    }
    return !bad;
  });
  return !bad && frame !== undefined && stores.has(frame + 8n) && stores.has(frame + 16n);
}

/**
 * A Go executable for amd64 built by Go 1.17+ (the register ABI), with the
 * wanted functions (from .symtab, else .gopclntab) at their file offsets,
 * and the RET sites of those in RETS. Undefined for anything else; throws
 * when the file could not be read.
 */
export function goBinary(path: string, wanted: readonly string[], rets: readonly string[], entries: readonly string[] = []): GoBinary | undefined {
  const fd = openSync(path, 'r');
  try {
    const eh = read(fd, 0, 64);
    if (eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1 || eh.readUInt16LE(0x12) !== EM_X86_64) return undefined;
    const secs = sections(fd, eh);
    const info = secs.find((s) => s.name === '.go.buildinfo');
    if (!info) return undefined;
    const loads = loadSegments(fd, eh);
    const fileOffset = (v: bigint): number | undefined => fileOffsetIn(loads, v);
    const version = goVersion(fd, info, fileOffset);
    const rel = version !== undefined ? goRelease(version) : undefined;
    if (!rel || rel[0] !== 1 || rel[1] < 17) return undefined;
    const want = new Set(wanted);
    const symtab = secs.find((sec) => sec.type === SHT_SYMTAB);
    let found = symtab ? tableSymbols(fd, secs, symtab, want, 256 << 20) : new Map<string, { value: bigint; size: bigint }>();
    if (found.size === 0) found = pclntabFunctions(fd, secs, want);
    const symbols = new Map<string, ElfSymbol>();
    const sites: Record<string, number[]> = {};
    const stackChecks: Record<string, number> = {};
    const keepsArgs: string[] = [];
    for (const [name, f] of found) {
      const offset = fileOffset(f.value);
      if (offset === undefined) continue;
      if (rets.includes(name) || entries.includes(name)) {
        if (f.size === 0n || f.size > 1n << 20n) continue;
        const code = read(fd, offset, Number(f.size));
        if (rets.includes(name)) {
          const at = retSites(code, f.value, offset);
          if (!at?.length) continue;
          sites[name] = at;
          if (goKeepsArgs(code, f.value)) keepsArgs.push(name);
        }
        const check = entries.includes(name) ? goEntrySite(code, f.value, offset) : undefined;
        if (check !== undefined) stackChecks[name] = check;
      }
      symbols.set(name, { name, value: f.value, size: f.size, offset });
    }
    return { version: version!, symbols, retSites: sites, stackChecks, keepsArgs };
  } catch (e) {
    // a system call that failed (the file went, an I/O error) is not an answer: the caller may look again
    if ((e as NodeJS.ErrnoException).code !== undefined) throw e;
    return undefined;
  } finally {
    closeSync(fd);
  }
}
