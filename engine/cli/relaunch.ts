/**
 * The agent's commands (monitor, enforce, demo) run with V8 heap flags of
 * their own, which node takes only on its command line: bin/busted.js
 * calls relaunch() first, and a node started without them replaces itself
 * (execv: same pid, same stdio and environment) with one started with them.
 *
 * --max-semi-space-size=1 (MiB): the young generation stays at 1 MiB per
 * semi-space instead of growing to 16. The agent allocates a few KiB of
 * short-lived objects per event (records, events, JSON); with 16 MiB
 * semi-spaces the heap grew to ~70 MB under load and the scavenges walked
 * memory far out of cache. With 1 MiB: ~30 MB less RSS under load and no
 * more CPU per event (bench/ringbuf/decode-count.js --mode agent: 4.6-6.8
 * µs per record against 5.2-7.2 with the default, heap 30 MB against 70).
 *
 * --heap-growing-percent=30: the next full collection comes once the old
 * generation has grown 30 % past what the last one left alive, instead of
 * V8's dynamic factor (up to 4x for a small heap). What survives the small
 * young generation into the old one is mostly events in flight, dead soon
 * after: the live heap under load is ~10 MB, yet the old generation grew to
 * 35-45 MB of garbage between full collections. Measured with the connect
 * loop of bench/overhead at ~30k connections/s (8+2 threads, 12 s): max RSS
 * 150 MB → 125-128 MB, agent CPU the same (3.47-3.72 s → 3.50-3.70 s).
 *
 * BUSTED_NO_RELAUNCH=1 keeps the process as started.
 */
export const AGENT_V8_FLAGS = ['--max-semi-space-size=1', '--heap-growing-percent=30'];

const AGENT_COMMANDS = new Set(['monitor', 'enforce', 'demo']);

/** Returns unless this process was replaced (only on a failed exec, for an agent command). */
export async function relaunch(argv: string[], execArgv: string[] = process.execArgv): Promise<void> {
  if (!AGENT_COMMANDS.has(argv[2] ?? '') || process.env.BUSTED_NO_RELAUNCH === '1') return;
  const given = new Set(execArgv.map((a) => a.split('=')[0]));
  const missing = AGENT_V8_FLAGS.filter((f) => !given.has(f.split('=')[0]));
  if (missing.length === 0) return;
  let execv: (path: string, args: string[]) => number;
  try {
    ({ execv } = await import('../kernel/exec.js'));
  } catch {
    return; // no FFI here: run with the default heap
  }
  execv(process.execPath, [process.execPath, ...missing, ...execArgv, ...argv.slice(1)]);
  // still here: the exec failed; carry on as started
}
