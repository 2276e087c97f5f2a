// End-to-end tests of the time.* host builtins (engine/policy/builtins/time.ts):
// Rego compiled to Wasm, evaluated through the SDK with our host builtins.
//
// Expected values follow Go's time package, which OPA's v1/topdown/time.go
// calls: layouts of time.Parse / Time.Format, time.ParseDuration,
// Time.AddDate's normalisation (Oct 31 + 1 month is Dec 1) and zones from
// the IANA database (America/New_York springs forward at 2024-03-10
// 07:00 UTC). Each was checked against Go's own output. Nanoseconds past
// 2^53 are compared inside Rego: the SDK's JSON.parse would round them.
// A builtin error makes the call undefined (OPA's non-strict mode).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { findTools } from '../../engine/policy/runtime/build.js';
import { load, result } from './helpers.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;

// time.* with the "Local" zone reads TZ once, on first use; node --test runs each file in its own process
process.env.TZ = 'Asia/Kolkata';

/** Evaluates each expression as `rN := <expr>` in one module and compares with the expected values in order. */
async function table(cases: Array<[string, unknown]>): Promise<void> {
  const src = `package t\nimport rego.v1\n${cases.map(([e], i) => `r${i} := ${e}`).join('\n')}\n`;
  const eps = cases.map((_, i) => `t/r${i}`);
  const p = await load(src, eps);
  cases.forEach(([e, want], i) => assert.deepEqual(result(p, eps[i]!), want, e));
}

/** Each Rego condition must hold (for exact comparisons of nanoseconds past 2^53). */
async function holds(conds: string[]): Promise<void> {
  await table(conds.map((c) => [`true if ${c}`, true]));
}

describe('time.* builtins', { skip }, () => {
  it('time.parse_rfc3339_ns: exact nanoseconds, int64 bounds', async () => {
    await holds([
      'time.parse_rfc3339_ns("2017-06-02T19:00:00.123456789Z") == 1496430000123456789',
      'time.parse_rfc3339_ns("2017-06-02T19:00:00.5+05:30") == 1496410200500000000',
      'time.parse_rfc3339_ns("1677-09-21T00:12:43.145224192Z") == -9223372036854775808',
      'time.parse_rfc3339_ns("2262-04-11T23:47:16.854775807Z") == 9223372036854775807',
    ]);
    await table([
      ['time.parse_rfc3339_ns("1970-01-01T00:00:01Z")', 1e9],
      // one nanosecond past int64, either way: "time outside of valid range"
      ['time.parse_rfc3339_ns("2262-04-11T23:47:16.854775808Z")', undefined],
      ['time.parse_rfc3339_ns("1677-09-21T00:12:43.145224191Z")', undefined],
      ['time.parse_rfc3339_ns("2017-06-02 19:00:00Z")', undefined],
      ['time.parse_rfc3339_ns("2017-06-02T19:00:00+05:90")', undefined], // offset minute out of range
    ]);
  });

  it('time.parse_ns: Go layouts and the names of its constants', async () => {
    await holds([
      'time.parse_ns("2006-01-02", "2020-02-29") == 1582934400000000000',
      'time.parse_ns("Mon, 02 Jan 2006 15:04:05 -0700", "Tue, 10 Nov 2009 23:00:00 -0800") == 1257922800000000000',
      'time.parse_ns("RFC1123Z", "Tue, 10 Nov 2009 23:00:00 -0800") == 1257922800000000000',
      // month names match in any case, PM does not; .000 wants exactly three digits
      'time.parse_ns("Jan _2 2006 3:04:05.000PM", "feb  3 2013 7:54:12.345PM") == 1359921252345000000',
      // day of the year (2024 is a leap year)
      'time.parse_ns("2006-002 15:04", "2024-366 23:59") == 1735689540000000000',
      // a zone abbreviation the host's zone does not use only labels the time: read as UTC
      'time.parse_ns("02 Jan 06 15:04 MST", "02 Jun 17 19:00 PDT") == 1496430000000000000',
      // fractional seconds the layout does not spell are still read
      'time.parse_ns("15:04:05 2006", "10:00:00.25 2001") == 978343200250000000',
    ]);
    await table([
      ['time.parse_ns("Jan _2 2006 3:04:05.000PM", "feb  3 2013 7:54:12.345pm")', undefined],
      ['time.parse_ns("January 2, 2006", "February 30, 2024")', undefined],
      ['time.parse_ns("2006-01-02", "2020-02-29x")', undefined], // extra text
      ['time.parse_ns("15:04:05", "24:00:00")', undefined],
      ['time.parse_ns("2006-002", "2023-366")', undefined],
      ['time.parse_ns("2006-01-02T15:04:05Z07:00", "2262-04-12T00:00:00Z")', undefined],
    ]);
  });

  it('time.parse_duration_ns: Go durations', async () => {
    await holds([
      'time.parse_duration_ns("2562047h47m16.854775807s") == 9223372036854775807',
      'time.parse_duration_ns("-2562047h47m16.854775808s") == -9223372036854775808',
    ]);
    await table([
      ['time.parse_duration_ns("1h2m3.5s")', 3723500000000],
      ['time.parse_duration_ns("-1.5h")', -5400000000000],
      ['time.parse_duration_ns("300ms")', 300000000],
      ['time.parse_duration_ns("1µs300ns")', 1300],
      ['time.parse_duration_ns("1us")', 1000],
      ['time.parse_duration_ns(".5s")', 500000000],
      ['time.parse_duration_ns("0")', 0],
      ['time.parse_duration_ns("2562047h47m16.854775808s")', undefined], // past int64
      ['time.parse_duration_ns("1d")', undefined],
      ['time.parse_duration_ns("1")', undefined], // a unit is needed except for "0"
      ['time.parse_duration_ns("")', undefined],
    ]);
  });

  it('time.date, time.clock, time.weekday: UTC and IANA zones, DST', async () => {
    // 1710053999 is 2024-03-10 01:59:59 EST; one second later is 03:00:00 EDT
    await table([
      ['time.clock([1710053999000000000, "America/New_York"])', [1, 59, 59]],
      ['time.clock([1710054000000000000, "America/New_York"])', [3, 0, 0]],
      ['time.clock(1710054000000000000)', [7, 0, 0]],
      ['time.clock([1710054000000000000, ""])', [7, 0, 0]],
      ['time.date([1710054000000000000, "Australia/Sydney"])', [2024, 3, 10]],
      ['time.clock([1710054000000000000, "Australia/Sydney"])', [18, 0, 0]], // AEDT, +11
      ['time.date(1709164800000000000)', [2024, 2, 29]],
      ['time.weekday(1709164800000000000)', 'Thursday'],
      ['time.weekday([1709164800000000000, "America/Los_Angeles"])', 'Wednesday'],
      ['time.date(-1)', [1969, 12, 31]],
      ['time.clock(-1)', [23, 59, 59]],
      ['time.date(-9223372036854775808)', [1677, 9, 21]],
      ['time.clock([1700000000000000000, "Local"])', [3, 43, 20]], // TZ=Asia/Kolkata, +05:30
      ['time.date([0, "No/Such_Zone"])', undefined],
      ['time.date([0, "america/new_york"])', undefined], // zone names are case-sensitive
      ['time.date(1.5)', undefined], // not whole nanoseconds
      ['time.date(1582977600 * 1000000000000)', undefined], // past int64: "timestamp too big"
      ['time.date("0")', undefined],
    ]);
  });

  it('time.add_date: Go AddDate normalisation, exact nanoseconds', async () => {
    await holds([
      // 2023-10-31T12:00:00.000000001Z + 1 month: "November 31" is December 1
      'time.add_date(1698753600000000001, 0, 1, 0) == 1701432000000000001',
      // 2024-02-29 + 1 year: March 1, 2025
      'time.add_date(1709164800000000000, 1, 0, 0) == 1740787200000000000',
      'time.add_date(1710003600000000000, 0, -25, 0) == 1644426000000000000',
      // 2024-03-09 12:00 EST + 1 day in New York is 12:00 EDT, 23 hours later; in UTC, 24 hours
      'time.add_date([1710003600000000000, "America/New_York"], 0, 0, 1) == 1710086400000000000',
      'time.add_date(1710003600000000000, 0, 0, 1) == 1710090000000000000',
    ]);
    await table([
      ['time.add_date(0, 2262, 1, 1)', undefined],
      ['time.add_date(-9223372036854775808, 0, 0, -1)', undefined],
      ['time.add_date(0, 0, 1.5, 0)', undefined],
    ]);
  });

  it('time.diff: calendar difference, either order, in the first zone', async () => {
    // 2020-01-31 to 2020-03-01: a month, and a day borrowed from January's 31
    const jan31 = 1580428800000000000n;
    const mar1 = 1583020800000000000n;
    await table([
      [`time.diff(${jan31}, ${mar1})`, [0, 1, 1, 0, 0, 0]],
      [`time.diff(${mar1}, ${jan31})`, [0, 1, 1, 0, 0, 0]],
      ['time.diff(time.parse_rfc3339_ns("2021-01-01T00:00:00Z"), time.parse_rfc3339_ns("2020-12-31T23:59:59Z"))', [0, 0, 0, 0, 0, 1]],
      ['time.diff(time.parse_rfc3339_ns("2004-02-29T10:00:00Z"), time.parse_rfc3339_ns("2005-03-01T09:00:00Z"))', [1, 0, 0, 23, 0, 0]],
      // both read in New York: 2024-03-09 12:00 EST to 2024-03-10 12:00 EDT is one day
      ['time.diff([1710003600000000000, "America/New_York"], [1710086400000000000, "UTC"])', [0, 0, 1, 0, 0, 0]],
      ['time.diff([1710003600000000000, "UTC"], [1710086400000000000, "America/New_York"])', [0, 0, 0, 23, 0, 0]],
      ['time.diff(0, 1.5)', undefined],
    ]);
  });

  it('time.format: RFC3339Nano by default, zones, layouts and constants', async () => {
    await table([
      ['time.format(1700000000120000000)', '2023-11-14T22:13:20.12Z'],
      ['time.format(0)', '1970-01-01T00:00:00Z'],
      ['time.format([1700000000120000000, "America/New_York"])', '2023-11-14T17:13:20.12-05:00'],
      [
        'time.format([1700000000120000000, "America/New_York", "Monday, January 2 2006 3:04:05.000 PM MST -07:00 __2 _2 002"])',
        'Tuesday, November 14 2023 5:13:20.120 PM EST -05:00 318 14 318',
      ],
      ['time.format([1720000000000000000, "America/New_York", "UnixDate"])', 'Wed Jul  3 05:46:40 EDT 2024'],
      ['time.format([1700000000000000000, "Asia/Kolkata", "RFC850"])', 'Wednesday, 15-Nov-23 03:43:20 IST'],
      ['time.format([1700000000000000000, "Asia/Kolkata", "RFC1123Z"])', 'Wed, 15 Nov 2023 03:43:20 +0530'],
      // half-hour DST, and a zone whose abbreviation is numeric
      ['time.format([1700000000000000000, "Australia/Lord_Howe", "2006-01-02T15:04:05Z07:00 MST"])', '2023-11-15T09:13:20+11:00 +11'],
      ['time.format([1720000000000000000, "Australia/Lord_Howe", "2006-01-02T15:04:05Z07:00 MST"])', '2024-07-03T20:16:40+10:30 +1030'],
      // past the zone file's transitions its POSIX rule goes on: 2100-06-30 is summer in New York, winter in Sydney
      ['time.format([4118054400000000000, "America/New_York", "2006-01-02T15:04:05Z07:00 MST"])', '2100-06-30T12:00:00-04:00 EDT'],
      ['time.format([4118054400000000000, "Australia/Sydney", "2006-01-02T15:04:05Z07:00 MST"])', '2100-07-01T02:00:00+10:00 AEST'],
      ['time.format([4102444800000000000, "Australia/Sydney", "2006-01-02T15:04:05Z07:00 MST"])', '2100-01-01T11:00:00+11:00 AEDT'],
      // before standard time: New York's local mean time, -4:56:02
      ['time.format([-9223372036854775808, "America/New_York"])', '1677-09-20T19:16:41.145224192-04:56'],
      ['time.format([-9223372036854775808, "America/New_York", "-07:00:00 MST"])', '-04:56:02 LMT'],
      ['time.format([0, "Local", "15:04 MST"])', '05:30 IST'],
      ['time.format(1582977600 * 10e12)', undefined], // "timestamp too big"
      ['time.format([0, "No/Such_Zone"])', undefined],
    ]);
  });
});
