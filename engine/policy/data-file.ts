/**
 * Data files, beside Rego (source.ts) or in a bundle (bundle.ts): OPA reads
 * `data.json` and `data.yaml`/`data.yml`, and so does busted. YAML is read
 * by the yaml package, as JSON can hold it: no infinities, NaN or objects
 * of its own types, aliases multiplied at most 100 times.
 */
import { parseDocument } from 'yaml';

import { BustedError, ErrorCode } from '../model/errors.js';

export type Plain = Record<string, unknown>;
/** A JSON object (not an array, not null). */
export const isPlain = (v: unknown): v is Plain => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Whether a file's name (its last part) makes it a data file. */
export const isDataFile = (name: string): boolean => /(^|\/)data\.(json|ya?ml)$/.test(name);

/**
 * One data file's value: JSON (`data.json`), or YAML (`data.yaml`,
 * `data.yml`; its errors at line:col); an object, else an error naming the
 * file (PATH). NAME is the file's own name, which says how to read it;
 * OBJECT: whether the value must be an object (beside Rego, or at a
 * bundle's root).
 */
export function parseDataFile(path: string, name: string, text: string, object: true): Plain;
export function parseDataFile(path: string, name: string, text: string, object: false): unknown;
export function parseDataFile(path: string, name: string, text: string, object: boolean): unknown {
  let v: unknown;
  if (name === 'data.json') {
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new BustedError(ErrorCode.POLICY, `${path}: ${(e as Error).message}`, name);
    }
  } else {
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    const err = doc.errors[0];
    if (err) {
      // prettyErrors: the position as linePos, and in the message's first line, which says it at its end
      const at = err.linePos?.[0];
      const what = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new BustedError(ErrorCode.POLICY, `${path}${at ? `:${at.line}:${at.col}` : ''}: ${what}`, name);
    }
    // an empty file is no data; what JSON cannot hold (.inf, .nan, a key that is not a string) is not data either
    try {
      v = doc.contents === null ? {} : doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      // aliases that multiply past maxAliasCount (a "billion laughs" document): refused, not expanded
      throw new BustedError(ErrorCode.POLICY, `${path}: ${(e as Error).message}`, name);
    }
    const bad = unrepresentable(v, '');
    if (bad !== undefined) throw new BustedError(ErrorCode.POLICY, `${path}: ${bad}`, name);
  }
  if (object && !isPlain(v)) throw new BustedError(ErrorCode.POLICY, `${path}: must hold a ${name === 'data.json' ? 'JSON object' : 'YAML mapping'}`, name);
  return v;
}

/** Where a YAML value holds what JSON cannot (infinities, NaN, dates, binary, maps and sets of the YAML library), or undefined. */
export function unrepresentable(v: unknown, at: string): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : `${at || 'the document'} is ${v}, which JSON cannot hold`;
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' || typeof v === 'symbol' ? `${at} is not JSON` : undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = unrepresentable(v[i], `${at}[${i}]`);
      if (r) return r;
    }
    return undefined;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype) return `${at || 'the document'} is a ${(v as object).constructor?.name ?? 'value'} (a YAML type JSON cannot hold)`;
  for (const [k, x] of Object.entries(v)) {
    const r = unrepresentable(x, at ? `${at}.${k}` : k);
    if (r) return r;
  }
  return undefined;
}
