/**
 * `busted compile --policies DIR -o OUT [-e ENTRYPOINT ...]`: Rego to a Wasm
 * module (OUT.wasm) or an OPA-style bundle (OUT.tar.gz: /policy.wasm,
 * /data.json, /.manifest with the wasm entrypoints, as `opa build -t wasm`
 * lays it out). Exit 0, or 2 for a usage or compile error.
 */
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { BustedError, ErrorCode } from '../model/errors.js';
import { annotatedEntrypoints } from '../policy/compile/annotations.js';
import { compileParsed } from '../policy/compiler.js';
import { tar } from '../policy/bundle.js';
import { dataJsonText, regoSources } from '../policy/source.js';
import { toJSON } from '../policy/ir/ir.js';
import { formatAst } from '../policy/rego/print.js';
import { parseModule } from '../policy/rego/parser.js';
import { RegoError, RegoErrors } from '../policy/rego/errors.js';

export interface CompileCliOptions {
  policies: string;
  /** needed unless dumpIr or dumpAst */
  output?: string;
  entrypoint: string[];
  dumpIr?: boolean;
  dumpAst?: boolean;
}

export async function runCompile(o: CompileCliOptions): Promise<number> {
  const output = o.output;
  if (output === undefined && !o.dumpIr && !o.dumpAst) {
    throw new BustedError(ErrorCode.USAGE, "-o, --output is required (OUT.wasm or OUT.tar.gz), unless --dump-ir or --dump-ast is given", 'output');
  }
  try {
    const sources = regoSources(o.policies);
    const modules = sources.map((s) => parseModule(s.text, s.file));
    if (o.dumpAst) {
      modules.forEach((m, i) => process.stdout.write(`# ${sources[i]!.file}\n${formatAst(m)}\n`));
      return 0;
    }
    // as `opa build`: the -e ones and the rules and packages annotated `entrypoint: true`
    const entrypoints = [...new Set([...o.entrypoint, ...annotatedEntrypoints(modules)])];
    if (!entrypoints.length) entrypoints.push('busted/decision');
    const out = compileParsed(modules, { entrypoints, onIR: o.dumpIr ? (ir) => process.stdout.write(JSON.stringify(toJSON(ir), null, 2) + '\n') : undefined });
    if (o.dumpIr || output === undefined) return 0;
    if (output.endsWith('.tar.gz') || output.endsWith('.tgz')) {
      const manifest = {
        revision: '',
        roots: [''],
        wasm: entrypoints.map((e) => ({ entrypoint: e, module: '/policy.wasm' })),
        rego_version: 1,
      };
      const archive = tar([
        { name: '/data.json', data: Buffer.from(dataJsonText(o.policies)) },
        { name: '/policy.wasm', data: Buffer.from(out.wasm) },
        { name: '/.manifest', data: Buffer.from(JSON.stringify(manifest)) },
      ]);
      write(output, gzipSync(archive));
    } else {
      write(output.endsWith('.wasm') ? output : `${output}.wasm`, out.wasm);
    }
    return 0;
  } catch (e) {
    if (e instanceof RegoErrors || e instanceof RegoError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    // a source that cannot be read (a broken data.json, a .rego link to
    // nothing) stops the build as a compile error does: exit 2, not 1
    if (e instanceof BustedError && e.code === ErrorCode.POLICY) {
      process.stderr.write(`busted: ${e.code}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

/** OUT written, or a usage error naming it (a missing directory, no permission). */
function write(out: string, bytes: Uint8Array): void {
  try {
    writeFileSync(out, bytes);
  } catch (e) {
    throw new BustedError(ErrorCode.USAGE, `-o ${out}: ${(e as Error).message}`, 'output');
  }
}
