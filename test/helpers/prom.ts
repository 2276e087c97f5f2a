/** Prometheus text exposition format, parsed just enough for assertions. */

/** Prometheus text format → "name{a="x",b="y"}" → value (labels in the order given). */
export function parseProm(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return m;
}
