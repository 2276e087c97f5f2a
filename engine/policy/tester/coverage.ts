/**
 * `busted test-policy --coverage`: which lines and rules of the policies
 * no unit test and no recorded event reached, as `opa test --coverage`
 * reports (OPA's cover package): a line is covered when an expression on
 * it was evaluated or a rule on it produced a value; the lines that count
 * are those of every rule head and body expression of the policy modules
 * (test files are not reported).
 *
 * Hits come from coverage builds (CompileOptions.coverage), whose sites
 * are numbered per build; each build gets a hook that marks its sites in
 * a byte array, so a hit costs one store.
 */
import type { CoverSite } from '../ir/ir.js';
import type * as A from '../rego/ast.js';
import { groundPrefix } from '../compile/walk.js';

export interface FileCoverage {
  file: string;
  covered: number[];
  notCovered: number[];
  /** percent of the file's lines that are covered (100 for a file without any) */
  coverage: number;
}

export interface RuleCoverage {
  /** `data.pkg.p` */
  rule: string;
  file: string;
  row: number;
  /** never evaluated at all, or evaluated but never produced a value */
  status: 'not_evaluated' | 'no_value';
}

export interface CoverageReport {
  files: FileCoverage[];
  coveredLines: number;
  notCoveredLines: number;
  coverage: number;
  /** rule definitions that never produced a value */
  rulesNotCovered: RuleCoverage[];
}

export class Coverage {
  private readonly builds: Array<{ sites: CoverSite[]; seen: Uint8Array }> = [];

  /** A build's sites; returns the hook its hits go to. */
  track(sites: CoverSite[]): (site: number) => void {
    const seen = new Uint8Array(sites.length);
    this.builds.push({ sites, seen });
    return (i) => {
      seen[i] = 1;
    };
  }

  /**
   * The report over `modules` (the policy modules: their rules and
   * expressions are the lines that count).
   */
  report(modules: readonly A.Module[]): CoverageReport {
    const exprHit = new Set<string>();
    const ruleHit = new Set<string>();
    for (const b of this.builds) {
      b.sites.forEach((s, i) => {
        if (b.seen[i] !== 1) return;
        (s.kind === 'rule' ? ruleHit : exprHit).add(`${s.file}:${s.row}`);
      });
    }
    const files: FileCoverage[] = [];
    const rulesNotCovered: RuleCoverage[] = [];
    let coveredLines = 0;
    let notCoveredLines = 0;
    for (const m of modules) {
      const pkg = groundPrefix(m.package.path).join('.');
      const lines = new Set<number>();
      for (const r of m.rules) {
        for (const link of [r, ...r.else]) {
          lines.add(link.head.loc.row);
          const rows = new Set<number>();
          bodyRows(link.body, rows);
          for (const row of rows) lines.add(row);
          if (!ruleHit.has(`${m.file}:${link.head.loc.row}`)) {
            const evaluated = [...rows].some((row) => exprHit.has(`${m.file}:${row}`));
            rulesNotCovered.push({ rule: `${pkg}.${refText(link === r ? r.head.ref : r.head.ref)}`, file: m.file, row: link.head.loc.row, status: evaluated ? 'no_value' : 'not_evaluated' });
          }
        }
      }
      const covered: number[] = [];
      const notCovered: number[] = [];
      for (const row of [...lines].sort((a, b) => a - b)) {
        const k = `${m.file}:${row}`;
        (exprHit.has(k) || ruleHit.has(k) ? covered : notCovered).push(row);
      }
      coveredLines += covered.length;
      notCoveredLines += notCovered.length;
      files.push({ file: m.file, covered, notCovered, coverage: percent(covered.length, notCovered.length) });
    }
    return { files, coveredLines, notCoveredLines, coverage: percent(coveredLines, notCoveredLines), rulesNotCovered };
  }
}

function percent(covered: number, notCovered: number): number {
  const all = covered + notCovered;
  return all === 0 ? 100 : Math.round((covered / all) * 10000) / 100;
}

/** `p`, `a.b[x]` */
function refText(ref: A.RefTerm): string {
  const names = groundPrefix(ref);
  return names.join('.') + (names.length - 1 < ref.path.length ? '[...]' : '');
}

/** The rows of a body's expressions, nested bodies (comprehensions, every) included. */
function bodyRows(body: A.Body, rows: Set<number>): void {
  for (const e of body) {
    rows.add(e.loc.row);
    if (e.kind === 'every') bodyRows(e.body, rows);
    const terms: A.Term[] = e.kind === 'term' ? [e.term] : e.kind === 'call' ? e.args : e.kind === 'some' ? e.symbols : [e.domain];
    for (const w of e.with) terms.push(w.value);
    for (const t of terms) termRows(t, rows);
  }
}

function termRows(t: A.Term, rows: Set<number>): void {
  switch (t.type) {
    case 'arraycomprehension':
    case 'setcomprehension':
      bodyRows(t.body, rows);
      return termRows(t.term, rows);
    case 'objectcomprehension':
      bodyRows(t.body, rows);
      termRows(t.key, rows);
      return termRows(t.value, rows);
    case 'array':
    case 'set':
      for (const x of t.items) termRows(x, rows);
      return;
    case 'object':
      for (const [k, v] of t.items) {
        termRows(k, rows);
        termRows(v, rows);
      }
      return;
    case 'call':
      for (const x of t.args) termRows(x, rows);
      return;
    case 'ref':
      termRows(t.head, rows);
      for (const x of t.path) termRows(x, rows);
      return;
    default:
  }
}

/** Rows as ranges: [1,2,3,7] → [[1,3],[7,7]]. */
export function ranges(rows: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const r of rows) {
    const last = out[out.length - 1];
    if (last && r === last[1] + 1) last[1] = r;
    else out.push([r, r]);
  }
  return out;
}
