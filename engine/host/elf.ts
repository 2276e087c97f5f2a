/**
 * A minimal ELF64 reader: the dynamic symbols a binary exports, read with
 * positioned reads (the node binary is ~100 MB; only its headers and
 * .dynsym/.dynstr are touched). Enough to find SSL_write and friends.
 * Layouts: System V gABI, "Sections" and "Symbol Table" chapters.
 */
import { closeSync, openSync, readSync } from 'node:fs';

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
    const fileOffset = (v: bigint): number | undefined => {
      const seg = loads.find((l) => v >= l.vaddr && v < l.vaddr + l.memsz);
      return seg ? Number(v - seg.vaddr + seg.off) : undefined;
    };
    const shoff = Number(eh.readBigUInt64LE(0x28));
    const shentsize = eh.readUInt16LE(0x3a);
    const shnum = eh.readUInt16LE(0x3c);
    if (!shoff || shentsize < 64 || shnum > 4096) return out;
    const sh = read(fd, shoff, shentsize * shnum);
    const section = (i: number) => {
      const o = i * shentsize;
      return { type: sh.readUInt32LE(o + 4), offset: Number(sh.readBigUInt64LE(o + 0x18)), size: Number(sh.readBigUInt64LE(o + 0x20)), link: sh.readUInt32LE(o + 0x28), entsize: Number(sh.readBigUInt64LE(o + 0x38)) };
    };
    for (let i = 0; i < shnum; i++) {
      const s = section(i);
      if (s.type !== SHT_DYNSYM || s.entsize < 24 || s.size > 64 << 20) continue;
      const strtab = section(s.link);
      if (strtab.size > 64 << 20) continue;
      const syms = read(fd, s.offset, s.size);
      const strs = read(fd, strtab.offset, strtab.size);
      for (let o = 0; o + 24 <= syms.length; o += s.entsize) {
        const nameOff = syms.readUInt32LE(o);
        const shndx = syms.readUInt16LE(o + 6);
        const value = syms.readBigUInt64LE(o + 8);
        if (shndx === 0 || value === 0n) continue; // undefined: imported, not exported
        const end = strs.indexOf(0, nameOff);
        const name = strs.toString('latin1', nameOff, end < 0 ? strs.length : end);
        // Versioned names are stored plain; the version lives in .gnu.version.
        if (want.has(name)) out.set(name, { name, value, size: syms.readBigUInt64LE(o + 16), offset: fileOffset(value) });
      }
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
