/**
 * `busted compile --policies DIR -o OUT [-e ENTRYPOINT ...]`: Rego to a Wasm
 * module (OUT.wasm) or an OPA-style bundle (OUT.tar.gz: /policy.wasm,
 * /data.json, /.manifest with the wasm entrypoints, as `opa build -t wasm`
 * lays it out). Exit 0, or 2 for a usage or compile error.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BustedError, ErrorCode } from '../model/errors.js';
import { compile, type Source } from '../policy/compiler.js';
import { toJSON } from '../policy/ir/ir.js';
import { formatAst } from '../policy/rego/print.js';
import { parseModule } from '../policy/rego/parser.js';
import { RegoError, RegoErrors } from '../policy/rego/errors.js';

export interface CompileCliOptions {
  policies: string;
  output: string;
  entrypoint: string[];
  dumpIr?: boolean;
  dumpAst?: boolean;
}

/** Every .rego file below dir (tests excluded), in a stable order. */
export function regoSources(dir: string): Source[] {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new BustedError(ErrorCode.USAGE, `--policies ${dir}: no such file or directory`, 'policies');
  }
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory() && !e.name.startsWith('.')) walk(p);
      else if (e.isFile() && e.name.endsWith('.rego') && !e.name.endsWith('_test.rego')) files.push(p);
    }
  };
  if (st.isDirectory()) walk(dir);
  else files.push(dir);
  if (!files.length) throw new BustedError(ErrorCode.USAGE, `--policies ${dir}: no .rego files`, 'policies');
  return files.map((f) => ({ file: st.isDirectory() ? relative(dir, f) : f, text: readFileSync(f, 'utf8') }));
}

/** data.json beside the policies, if any. */
function dataJson(dir: string): string {
  try {
    const text = readFileSync(join(dir, 'data.json'), 'utf8');
    JSON.parse(text);
    return text;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return '{}';
    throw new BustedError(ErrorCode.USAGE, `${join(dir, 'data.json')}: ${(e as Error).message}`, 'data.json');
  }
}

/** A ustar archive (POSIX.1-1988 header layout), enough for a bundle's three files. */
export function tar(files: Array<{ name: string; data: Buffer }>): Buffer {
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
    h.write('0', 156);
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

export async function runCompile(o: CompileCliOptions): Promise<number> {
  const entrypoints = o.entrypoint.length ? o.entrypoint : ['busted/decision'];
  const sources = regoSources(o.policies);
  try {
    if (o.dumpAst) {
      for (const s of sources) process.stdout.write(`# ${s.file}\n${formatAst(parseModule(s.text, s.file))}\n`);
      return 0;
    }
    const out = compile(sources, { entrypoints, onIR: o.dumpIr ? (ir) => process.stdout.write(JSON.stringify(toJSON(ir), null, 2) + '\n') : undefined });
    if (o.dumpIr) return 0;
    if (o.output.endsWith('.tar.gz') || o.output.endsWith('.tgz')) {
      const manifest = {
        revision: '',
        roots: [''],
        wasm: entrypoints.map((e) => ({ entrypoint: e, module: '/policy.wasm' })),
        rego_version: 1,
      };
      const archive = tar([
        { name: '/data.json', data: Buffer.from(dataJson(o.policies)) },
        { name: '/policy.wasm', data: Buffer.from(out.wasm) },
        { name: '/.manifest', data: Buffer.from(JSON.stringify(manifest)) },
      ]);
      writeFileSync(o.output, gzipSync(archive));
    } else {
      writeFileSync(o.output.endsWith('.wasm') ? o.output : `${o.output}.wasm`, out.wasm);
    }
    return 0;
  } catch (e) {
    if (e instanceof RegoErrors || e instanceof RegoError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
