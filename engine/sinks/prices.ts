/**
 * Cost estimates from a price table users can edit (data/prices.json, or
 * --prices FILE): list prices per provider and model, per `per_tokens`
 * tokens. A model matches its exact name or the longest listed name it starts
 * with (dated and suffixed variants: gpt-4o-mini-2024-07-18, claude-sonnet-4-20250514,
 * anthropic.claude-3-5-haiku-20241022-v1:0); `*` matches any model of the
 * provider. A model that matches nothing has no cost (counted as unpriced).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import { BustedError, ErrorCode } from '../model/errors.js';

export interface Price {
  input: number;
  output: number;
}

export interface PriceTable {
  currency: string;
  source: string;
  /** cost of a call, or undefined when the model is not in the table */
  cost(provider: string | undefined, model: string | undefined, input: number, output: number): number | undefined;
}

export const DEFAULT_PRICES = join(PACKAGE_ROOT, 'data', 'prices.json');

function bad(path: string, field: string, why: string): never {
  throw new BustedError(ErrorCode.USAGE, `--prices ${path}: ${field}: ${why}`, field);
}

export function parsePrices(text: string, path: string): PriceTable {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return bad(path, '(file)', `not JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object') bad(path, '(file)', 'expected an object');
  const d = doc as { currency?: unknown; per_tokens?: unknown; providers?: unknown };
  const per = d.per_tokens ?? 1_000_000;
  if (typeof per !== 'number' || !(per > 0)) bad(path, 'per_tokens', 'expected a positive number');
  if (!d.providers || typeof d.providers !== 'object') bad(path, 'providers', 'expected an object of provider → model → {input, output}');
  const table = new Map<string, Map<string, Price>>();
  for (const [prov, models] of Object.entries(d.providers as object)) {
    if (!models || typeof models !== 'object') bad(path, `providers.${prov}`, 'expected an object of model → {input, output}');
    const m = new Map<string, Price>();
    for (const [model, p] of Object.entries(models as object)) {
      const f = `providers.${prov}.${model}`;
      const pr = p as { input?: unknown; output?: unknown };
      if (!pr || typeof pr !== 'object') bad(path, f, 'expected {input, output}');
      for (const k of ['input', 'output'] as const) {
        if (typeof pr[k] !== 'number' || !((pr[k] as number) >= 0)) bad(path, `${f}.${k}`, 'expected a number >= 0');
      }
      m.set(model, { input: (pr.input as number) / (per as number), output: (pr.output as number) / (per as number) });
    }
    table.set(prov, m);
  }
  const memo = new Map<string, Price | null>();
  const lookup = (provider: string, model: string): Price | undefined => {
    const key = `${provider}\u0000${model}`;
    let hit = memo.get(key);
    if (hit === undefined) {
      const m = table.get(provider);
      hit = null;
      if (m) {
        // Google answers name models "models/gemini-…"
        const name = model.startsWith('models/') ? model.slice(7) : model;
        hit = m.get(name) ?? null;
        if (!hit) {
          let best = '';
          for (const k of m.keys()) if (k !== '*' && k.length > best.length && name.startsWith(k)) best = k;
          hit = (best ? m.get(best) : m.get('*')) ?? null;
        }
      }
      if (memo.size > 10_000) memo.clear();
      memo.set(key, hit);
    }
    return hit ?? undefined;
  };
  return {
    currency: typeof d.currency === 'string' ? d.currency : 'USD',
    source: path,
    cost(provider, model, input, output) {
      if (!provider) return undefined;
      const p = lookup(provider, model ?? '');
      return p ? p.input * input + p.output * output : undefined;
    },
  };
}

export function loadPrices(path = DEFAULT_PRICES): PriceTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return bad(path, '(file)', (e as Error).message);
  }
  return parsePrices(text, path);
}
