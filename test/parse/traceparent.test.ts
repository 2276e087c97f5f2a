// W3C Trace Context's traceparent as a receiver reads it (§3.2, §4.3):
// version 00 exactly; a later version by its first four fields; ff, zero
// ids, upper case and wrong lengths are no trace context.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseTraceparent, traceparentOf } from '../../engine/parse/traceparent.js';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

describe('traceparent', () => {
  it('reads version 00, and a later version by its first four fields', () => {
    assert.deepEqual(parseTraceparent(`00-${T}-${S}-01`), { traceId: T, spanId: S, flags: 1 });
    assert.deepEqual(parseTraceparent(` 00-${T}-${S}-00 `), { traceId: T, spanId: S, flags: 0 });
    assert.deepEqual(parseTraceparent(`cc-${T}-${S}-09-what-a-later-version-adds`), { traceId: T, spanId: S, flags: 9 });
    assert.equal(traceparentOf(`cc-${T}-${S}-09-more`), `cc-${T}-${S}-09`);
  });

  it('refuses what is no trace context', () => {
    for (const bad of [
      `ff-${T}-${S}-01`, // version ff is invalid
      `00-${T}-${S}-01-extra`, // version 00 has nothing after its flags
      `00-${'0'.repeat(32)}-${S}-01`,
      `00-${T}-${'0'.repeat(16)}-01`,
      `00-${T.toUpperCase()}-${S}-01`,
      `00-${T.slice(1)}-${S}-01`,
      `00-${T}-${S}-1`,
      '',
    ]) assert.equal(parseTraceparent(bad), undefined, bad);
    assert.equal(traceparentOf(42), undefined);
    assert.equal(traceparentOf(undefined), undefined);
  });
});
