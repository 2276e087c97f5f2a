/**
 * OPA bundles (https://www.openpolicyagent.org/docs/latest/management-bundles/):
 * a gzipped tar, or the same files unpacked in a directory, holding
 * `/policy.wasm` (the module `opa build -t wasm` writes), `data.json` files
 * whose directory is their place in `data` (`/roles/data.json` is
 * `data.roles`), and `/.manifest` (revision, roots, wasm entrypoints).
 * Rego files in a bundle are ignored when it has a Wasm module, as OPA's
 * Wasm SDKs do.
 *
 * The tar reader knows what Go's archive/tar writes for such a bundle:
 * ustar headers with their name prefix, PAX `path` records and GNU long
 * names; anything else that is not a regular file is skipped.
 */
import { gunzipSync } from 'node:zlib';

import { BustedError, ErrorCode } from '../model/errors.js';
import { isDataFile, parseDataFile } from './data-file.js';
import { putOwn } from './own-key.js';

export interface BundleFile {
  /** the path inside the bundle, without a leading slash: `policy.wasm`, `roles/data.json` */
  name: string;
  data: Buffer;
}

export interface Bundle {
  wasm: Uint8Array;
  data: Record<string, unknown>;
  /** the manifest's entrypoints (`busted/decision`), empty when it lists none */
  entrypoints: string[];
  /** the manifest's revision, '' when absent */
  revision: string;
  files: string[];
}

const fail = (where: string, msg: string): never => {
  throw new BustedError(ErrorCode.POLICY, `${where}: ${msg}`, 'policies');
};

function cstr(b: Buffer, at: number, len: number): string {
  const s = b.subarray(at, at + len);
  const z = s.indexOf(0);
  return (z < 0 ? s : s.subarray(0, z)).toString('utf8');
}

function octal(b: Buffer, at: number, len: number, where: string): number {
  const t = cstr(b, at, len).trim();
  if (t === '') return 0;
  if (!/^[0-7]+$/.test(t)) fail(where, `tar header field at ${at} is not octal: ${JSON.stringify(t)}`);
  return parseInt(t, 8);
}

/** The regular files of a tar archive. */
export function untar(archive: Buffer, where: string): BundleFile[] {
  const out: BundleFile[] = [];
  let off = 0;
  let longName: string | undefined;
  while (off + 512 <= archive.length) {
    const h = archive.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (sum !== octal(h, 148, 8, where)) fail(where, `tar header checksum mismatch at byte ${off}`);
    const size = octal(h, 124, 12, where);
    const type = String.fromCharCode(h[156]!);
    const body = archive.subarray(off + 512, off + 512 + size);
    if (body.length < size) fail(where, `tar entry at byte ${off} is cut short`);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      // PAX extended header: "<len> key=value\n" records
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
      if (m) longName = m[1];
      continue;
    }
    if (type === 'L') {
      longName = cstr(body, 0, body.length);
      continue;
    }
    if (type !== '0' && type !== '\0' && type !== '7') {
      longName = undefined;
      continue;
    }
    const prefix = cstr(h, 257, 6) === 'ustar' ? cstr(h, 345, 155) : '';
    const name = longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
    longName = undefined;
    out.push({ name: name.replace(/^\.?\/+/, ''), data: Buffer.from(body) });
  }
  return out;
}

/** Puts `value` at `path` in `root`, merging objects (two data files for one path: OPA refuses; so do we). */
function place(root: Record<string, unknown>, path: string[], value: unknown, where: string): void {
  // Directory names and keys come from the bundle: own keys only, each
  // defined (putOwn), never assigned.
  if (path.length === 0) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(where, 'the root data file must hold an object');
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (Object.hasOwn(root, k)) fail(where, `data.${k} is defined twice`);
      putOwn(root, k, v);
    }
    return;
  }
  let cur = root;
  for (const seg of path.slice(0, -1)) {
    const next = Object.hasOwn(cur, seg) ? cur[seg] : undefined;
    if (next === undefined) putOwn(cur, seg, {});
    else if (next === null || typeof next !== 'object' || Array.isArray(next)) fail(where, `data.${path.join('.')} lies inside a value that is not an object`);
    cur = cur[seg] as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  if (Object.hasOwn(cur, last)) fail(where, `data.${path.join('.')} is defined twice`);
  putOwn(cur, last, value);
}

/** A bundle from its files (read from a tar or a directory). */
export function bundleFromFiles(files: BundleFile[], where: string): Bundle {
  const wasm = files.find((f) => f.name === 'policy.wasm');
  if (wasm === undefined) fail(where, 'no /policy.wasm in the bundle (build it with `busted compile -o X.tar.gz` or `opa build -t wasm`)');
  let entrypoints: string[] = [];
  let revision = '';
  const manifest = files.find((f) => f.name === '.manifest');
  if (manifest !== undefined) {
    let m: { revision?: unknown; wasm?: Array<{ entrypoint?: unknown }> };
    try {
      m = JSON.parse(manifest.data.toString('utf8'));
    } catch (e) {
      return fail(`${where}/.manifest`, (e as Error).message);
    }
    if (typeof m.revision === 'string') revision = m.revision;
    if (Array.isArray(m.wasm)) entrypoints = m.wasm.map((w) => String(w.entrypoint ?? '')).filter((e) => e !== '');
  }
  const data: Record<string, unknown> = {};
  // data.json, data.yaml and data.yml, as opa build reads them; the directory is the place in data
  for (const f of files.filter((x) => isDataFile(x.name)).sort((a, b) => a.name.localeCompare(b.name))) {
    const parts = f.name.split('/');
    const v = parseDataFile(`${where}/${f.name}`, parts[parts.length - 1]!, f.data.toString('utf8'), false);
    place(data, parts.slice(0, -1), v, `${where}/${f.name}`);
  }
  return { wasm: new Uint8Array(wasm!.data), data, entrypoints, revision, files: files.map((f) => f.name).sort() };
}

/**
 * What a bundle may unpack to. A few kilobytes of gzip can unpack to
 * gigabytes: unbounded, one bad bundle from a URL would take the agent's
 * memory, and enforcement with it, instead of being refused.
 */
export const MAX_UNPACKED = 256 << 20;

/** A `bundle.tar.gz` (or plain tar) from its bytes. */
export function readBundleArchive(bytes: Buffer, where: string): Bundle {
  let tarBytes = bytes;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      tarBytes = gunzipSync(bytes, { maxOutputLength: MAX_UNPACKED });
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') fail(where, `unpacks to more than ${MAX_UNPACKED >> 20} MiB`);
      fail(where, `not a gzip file: ${(e as Error).message}`);
    }
  }
  return bundleFromFiles(untar(tarBytes, where), where);
}

/** A ustar archive (POSIX.1-1988 header layout), enough for a bundle's files; `type` is the header's typeflag ('0' a file, 'x' a PAX record). */
export function tar(files: Array<{ name: string; data: Buffer; type?: string }>): Buffer {
  const blocks: Buffer[] = [];
  for (const f of files) {
    const h = Buffer.alloc(512);
    h.write(f.name, 0, 100, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(f.data.length.toString(8).padStart(11, '0') + '\0', 124);
    h.write(Math.floor(Date.now() / 1000).toString(8).padStart(11, '0') + '\0', 136);
    h.write('        ', 148); // checksum counts as spaces while summing
    h.write(f.type ?? '0', 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h, f.data, Buffer.alloc((512 - (f.data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
