// What every bench script shares: its RESULT lines on stdout (one JSON
// object each, what bench/run.js collects), its progress on stderr, and the
// few statistics they report.

/** One result: `RESULT {json}` on stdout. */
export const result = (o) => process.stdout.write(`RESULT ${JSON.stringify(o)}\n`);

/** A progress writer: `<prefix>: message` on stderr. */
export const logger = (prefix) => (m) => process.stderr.write(`${prefix}: ${m}\n`);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The median: the middle value, or the mean of the two middle ones; NaN for none. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** The p-quantile (p from 0 to 1): the value of rank floor(p × n), the last for p = 1. */
export function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

/**
 * A rounding function with `digits` decimals unless told otherwise; a value
 * that is not a finite number becomes null (JSON has no NaN).
 */
export const rounder =
  (digits) =>
  (x, d = digits) =>
    Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null;

/**
 * The engine's interpreter alone, as the engine benches drive it with
 * decoded kernel records: fresh caches, no /proc. Returns a maker:
 * (emit, options) → Interpreter (dist/ must be built).
 */
export async function interpreterMaker() {
  const dist = (p) => new URL(`../dist/${p}`, import.meta.url).pathname;
  const [{ Interpreter }, { ProcessCache }, { DnsCache }, { ProviderTable }] = await Promise.all(
    ['engine/interpret/interpreter.js', 'engine/enrich/process.js', 'engine/enrich/dns-cache.js', 'engine/enrich/provider.js'].map((m) => import(dist(m))),
  );
  return (emit, options = {}) => new Interpreter({ processes: new ProcessCache({ procRoot: '/nonexistent' }), dns: new DnsCache(), providers: new ProviderTable(), ...options }, emit);
}
