/**
 * A child process for the SIGHUP test: an --output file sink fed events
 * continuously, with busted's own signal wiring (observe.ts), until stdin
 * closes. Prints "ready" once the first batch is written and the count at the end.
 */
import { FileSink } from '../../engine/sinks/file.js';
import { reopenOnHangup } from '../../engine/cli/observe.js';
import { makeEvent } from './events.js';

const sink = new FileSink(process.argv[2]!, { maxBytes: 0 });
const unhook = reopenOnHangup([sink]);
let i = 0;
let stop = false;
process.stdin.on('end', () => (stop = true));
process.stdin.resume();
const tick = (): void => {
  for (let k = 0; k < 200; k++) sink.write(makeEvent(i++));
  if (i === 200) process.stdout.write('ready\n');
  if (stop) {
    unhook();
    void sink.close().then(() => process.stdout.write(`wrote ${i} dropped ${sink.dropped}\n`));
  } else {
    setTimeout(tick, 2);
  }
};
tick();
