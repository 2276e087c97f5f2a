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
 * BUSTED_NO_RELAUNCH=1 keeps the process as started.
 */
export const AGENT_V8_FLAGS = ['--max-semi-space-size=1'];

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
