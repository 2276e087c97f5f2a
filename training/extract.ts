/**
 * Recorded events → labelled feature vectors, through the engine's own
 * feature code (engine/ml/features.ts): each recording is replayed, in
 * order, into a FeatureExtractor exactly as the live agent feeds it, and
 * every vector it yields is labelled by its connection's destination
 * (training/traffic/spec.ts gives each kind its own address).
 *
 *   node dist/training/extract.js [--data DIR]
 *
 * Writes DIR/features.csv (phase, kind, label, connection, final, then the
 * features in FEATURE_NAMES order) and DIR/features.json (the feature
 * version and names, which the trainer copies into the model's metadata).
 */
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { FEATURE_NAMES, FEATURE_VERSION, FeatureExtractor } from '../engine/ml/features.js';
import type { BustedEvent } from '../engine/model/event.js';
import { PACKAGE_ROOT } from '../engine/paths.js';
import type { Manifest } from './generate.js';

export interface ExtractStats {
  events: number;
  vectors: number;
  unlabelled: number;
  byKind: Record<string, number>;
}

/** Replays one recording; calls `row` for every labelled vector. */
export async function replay(file: string, labelOf: (dst: string) => { kind: string; label: number } | undefined, row: (r: { kind: string; label: number; conn: string; final: boolean; vector: Float32Array }) => void): Promise<ExtractStats> {
  const fx = new FeatureExtractor();
  const stats: ExtractStats = { events: 0, vectors: 0, unlabelled: 0, byKind: {} };
  // a connection's 4-tuple can come back (ports are reused): number its lives
  const lives = new Map<string, number>();
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as BustedEvent;
    stats.events++;
    const s = fx.observe(e);
    if (!s) continue;
    const [, , dip, dport] = s.conn.split(' ');
    const l = labelOf(`${dip}:${dport}`);
    if (!l) {
      stats.unlabelled++;
      continue;
    }
    const life = lives.get(s.conn) ?? 0;
    if (s.final) lives.set(s.conn, life + 1);
    stats.vectors++;
    stats.byKind[l.kind] = (stats.byKind[l.kind] ?? 0) + 1;
    row({ kind: l.kind, label: l.label, conn: `${s.conn.replaceAll(' ', '_')}#${life}`, final: s.final, vector: s.vector });
  }
  return stats;
}

export async function extract(dir: string): Promise<void> {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const byDst = new Map(m.endpoints.map((e) => [`${e.ip}:${e.port}`, { kind: e.kind, label: e.label }]));
  const lines: string[] = [['phase', 'kind', 'label', 'conn', 'final', ...FEATURE_NAMES].join(',')];
  for (const [phase, p] of Object.entries(m.phases)) {
    const st = await replay(join(dir, p.recording), (d) => byDst.get(d), (r) => {
      lines.push([phase, r.kind, r.label, `${phase}/${r.conn}`, r.final ? 1 : 0, ...Array.from(r.vector, (x) => String(x))].join(','));
    });
    process.stderr.write(`extract: ${phase}: ${st.events} events → ${st.vectors} vectors (${st.unlabelled} unlabelled); ${Object.entries(st.byKind).map(([k, n]) => `${k} ${n}`).join(', ')}\n`);
  }
  writeFileSync(join(dir, 'features.csv'), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'features.json'), JSON.stringify({ feature_version: FEATURE_VERSION, features: FEATURE_NAMES }, null, 1) + '\n');
  process.stderr.write(`extract: wrote ${join(dir, 'features.csv')} (${lines.length - 1} rows, ${FEATURE_NAMES.length} features, version ${FEATURE_VERSION})\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--data');
  await extract(i > 0 ? process.argv[i + 1]! : join(PACKAGE_ROOT, 'training', 'data'));
}
