/**
 * Policy sources (CONTRACT.md: `--policies SRC`): a directory of `.rego`
 * files with `data.json` beside them, one `.rego` file, an OPA bundle
 * (`bundle.tar.gz`), or a bundle unpacked into a directory (`policy.wasm`,
 * `data.json`, `.manifest`). Each becomes the same thing: a Wasm module for
 * @open-policy-agent/opa-wasm, its data, and a revision that names exactly
 * these sources.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

import { BustedError, ErrorCode } from '../model/errors.js';
import { bundleFromFiles, readBundleArchive, type BundleFile } from './bundle.js';
import { isPlain, parseDataFile, type Plain } from './data-file.js';
import { putOwn } from './own-key.js';
import type { InputUse } from './analysis.js';
import { compile, type Source } from './compiler.js';
import type { ParseOptions } from './rego/parser.js';

/** The entrypoints busted evaluates (CONTRACT.md, Policies). */
export const ENTRYPOINTS = ['busted/decision', 'busted/reasons'] as const;
/**
 * Entrypoints a policy may leave out: `busted/reasons` (reasons are then
 * empty) and `busted/kill`, true when a blocked event's process is to be
 * killed as well.
 */
export const OPTIONAL_ENTRYPOINTS = ['busted/kill'] as const;

export interface PolicyBuild {
  kind: 'rego' | 'bundle';
  wasm: Uint8Array;
  data: Record<string, unknown>;
  /** `sha256:<16 hex>` of the sources (or the bundle manifest's revision when it has one) */
  revision: string;
  /** the files it was built from, relative to SRC */
  files: string[];
  /** what the policy reads of its input (Rego we compiled); undefined for a bundle's opaque policy.wasm */
  inputs?: InputUse;
}

/** Every .rego file below dir (`*_test.rego` left out unless asked for), in a stable order. */
export function regoSources(dir: string, opts: { tests?: boolean } = {}): Source[] {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new BustedError(ErrorCode.USAGE, `--policies ${dir}: no such file or directory`, 'policies');
  }
  const files: string[] = [];
  const walk = (d: string, seen: Set<string>) => {
    for (const e of entries(d, seen).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.kind === 'dir' && !e.name.startsWith('.') && e.name !== 'node_modules') walk(e.path, seen);
      else if (e.name.endsWith('.rego') && e.kind !== 'dir' && (opts.tests === true || !e.name.endsWith('_test.rego'))) {
        if (e.kind === 'broken') throw new BustedError(ErrorCode.POLICY, `${e.path}: a symbolic link to nothing (${e.why})`, 'policies');
        files.push(e.path);
      }
    }
  };
  if (st.isDirectory()) walk(dir, new Set());
  else files.push(dir);
  if (!files.length) throw new BustedError(ErrorCode.USAGE, `--policies ${dir}: no .rego files`, 'policies');
  return files.map((f) => ({ file: st.isDirectory() ? relative(dir, f) : f, text: readFileSync(f, 'utf8') }));
}

/** The data files beside the policies (CONTRACT.md: data.json/data.yaml; `.yml` as OPA's loader reads it too). */
const DATA_FILES = ['data.json', 'data.yaml', 'data.yml'] as const;

/** B merged into A (objects key by key, recursively); the same key with other values in both is an error naming them. */
function mergeData(a: Plain, b: Plain, files: string, at = ''): Plain {
  const out: Plain = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const path = at ? `${at}.${k}` : k;
    // own keys, defined (own-key.ts): "__proto__" in a data file is a key, not the object's prototype
    if (!Object.hasOwn(out, k)) putOwn(out, k, v);
    else if (isPlain(out[k]) && isPlain(v)) putOwn(out, k, mergeData(out[k] as Plain, v, files, path));
    else if (JSON.stringify(out[k]) !== JSON.stringify(v)) throw new BustedError(ErrorCode.POLICY, `${files} both set data.${path}, differently`, 'data');
  }
  return out;
}

/**
 * The data beside the policies: data.json, data.yaml and data.yml, merged
 * as OPA's loader merges the files of one directory. `value` is the merged
 * object ({} when there is none), `text` the same as JSON, `files` each
 * file's name and text as read. A file that is not an object, that does
 * not parse, or that sets a key another sets differently is an error
 * naming it.
 */
export function readPolicyData(dir: string): { value: Plain; text: string; files: Array<[string, string]> } {
  const files: Array<[string, string]> = [];
  let value: Plain | undefined;
  for (const name of DATA_FILES) {
    const path = join(dir, name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw new BustedError(ErrorCode.POLICY, `${path}: ${(e as Error).message}`, name);
    }
    const v = parseDataFile(path, name, text, true);
    value = value === undefined ? v : mergeData(value, v, `${files.map(([f]) => join(dir, f)).join(', ')} and ${path}`);
    files.push([name, text]);
  }
  if (value === undefined) return { value: {}, text: '{}', files };
  // data.json alone goes as it was written; anything else as one JSON text
  return { value, text: files.length === 1 && files[0]![0] === 'data.json' ? files[0]![1] : JSON.stringify(value), files };
}

/** The data beside the policies as JSON text ('{}' when there is none): readPolicyData(dir).text. */
export function dataJsonText(dir: string): string {
  return readPolicyData(dir).text;
}

function revisionOf(parts: Array<[string, string | Buffer]>): string {
  const h = createHash('sha256');
  for (const [name, body] of [...parts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    h.update(`${name}\0${Buffer.byteLength(body)}\0`);
    h.update(body);
  }
  return `sha256:${h.digest('hex').slice(0, 16)}`;
}

function isBundleDir(dir: string): boolean {
  try {
    return statSync(join(dir, 'policy.wasm')).isFile();
  } catch {
    return false;
  }
}

function bundleDirFiles(dir: string): BundleFile[] {
  const out: BundleFile[] = [];
  const walk = (d: string, seen: Set<string>) => {
    for (const e of entries(d, seen)) {
      // `..data`, `..2024_…`: a Kubernetes volume's own entries (AtomicWriter), which the files link through
      if (e.name.startsWith('..')) continue;
      if (e.kind === 'dir') walk(e.path, seen);
      else if (e.kind === 'file') out.push({ name: relative(dir, e.path).split('\\').join('/'), data: readFileSync(e.path) });
    }
  };
  walk(dir, new Set());
  return out;
}

interface Entry {
  name: string;
  path: string;
  /** what the entry is, symbolic links followed; `broken`: a link to nothing (why in `why`) */
  kind: 'file' | 'dir' | 'other' | 'broken';
  why?: string;
}

/**
 * The entries of directory D with symbolic links followed. Policies are
 * often mounted through links: a Kubernetes ConfigMap volume makes every
 * file `p.rego -> ..data/p.rego`, and a policy repository may link shared
 * rules in. Dirent.isFile() is false for a link, and the walks used to skip
 * them: a ConfigMap directory was "no .rego files", and a linked file among
 * real ones was left out of the policy without a word (its block rules
 * never ran). A directory met again through a link (a loop) is walked once.
 */
function entries(d: string, seen: Set<string>): Entry[] {
  const real = realpathSync(d);
  if (seen.has(real)) return [];
  seen.add(real);
  return readdirSync(d, { withFileTypes: true }).map((e) => {
    const path = join(d, e.name);
    if (e.isDirectory()) return { name: e.name, path, kind: 'dir' };
    if (e.isFile()) return { name: e.name, path, kind: 'file' };
    if (!e.isSymbolicLink()) return { name: e.name, path, kind: 'other' };
    try {
      const t = statSync(path);
      return { name: e.name, path, kind: t.isDirectory() ? 'dir' : t.isFile() ? 'file' : 'other' };
    } catch (err) {
      return { name: e.name, path, kind: 'broken', why: (err as NodeJS.ErrnoException).code ?? String(err) };
    }
  });
}

/**
 * A policy source as read at one moment: every file it is built from, in
 * memory. The build is made from this and never from the files again, so
 * it is exactly what `digest` names; a watcher that reads the source again
 * and finds the same digest knows that its build is still what the files
 * say (watch.ts).
 */
export type PolicySnapshot =
  | { kind: 'bundle-file'; src: string; digest: string; bytes: Buffer }
  | { kind: 'bundle-dir'; src: string; digest: string; files: BundleFile[] }
  | { kind: 'rego'; src: string; digest: string; sources: Source[]; data: ReturnType<typeof readPolicyData> };

/**
 * Reads SRC whole. Throws BustedError (usage, policy) for what cannot be
 * read: no such path, no .rego files, a data file that does not parse.
 */
export function readPolicySource(src: string): PolicySnapshot {
  let st;
  try {
    st = statSync(src);
  } catch {
    throw new BustedError(ErrorCode.USAGE, `--policies ${src}: no such file or directory`, 'policies');
  }
  if (st.isFile() && !src.endsWith('.rego')) {
    const bytes = readFileSync(src);
    return { kind: 'bundle-file', src, digest: revisionOf([['bundle', bytes]]), bytes };
  }
  if (st.isDirectory() && isBundleDir(src)) {
    const files = bundleDirFiles(src);
    return { kind: 'bundle-dir', src, digest: revisionOf(files.map((f) => [f.name, f.data])), files };
  }
  const sources = regoSources(src);
  const data = st.isDirectory() ? readPolicyData(src) : { value: {}, text: '{}', files: [] };
  const parts: Array<[string, string]> = sources.map((s) => [s.file, s.text]);
  parts.push(...data.files);
  return { kind: 'rego', src, digest: revisionOf(parts), sources, data };
}

/**
 * Reads and, for Rego, compiles a policy source. Throws BustedError
 * (usage, policy) for what cannot be read, and RegoErrors (file:row:col)
 * for Rego that does not compile.
 */
export function buildPolicy(src: string, entrypoints: readonly string[] = ENTRYPOINTS, opts: { parse?: ParseOptions } = {}): PolicyBuild {
  return buildSnapshot(readPolicySource(src), entrypoints, opts);
}

/** The build of a source as SNAP read it (buildPolicy, without reading). */
export function buildSnapshot(snap: PolicySnapshot, entrypoints: readonly string[] = ENTRYPOINTS, opts: { parse?: ParseOptions } = {}): PolicyBuild {
  if (snap.kind === 'bundle-file') {
    const b = readBundleArchive(snap.bytes, snap.src);
    return { kind: 'bundle', wasm: b.wasm, data: b.data, revision: b.revision || snap.digest, files: b.files };
  }
  if (snap.kind === 'bundle-dir') {
    const b = bundleFromFiles(snap.files, snap.src);
    return { kind: 'bundle', wasm: b.wasm, data: b.data, revision: b.revision || snap.digest, files: b.files };
  }
  const { sources, data } = snap;
  // what busted evaluates: decision required, reasons and kill when defined
  const ours = entrypoints === ENTRYPOINTS;
  const { wasm, inputs } = compile(sources, {
    entrypoints: ours ? [ENTRYPOINTS[0]] : [...entrypoints],
    optional: ours ? [ENTRYPOINTS[1], ...OPTIONAL_ENTRYPOINTS] : [],
    parse: opts.parse,
  });
  return {
    kind: 'rego',
    wasm,
    data: data.value,
    revision: snap.digest,
    files: [...sources.map((s) => s.file), ...data.files.map(([name]) => name)],
    inputs,
  };
}
