// Whether a held thread's stop has been sent, as the enforcer reads it from
// /proc/PID/task/TID/stat before it lets a held process go: a stopped
// thread, a running one, one that has exited. (A SIGSTOP still pending is
// the state of a few microseconds and cannot be held still from here; its
// field is the one a blocked, thread-directed SIGUSR1 shows below.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopSent } from '../../engine/enforce/enforcer.js';
import { PYTHON } from '../../engine/demo/spawn.js';

describe('stopSent', () => {
  it('is true for a stopped thread and one that has exited, false for one that runs', async () => {
    const c = spawn('sleep', ['30']);
    try {
      await sleep(50);
      assert.equal(stopSent(c.pid!, c.pid!), false);
      process.kill(c.pid!, 'SIGSTOP');
      for (let i = 0; i < 100 && !stopSent(c.pid!, c.pid!); i++) await sleep(5);
      assert.equal(stopSent(c.pid!, c.pid!), true);
      process.kill(c.pid!, 'SIGCONT');
      for (let i = 0; i < 100 && stopSent(c.pid!, c.pid!); i++) await sleep(5);
      assert.equal(stopSent(c.pid!, c.pid!), false);
    } finally {
      c.kill('SIGKILL');
    }
    await new Promise((r) => c.once('exit', r));
    assert.equal(stopSent(c.pid!, c.pid!), true);
  });

  it('reads the thread\'s own pending signals from the field it checks (a blocked SIGUSR1 sent to the thread)', async () => {
    const c = spawn(PYTHON, ['-c', 'import signal, threading, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])\nsignal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)\nprint("ok", flush=True)\ntime.sleep(30)']);
    try {
      await new Promise((r) => c.stdout!.once('data', r));
      const stat = readFileSync(`/proc/${c.pid}/task/${c.pid}/stat`, 'latin1');
      const pending = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[28]);
      assert.equal(pending, 1 << 9, 'SIGUSR1 (10) pending for the thread, in the 29th field after the name');
      assert.equal(stopSent(c.pid!, c.pid!), false, 'a pending signal that is not SIGSTOP');
    } finally {
      c.kill('SIGKILL');
    }
  });
});
