/**
 * Host builtins: the time family (OPA v1/topdown/time.go), gathered by
 * builtins-js.ts. OPA leans on Go's time package, so this file mirrors the
 * parts of it those builtins reach: layouts (Parse and Format), durations,
 * Date normalisation and zones read from the system's TZif files, as Go
 * reads them (Intl when a zone has no file, as Go falls back to its
 * embedded tzdata). time.now_ns lives in builtins-js.ts.
 *
 * A time is whole Unix seconds plus nanoseconds: seconds stay exact in a
 * double over Go's whole year range (0–9999 for parsed times), and a
 * result must fit int64 nanoseconds, or OPA errors (toSafeUnixNano).
 */
import { readFileSync } from 'node:fs';

import type { BuiltinDecl } from '../compile/builtins.js';
import { exact, fail, jsonText, str, type Exact, type Impl } from './common.js';

/** name → arity and how operands and result cross (compile/builtins.ts) */
export const DECLS: Record<string, BuiltinDecl> = {
  'time.parse_ns': { arity: 2 },
  'time.parse_rfc3339_ns': { arity: 1 },
  'time.parse_duration_ns': { arity: 1 },
  // the operands below carry nanoseconds, which a double cannot hold
  'time.date': { arity: 1, exact: true },
  'time.clock': { arity: 1, exact: true },
  'time.weekday': { arity: 1, exact: true },
  'time.format': { arity: 1, exact: true },
  'time.add_date': { arity: 4, exact: true },
  'time.diff': { arity: 2, exact: true },
};

/* -------------------------------------------------------------- calendar */

const DAY = 86400;
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

const isLeap = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
/** Days in month M (1-12) of year Y (x509.ts checks certificate dates with it too). */
export const daysIn = (m: number, y: number): number => (m === 2 ? (isLeap(y) ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!);

/** Days from 1970-01-01 to a proleptic Gregorian date (m 1–12; d may run past the month). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

/** The date of a day number: [year, month 1–12, day]. */
function civil(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, doy - Math.floor((153 * mp + 2) / 5) + 1];
}

/** 0 = Sunday, as Go's Weekday */
const weekdayOf = (days: number): number => (((days + 4) % 7) + 7) % 7;

/* ----------------------------------------------------------------- zones */

interface ZoneType {
  off: number; // seconds east of UTC
  abbr: string;
  dst: boolean;
}

/** A Go Location: the zone in effect at a Unix second, and every zone it names (for Parse's lookupName). */
interface Loc {
  lookup(sec: number): ZoneType;
  types: readonly ZoneType[];
}

const UTC_ZONE: ZoneType = { off: 0, abbr: 'UTC', dst: false };
const UTC: Loc = { lookup: () => UTC_ZONE, types: [UTC_ZONE] };

/** A POSIX TZ rule date (the TZif footer): Jn, n or Mm.w.d, with its local time of day. */
interface Rule {
  kind: 'J' | 'D' | 'M';
  day: number;
  week: number;
  mon: number;
  time: number;
}
interface PosixTz {
  std: ZoneType;
  dst?: { zone: ZoneType; start: Rule; end: Rule };
}

/** [+-]hh[:mm[:ss]] as seconds, and the rest; hours up to 167 (RFC 8536 §3.3.1 extends POSIX). */
function posixOffset(s: string): [number, string] | undefined {
  const m = /^([+-]?)(\d+)(?::(\d+)(?::(\d+))?)?/.exec(s);
  if (!m) return undefined;
  const [h, mi, se] = [Number(m[2]), Number(m[3] ?? 0), Number(m[4] ?? 0)];
  if (h > 24 * 7 || mi > 59 || se > 59) return undefined;
  const off = h * 3600 + mi * 60 + se;
  return [m[1] === '-' ? -off : off, s.slice(m[0].length)];
}

function posixRule(s: string): [Rule, string] | undefined {
  const m = /^(?:J(\d+)|M(\d+)\.(\d+)\.(\d+)|(\d+))/.exec(s);
  if (!m) return undefined;
  const r: Rule =
    m[1] !== undefined ? { kind: 'J', day: Number(m[1]), week: 0, mon: 0, time: 7200 }
    : m[2] !== undefined ? { kind: 'M', mon: Number(m[2]), week: Number(m[3]), day: Number(m[4]), time: 7200 }
    : { kind: 'D', day: Number(m[5]), week: 0, mon: 0, time: 7200 };
  if (r.kind === 'J' ? r.day < 1 || r.day > 365 : r.kind === 'D' ? r.day > 365 : r.mon < 1 || r.mon > 12 || r.week < 1 || r.week > 5 || r.day > 6) {
    return undefined;
  }
  let rest = s.slice(m[0].length);
  if (rest.startsWith('/')) {
    const t = posixOffset(rest.slice(1));
    if (!t) return undefined;
    [r.time, rest] = t;
  }
  return [r, rest];
}

/** A TZ string such as "EST5EDT,M3.2.0,M11.1.0" (Go's tzset); undefined when malformed. */
function parsePosixTz(s: string): PosixTz | undefined {
  const name = (t: string): [string, string] | undefined => {
    const m = /^(?:<([^>]*)>|([^0-9,+-]{3,}))/.exec(t);
    return m ? [m[1] ?? m[2]!, t.slice(m[0].length)] : undefined;
  };
  const n1 = name(s);
  const o1 = n1 && posixOffset(n1[1]);
  if (!n1 || !o1) return undefined;
  // TZ offsets count west of UTC; ours count east
  const std: ZoneType = { abbr: n1[0], off: -o1[0], dst: false };
  if (o1[1] === '' || o1[1][0] === ',') return { std };
  const n2 = name(o1[1]);
  if (!n2) return undefined;
  let dstOff = std.off + 3600;
  let rest = n2[1];
  if (rest !== '' && rest[0] !== ',') {
    const o2 = posixOffset(rest);
    if (!o2) return undefined;
    [dstOff, rest] = [-o2[0], o2[1]];
  }
  // tzcode's default rules when a DST zone has none
  if (rest === '') rest = ',M3.2.0,M11.1.0';
  if (rest[0] !== ',' && rest[0] !== ';') return undefined;
  const start = posixRule(rest.slice(1));
  if (!start || start[1][0] !== ',') return undefined;
  const end = posixRule(start[1].slice(1));
  if (!end || end[1] !== '') return undefined;
  return { std, dst: { zone: { abbr: n2[0], off: dstOff, dst: true }, start: start[0], end: end[0] } };
}

/** Seconds from the start of `year` (UTC) to a rule's transition, made while `off` was in effect. */
function ruleTime(year: number, r: Rule, off: number): number {
  let day: number;
  if (r.kind === 'J') day = r.day - 1 + (isLeap(year) && r.day >= 60 ? 1 : 0);
  else if (r.kind === 'D') day = r.day;
  else {
    const first = daysFromCivil(year, r.mon, 1);
    let d = (r.day - weekdayOf(first) + 7) % 7;
    // week 5 means the last such weekday of the month
    for (let i = 1; i < r.week && d + 7 < daysIn(r.mon, year); i++) d += 7;
    day = first - daysFromCivil(year, 1, 1) + d;
  }
  return day * DAY + r.time - off;
}

/** The zone a TZ rule gives at a Unix second (Go's tzset: the year is UTC's). */
function posixZone(tz: PosixTz, sec: number): ZoneType {
  if (!tz.dst) return tz.std;
  const days = Math.floor(sec / DAY);
  const year = civil(days)[0];
  const ysec = sec - daysFromCivil(year, 1, 1) * DAY;
  let [start, end] = [ruleTime(year, tz.dst.start, tz.std.off), ruleTime(year, tz.dst.end, tz.dst.zone.off)];
  let [outside, inside] = [tz.std, tz.dst.zone];
  // southern hemisphere: DST spans the new year
  if (end < start) [start, end, outside, inside] = [end, start, inside, outside];
  return ysec < start || ysec >= end ? outside : inside;
}

/** A TZif file (RFC 8536), as Go's LoadLocationFromTZData reads it. */
function parseTzif(b: Buffer): Loc {
  const bad = (): never => fail('malformed time zone information');
  if (b.length < 44 || b.toString('latin1', 0, 4) !== 'TZif') bad();
  // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  const counts = (p: number): number[] => [0, 1, 2, 3, 4, 5].map((i) => b.readUInt32BE(p + 20 + 4 * i));
  let p = 0;
  let [isut, isstd, leap, timecnt, typecnt, charcnt] = counts(0) as [number, number, number, number, number, number];
  let size = 4;
  if (b[4]! >= 0x32) {
    // version 2+: skip the 32-bit block for the 64-bit one
    p = 44 + timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
    if (b.length < p + 44) bad();
    [isut, isstd, leap, timecnt, typecnt, charcnt] = counts(p) as [number, number, number, number, number, number];
    size = 8;
  }
  p += 44;
  if (typecnt === 0 || b.length < p + timecnt * (size + 1) + typecnt * 6 + charcnt + leap * (size + 4) + isstd + isut) bad();
  const when: number[] = [];
  for (let i = 0; i < timecnt; i++) when.push(size === 8 ? Number(b.readBigInt64BE(p + 8 * i)) : b.readInt32BE(p + 4 * i));
  p += timecnt * size;
  const idx = [...b.subarray(p, p + timecnt)];
  p += timecnt;
  if (idx.some((i) => i >= typecnt)) bad();
  const chars = b.subarray(p + typecnt * 6, p + typecnt * 6 + charcnt);
  const types: ZoneType[] = [];
  for (let i = 0; i < typecnt; i++) {
    const at = b[p + 6 * i + 5]!;
    const nul = chars.indexOf(0, at);
    types.push({ off: b.readInt32BE(p + 6 * i), dst: b[p + 6 * i + 4] !== 0, abbr: chars.toString('latin1', at, nul < 0 ? charcnt : nul) });
  }
  p += typecnt * 6 + charcnt + leap * (size + 4) + isstd + isut;
  let tz: PosixTz | undefined;
  if (size === 8 && b[p] === 0x0a) {
    const nl = b.indexOf(0x0a, p + 1);
    if (nl > p + 1) tz = parsePosixTz(b.toString('latin1', p + 1, nl));
  }
  // before the first transition (Go's lookupFirstZone)
  const first = ((): number => {
    if (!idx.includes(0)) return 0;
    if (idx.length && types[idx[0]!]!.dst) {
      for (let i = idx[0]! - 1; i >= 0; i--) if (!types[i]!.dst) return i;
    }
    const std = types.findIndex((t) => !t.dst);
    return std < 0 ? 0 : std;
  })();
  const lookup = (sec: number): ZoneType => {
    if (when.length === 0) return tz ? posixZone(tz, sec) : types[0]!;
    if (sec < when[0]!) return types[first]!;
    let [lo, hi] = [0, when.length];
    while (hi - lo > 1) {
      const m = (lo + hi) >> 1;
      if (sec < when[m]!) hi = m;
      else lo = m;
    }
    // past the last transition the footer's rule goes on
    return lo === when.length - 1 && tz ? posixZone(tz, sec) : types[idx[lo]!]!;
  };
  return { lookup, types };
}

/** A zone from Intl, for a name without a TZif file; its abbreviations are CLDR's, or tzdata's numeric form. */
function intlLoc(name: string): Loc {
  let offsets: Intl.DateTimeFormat;
  try {
    offsets = new Intl.DateTimeFormat('en-US', { timeZone: name, timeZoneName: 'longOffset' });
  } catch {
    return fail(`unknown time zone ${name}`);
  }
  const names = new Intl.DateTimeFormat('en-US', { timeZone: name, timeZoneName: 'short' });
  const resolved = offsets.resolvedOptions().timeZone;
  // IANA names are case-sensitive for Go (files, embedded tzdata); Intl would take any case
  if (resolved !== name && resolved.toLowerCase() === name.toLowerCase()) fail(`unknown time zone ${name}`);
  const part = (f: Intl.DateTimeFormat, d: Date): string => f.formatToParts(d).find((x) => x.type === 'timeZoneName')?.value ?? '';
  return {
    types: [],
    lookup(sec) {
      const d = new Date(sec * 1000);
      const m = /^GMT(?:([+-])(\d\d):(\d\d)(?::(\d\d))?)?$/.exec(part(offsets, d));
      const abs = m?.[1] ? Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4] ?? 0) : 0;
      const off = m?.[1] === '-' ? -abs : abs;
      let abbr = part(names, d);
      if (!/^[A-Za-z]+$/.test(abbr)) abbr = (off < 0 ? '-' : '+') + pad(Math.floor(abs / 3600), 2) + (abs % 3600 ? pad(Math.floor(abs / 60) % 60, 2) : '');
      return { off, abbr, dst: false };
    },
  };
}

const ZONE_DIRS = ['/usr/share/zoneinfo/', '/usr/share/lib/zoneinfo/', '/usr/lib/locale/TZ/', '/etc/zoneinfo/'];

/** A zone by IANA name, from the first directory that has it (Go's LoadLocation), else Intl. */
function loadZone(name: string): Loc {
  // Go refuses these before looking: no IANA name has "..", or starts with a slash
  if (name.includes('..') || name[0] === '/' || name[0] === '\\') fail(`invalid time zone ${name}`);
  const dirs = process.env.ZONEINFO ? [process.env.ZONEINFO + '/', ...ZONE_DIRS] : ZONE_DIRS;
  for (const dir of dirs) {
    let data: Buffer;
    try {
      data = readFileSync(dir + name);
    } catch {
      continue;
    }
    return parseTzif(data);
  }
  return intlLoc(name);
}

const zones = new Map<string, Loc>();
let localZone: Loc | undefined;

/** Go's time.Local: $TZ (":" prefix, absolute path or name), else /etc/localtime, else UTC. */
function local(): Loc {
  if (localZone) return localZone;
  const tz = process.env.TZ;
  const name = tz?.startsWith(':') ? tz.slice(1) : tz;
  try {
    if (name === undefined) localZone = parseTzif(readFileSync('/etc/localtime'));
    else if (name.startsWith('/')) localZone = parseTzif(readFileSync(name));
    else localZone = name === '' || name === 'UTC' ? UTC : loadZone(name);
  } catch {
    localZone = UTC;
  }
  return localZone;
}

/** A tz operand: "" and "UTC" are UTC, "Local" the host's zone (OPA's tzTime). */
function zone(name: string): Loc {
  if (name === '' || name === 'UTC') return UTC;
  if (name === 'Local') return local();
  let z = zones.get(name);
  if (!z) zones.set(name, (z = loadZone(name)));
  return z;
}

/* ----------------------------------------------------------------- times */

interface Instant {
  sec: number; // Unix seconds
  nsec: number; // 0 ≤ nsec < 1e9
}

const G = 1_000_000_000n;
const MIN_NS = -(1n << 63n);
const MAX_NS = (1n << 63n) - 1n;

function fromNs(ns: bigint): Instant {
  let s = ns / G;
  let r = ns % G;
  if (r < 0n) (s -= 1n), (r += G);
  return { sec: Number(s), nsec: Number(r) };
}

/** An instant as int64 nanoseconds, or OPA's error when it does not fit (toSafeUnixNano). */
function toNs(t: Instant): bigint {
  if (!Number.isSafeInteger(t.sec)) fail('time outside of valid range');
  const ns = BigInt(t.sec) * G + BigInt(t.nsec);
  return ns < MIN_NS || ns > MAX_NS ? fail('time outside of valid range') : ns;
}

const nsText = (t: Instant): ArrayBuffer => jsonText(toNs(t).toString());

/** Go's norm: hi, lo with 0 ≤ lo < base. */
function norm(hi: number, lo: number, base: number): [number, number] {
  const n = Math.floor(lo / base);
  return [hi + n, lo - n * base];
}

/** Go's time.Date: every field may overflow into the next; the wall time is read in `loc`. */
function date(year: number, month: number, day: number, hour: number, min: number, sec: number, nsec: number, loc: Loc): Instant {
  let m: number;
  [year, m] = norm(year, month - 1, 12);
  [sec, nsec] = norm(sec, nsec, 1e9);
  [min, sec] = norm(min, sec, 60);
  [hour, min] = norm(hour, min, 60);
  [day, hour] = norm(day, hour, 24);
  const unix = (daysFromCivil(year, m + 1, 1) + day - 1) * DAY + hour * 3600 + min * 60 + sec;
  // the offset in effect at the wall time read as UTC, then rechecked at the result (Go's Date)
  const off = loc.lookup(unix).off;
  return { sec: unix - (off === 0 ? 0 : loc.lookup(unix - off).off), nsec };
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  min: number;
  sec: number;
  nsec: number;
  yday: number;
  wday: number;
  zone: ZoneType;
}

function wall(t: Instant, loc: Loc): Wall {
  const zone = loc.lookup(t.sec);
  const local = t.sec + zone.off;
  const days = Math.floor(local / DAY);
  const s = local - days * DAY;
  const [year, month, day] = civil(days);
  const yday = days - daysFromCivil(year, 1, 1) + 1;
  return { year, month, day, hour: Math.floor(s / 3600), min: Math.floor(s / 60) % 60, sec: s % 60, nsec: t.nsec, yday, wday: weekdayOf(days), zone };
}

/**
 * A time operand: ns, [ns, tz] or [ns, tz, layout] (OPA's tzTime). The
 * ns must be an integer that fits int64, else "timestamp too big".
 */
function tzTime(text: unknown): { t: Instant; loc: Loc; layout: string } {
  const x = exact(text);
  let n: Exact;
  let loc = UTC;
  let layout = '';
  if (Array.isArray(x)) {
    if (x.length === 0) fail('operand 1 must be either number (ns) or [number (ns), string (tz)]');
    n = x[0]!;
    if (typeof n !== 'number' && typeof n !== 'bigint') fail('operand 1 must be number');
    if (x.length > 1) loc = zone(str(x[1]));
    if (x.length > 2) layout = str(x[2]);
  } else n = x;
  if (typeof n !== 'number' && typeof n !== 'bigint') return fail('operand 1 must be either number (ns) or [number (ns), string (tz)]');
  const ns = typeof n === 'bigint' ? n : Number.isInteger(n) ? BigInt(n) : fail('timestamp too big');
  if (ns < MIN_NS || ns > MAX_NS) fail('timestamp too big');
  return { t: fromNs(ns), loc, layout };
}

/* --------------------------------------------------------------- layouts */

/** OPA's names for Go's layout constants (acceptedTimeFormats) */
const LAYOUTS: Record<string, string> = {
  ANSIC: 'Mon Jan _2 15:04:05 2006',
  UnixDate: 'Mon Jan _2 15:04:05 MST 2006',
  RubyDate: 'Mon Jan 02 15:04:05 -0700 2006',
  RFC822: '02 Jan 06 15:04 MST',
  RFC822Z: '02 Jan 06 15:04 -0700',
  RFC850: 'Monday, 02-Jan-06 15:04:05 MST',
  RFC1123: 'Mon, 02 Jan 2006 15:04:05 MST',
  RFC1123Z: 'Mon, 02 Jan 2006 15:04:05 -0700',
  RFC3339: '2006-01-02T15:04:05Z07:00',
  RFC3339Nano: '2006-01-02T15:04:05.999999999Z07:00',
};

const isDigit = (s: string, i: number): boolean => i < s.length && s[i]! >= '0' && s[i]! <= '9';
const TZ_ELEMENTS = ['070000', '07:00:00', '0700', '07:00', '07'];

/**
 * The next layout element, as Go's nextStdChunk finds it: [literal text
 * before it, the element ("" at the end), the rest of the layout]. An
 * element is named by its own text ("Jan", "_2", "Z07:00", ".000", ...).
 */
function nextElement(l: string): [string, string, string] {
  for (let i = 0; i < l.length; i++) {
    const at = (s: string): boolean => l.startsWith(s, i);
    const hit = (s: string): [string, string, string] => [l.slice(0, i), s, l.slice(i + s.length)];
    // "Jan" and "Mon" are elements unless a lower-case letter follows ("Month" is text)
    const word = (s: string): boolean => at(s) && !(l[i + s.length]! >= 'a' && l[i + s.length]! <= 'z');
    switch (l[i]) {
      case 'J':
        if (at('January')) return hit('January');
        if (word('Jan')) return hit('Jan');
        break;
      case 'M':
        if (at('Monday')) return hit('Monday');
        if (word('Mon')) return hit('Mon');
        if (at('MST')) return hit('MST');
        break;
      case '0':
        if (l[i + 1]! >= '1' && l[i + 1]! <= '6') return hit(l.slice(i, i + 2));
        if (at('002')) return hit('002');
        break;
      case '1':
        return hit(at('15') ? '15' : '1');
      case '2':
        return hit(at('2006') ? '2006' : '2');
      case '_':
        // "_2006" is a literal "_" and a year
        if (at('_2006')) return [l.slice(0, i + 1), '2006', l.slice(i + 5)];
        if (at('_2')) return hit('_2');
        if (at('__2')) return hit('__2');
        break;
      case '3':
      case '4':
      case '5':
        return hit(l[i]!);
      case 'P':
        if (at('PM')) return hit('PM');
        break;
      case 'p':
        if (at('pm')) return hit('pm');
        break;
      case '-':
      case 'Z':
        for (const e of TZ_ELEMENTS) if (at(l[i] + e)) return hit(l[i] + e);
        break;
      case '.':
      case ',': {
        // fractional seconds: a run of 0s or 9s not followed by a digit
        const c = l[i + 1];
        if (c !== '0' && c !== '9') break;
        let j = i + 1;
        while (l[j] === c) j++;
        if (!isDigit(l, j)) return hit(l.slice(i, j));
        break;
      }
    }
  }
  return [l, '', ''];
}

const pad = (n: number, width: number): string => (n < 0 ? '-' + String(-n).padStart(width, '0') : String(n).padStart(width, '0'));

/** Go's Time.Format. */
function format(t: Instant, loc: Loc, layout: string): string {
  const w = wall(t, loc);
  let out = '';
  for (let rest = layout; rest !== ''; ) {
    const [prefix, e, after] = nextElement(rest);
    out += prefix;
    rest = after;
    if (e === '') break;
    const hr12 = w.hour % 12 === 0 ? 12 : w.hour % 12;
    const off = w.zone.off;
    switch (e) {
      case '2006': out += pad(w.year, 4); break;
      case '06': out += pad(Math.abs(w.year) % 100, 2); break;
      case 'Jan': out += MONTHS[w.month - 1]!.slice(0, 3); break;
      case 'January': out += MONTHS[w.month - 1]; break;
      case '1': out += w.month; break;
      case '01': out += pad(w.month, 2); break;
      case 'Mon': out += WEEKDAYS[w.wday]!.slice(0, 3); break;
      case 'Monday': out += WEEKDAYS[w.wday]; break;
      case '2': out += w.day; break;
      case '_2': out += String(w.day).padStart(2, ' '); break;
      case '02': out += pad(w.day, 2); break;
      case '__2': out += String(w.yday).padStart(3, ' '); break;
      case '002': out += pad(w.yday, 3); break;
      case '15': out += pad(w.hour, 2); break;
      case '3': out += hr12; break;
      case '03': out += pad(hr12, 2); break;
      case '4': out += w.min; break;
      case '04': out += pad(w.min, 2); break;
      case '5': out += w.sec; break;
      case '05': out += pad(w.sec, 2); break;
      case 'PM': out += w.hour >= 12 ? 'PM' : 'AM'; break;
      case 'pm': out += w.hour >= 12 ? 'pm' : 'am'; break;
      case 'MST':
        // a zone without a name prints as -0700
        out += w.zone.abbr !== '' ? w.zone.abbr : offsetText(off, '-0700');
        break;
      default:
        if (e[0] === '.' || e[0] === ',') out += fraction(w.nsec, e);
        else out += offsetText(off, e);
    }
  }
  return out;
}

/** A zone offset in the form of a "-07…" or "Z07…" element ("Z…" writes Z for UTC). */
function offsetText(off: number, e: string): string {
  if (off === 0 && e[0] === 'Z') return 'Z';
  const abs = Math.abs(off);
  const mins = Math.floor(abs / 60);
  const colon = e.includes(':') ? ':' : '';
  let s = (off < 0 ? '-' : '+') + pad(Math.floor(mins / 60), 2);
  if (e.length > 3) s += colon + pad(mins % 60, 2);
  if (e.length > 6) s += colon + pad(abs % 60, 2);
  return s;
}

/** ".000" keeps its digits; ".999" drops trailing zeros, and the separator with them. */
function fraction(nsec: number, e: string): string {
  const digits = String(nsec).padStart(9, '0').slice(0, e.length - 1);
  if (e[1] === '0') return e[0] + digits;
  const trimmed = digits.replace(/0+$/, '');
  return trimmed === '' ? '' : e[0] + trimmed;
}

/** Go's atoi: an optional sign and digits (none is 0). */
function atoi(s: string): number | undefined {
  const m = /^([+-]?)(\d*)$/.exec(s);
  if (!m) return undefined;
  const n = Number(m[2] || '0');
  return m[1] === '-' ? -n : n;
}

/** Go's case-insensitive prefix match of a name table (lookup); [index, rest]. */
function matchName(names: string[], v: string): [number, string] | undefined {
  const i = names.findIndex((n) => v.length >= n.length && v.slice(0, n.length).toLowerCase() === n.toLowerCase());
  return i < 0 ? undefined : [i, v.slice(names[i]!.length)];
}

/** The length of a zone abbreviation at the start of v (Go's parseTimeZone), 0 if none. */
function zoneNameLength(v: string): number {
  if (v.length < 3) return 0;
  if (v.startsWith('ChST') || v.startsWith('MeST')) return 4;
  const signed = (s: string): number => {
    const m = /^[+-](\d+)/.exec(s);
    return m && Number(m[1]) <= 23 ? m[0].length : 0;
  };
  if (v.startsWith('GMT')) return 3 + (v.length > 3 ? signed(v.slice(3)) : 0);
  if (v[0] === '+' || v[0] === '-') return signed(v);
  const upper = /^[A-Z]{0,6}/.exec(v)![0].length;
  if (upper === 3) return 3;
  if (upper === 4 && (v[3] === 'T' || v.startsWith('WITA'))) return 4;
  if (upper === 5 && v[4] === 'T') return 5;
  return 0;
}

/** Go's time.Parse: the layout's elements read from the value; a time without a zone is UTC. */
function parse(layout: string, value: string): Instant {
  const bad = (why = ''): never => fail(`parsing time "${value}" as "${layout}"${why || ': cannot parse'}`);
  const range = (what: string): never => bad(`: ${what} out of range`);
  let [year, month, day, yday, hour, min, sec, nsec] = [0, -1, -1, -1, 0, 0, 0, 0];
  let [am, pm] = [false, false];
  let utc = false; // "Z" or "UTC": wins over any offset
  let zoneOffset: number | undefined;
  let zoneName = '';
  let v = value;
  // Go's getnum: one or two digits (two when fixed)
  const num2 = (fixed: boolean): number => {
    if (!isDigit(v, 0)) bad();
    const two = isDigit(v, 1);
    if (!two && fixed) bad();
    const n = Number(v.slice(0, two ? 2 : 1));
    v = v.slice(two ? 2 : 1);
    return n;
  };
  // Go's parseNanoseconds over the first n characters (separator included)
  const nanos = (n: number): number => {
    const digits = v.slice(1, Math.min(n, 10));
    const ns = atoi(digits) ?? bad();
    if (v[0] !== '.' && v[0] !== ',') bad();
    if (ns < 0) range('fractional second');
    v = v.slice(n);
    return ns * 10 ** (9 - digits.length);
  };
  // a "-07…" or "Z07…" element: the value has the same shape, with a sign
  const readOffset = (e: string): number => {
    const s = v.slice(0, e.length);
    const colon = e.includes(':');
    if (s.length < e.length || (colon && (s[3] !== ':' || (e.length === 9 && s[6] !== ':')))) bad();
    const at = colon ? [1, 4, 7] : [1, 3, 5];
    const [h, m, sc] = at.map((i) => (i >= e.length ? 0 : /^\d\d$/.test(s.slice(i, i + 2)) ? Number(s.slice(i, i + 2)) : bad()));
    // Go allows 24 h, 60 min and 60 s: some write offsets that way
    if (h! > 24) range('time zone offset hour');
    if (m! > 60) range('time zone offset minute');
    if (sc! > 60) range('time zone offset second');
    if (s[0] !== '+' && s[0] !== '-') bad();
    v = v.slice(e.length);
    const off = (h! * 60 + m!) * 60 + sc!;
    return s[0] === '-' ? -off : off;
  };
  for (let rest = layout; ; ) {
    const [prefix, e, after] = nextElement(rest);
    v = skip(v, prefix) ?? bad();
    if (e === '') {
      if (v !== '') bad(`: extra text: "${v}"`);
      break;
    }
    rest = after;
    switch (e) {
      case '2006':
        if (v.length < 4 || !/^\d{4}/.test(v)) bad();
        year = Number(v.slice(0, 4));
        v = v.slice(4);
        break;
      case '06': {
        // Go's atoi takes a sign here; 69–99 are 19xx
        if (v.length < 2) bad();
        year = atoi(v.slice(0, 2)) ?? bad();
        year += year >= 69 ? 1900 : 2000;
        v = v.slice(2);
        break;
      }
      case 'Jan':
      case 'January': {
        const r = matchName(e === 'Jan' ? MONTHS.map((m) => m.slice(0, 3)) : MONTHS, v) ?? bad();
        [month, v] = [r[0] + 1, r[1]];
        break;
      }
      case 'Mon':
      case 'Monday':
        v = (matchName(e === 'Mon' ? WEEKDAYS.map((d) => d.slice(0, 3)) : WEEKDAYS, v) ?? bad())[1];
        break;
      case '1':
      case '01':
        month = num2(e === '01');
        if (month < 1 || month > 12) range('month');
        break;
      case '2':
      case '_2':
      case '02':
        if (e === '_2' && v[0] === ' ') v = v.slice(1);
        // checked against the month once all is read
        day = num2(e === '02');
        break;
      case '__2':
      case '002': {
        if (e === '__2') v = v.replace(/^ {1,2}/, '');
        const m = /^\d{1,3}/.exec(v);
        if (!m || (e === '002' && m[0].length !== 3)) bad();
        yday = Number(m![0]);
        v = v.slice(m![0].length);
        break;
      }
      case '15':
        hour = num2(false);
        if (hour > 23) range('hour');
        break;
      case '3':
      case '03':
        hour = num2(e === '03');
        if (hour > 12) range('hour');
        break;
      case '4':
      case '04':
        min = num2(e === '04');
        if (min > 59) range('minute');
        break;
      case '5':
      case '05':
        sec = num2(e === '05');
        if (sec > 59) range('second');
        // fractional seconds the layout does not spell are still read (Go does the same)
        if (v.length >= 2 && (v[0] === '.' || v[0] === ',') && isDigit(v, 1)) {
          const next = nextElement(rest)[1];
          if (next[0] === '.' || next[0] === ',') break;
          let n = 2;
          while (isDigit(v, n)) n++;
          nsec = nanos(n);
        }
        break;
      case 'PM':
      case 'pm': {
        const p = v.slice(0, 2);
        if (p.length < 2) bad();
        if (p === (e === 'PM' ? 'PM' : 'pm')) pm = true;
        else if (p === (e === 'PM' ? 'AM' : 'am')) am = true;
        else bad();
        v = v.slice(2);
        break;
      }
      case 'MST': {
        if (v.startsWith('UTC')) {
          utc = true;
          v = v.slice(3);
          break;
        }
        const n = zoneNameLength(v);
        if (n === 0) bad();
        [zoneName, v] = [v.slice(0, n), v.slice(n)];
        break;
      }
      default:
        if (e[0] === '.' || e[0] === ',') {
          if (e[1] === '0') {
            // ".000" needs exactly its digits
            if (v.length < e.length) bad();
            nsec = nanos(e.length);
          } else if (v.length >= 2 && (v[0] === '.' || v[0] === ',') && isDigit(v, 1)) {
            // ".999": any number of digits, or none at all
            let n = 1;
            while (isDigit(v, n)) n++;
            nsec = nanos(n);
          }
          break;
        }
        // a zone offset; "Z…" elements also take "Z" for UTC
        if (e[0] === 'Z' && v[0] === 'Z') {
          utc = true;
          v = v.slice(1);
          break;
        }
        zoneOffset = readOffset(e);
    }
  }
  if (pm && hour < 12) hour += 12;
  else if (am && hour === 12) hour = 0;
  if (yday >= 0) {
    // the day of the year gives month and day, and must agree with any given
    const [y, m, d] = civil(daysFromCivil(year, 1, 1) + yday - 1);
    if (y !== year) range('day-of-year');
    if (month >= 0 && month !== m) bad(': day-of-year does not match month');
    if (day >= 0 && day !== d) bad(': day-of-year does not match day');
    [month, day] = [m, d];
  } else {
    if (month < 0) month = 1;
    if (day < 0) day = 1;
  }
  if (day < 1 || day > daysIn(month, year)) range('day');
  const t = date(year, month, day, hour, min, sec, nsec, UTC);
  if (utc) return t;
  if (zoneOffset !== undefined) return { sec: t.sec - zoneOffset, nsec };
  if (zoneName !== '') {
    // a name the host's zone uses gives its offset; any other only labels the time (Go: local.lookupName)
    const off = localOffsetByName(zoneName, t.sec);
    if (off !== undefined) return { sec: t.sec - off, nsec };
  }
  return t;
}

/** Go's skip: the layout's literal text, where a run of spaces matches any run of spaces. */
function skip(v: string, prefix: string): string | undefined {
  let p = prefix;
  while (p !== '') {
    if (p[0] === ' ') {
      if (v !== '' && v[0] !== ' ') return undefined;
      p = p.replace(/^ +/, '');
      v = v.replace(/^ +/, '');
    } else {
      if (v[0] !== p[0]) return undefined;
      [p, v] = [p.slice(1), v.slice(1)];
    }
  }
  return v;
}

/** The offset of the host's zone named `name` around `unix` (Go's Location.lookupName). */
function localOffsetByName(name: string, unix: number): number | undefined {
  const loc = local();
  for (const z of loc.types) {
    if (z.abbr !== name) continue;
    const at = loc.lookup(unix - z.off);
    if (at.abbr === name) return at.off;
  }
  return loc.types.find((z) => z.abbr === name)?.off;
}

/* ------------------------------------------------------------- durations */

const UNITS: Record<string, bigint> = {
  ns: 1n,
  us: 1000n,
  'µs': 1000n, // U+00B5 micro sign
  'μs': 1000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: G,
  m: 60n * G,
  h: 3600n * G,
};
const P63 = 1n << 63n;

/** Go's time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, int64 nanoseconds. */
export function parseDuration(text: string): bigint {
  const bad = (why = 'invalid duration'): never => fail(`time: ${why} "${text}"`);
  let s = text;
  let neg = false;
  if (s[0] === '-' || s[0] === '+') [neg, s] = [s[0] === '-', s.slice(1)];
  if (s === '0') return 0n;
  if (s === '') bad();
  let d = 0n;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?([^\d.]*)/.exec(s)!;
    const [whole, frac, unitName] = [m[1]!, m[2], m[3]!];
    if (whole === '' && !frac) bad();
    let v = BigInt(whole || '0');
    if (v > P63) bad();
    // digits past int64 are dropped, as Go's leadingFraction does
    let f = 0n;
    let scale = 1;
    for (const c of frac ?? '') {
      const y = f * 10n + BigInt(c);
      if (f > (P63 - 1n) / 10n || y > P63) break;
      [f, scale] = [y, scale * 10];
    }
    if (unitName === '') bad('missing unit in duration');
    const unit = UNITS[unitName] ?? bad(`unknown unit "${unitName}" in duration`);
    if (v > P63 / unit) bad();
    v *= unit;
    // Go takes the fraction through float64 too
    if (f > 0n) v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
    if (v > P63) bad();
    d += v;
    if (d > P63) bad();
    s = s.slice(m[0].length);
  }
  if (neg) return -d;
  return d > P63 - 1n ? bad() : d;
}

/* -------------------------------------------------------------- builtins */

/** An integer operand of an exact builtin that JS arithmetic can carry. */
function smallInt(text: unknown): number {
  const v = exact(text);
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : fail('operand must be an integer');
}

/** OPA's diff (after icza/gox): calendar difference of two times, both read in the first one's zone. */
function diff(a: unknown, b: unknown): number[] {
  const x = tzTime(a);
  let [t1, t2] = [x.t, tzTime(b).t];
  if (t1.sec > t2.sec || (t1.sec === t2.sec && t1.nsec > t2.nsec)) [t1, t2] = [t2, t1];
  const [w1, w2] = [wall(t1, x.loc), wall(t2, x.loc)];
  let [year, month, day] = [w2.year - w1.year, w2.month - w1.month, w2.day - w1.day];
  let [hour, min, sec] = [w2.hour - w1.hour, w2.min - w1.min, w2.sec - w1.sec];
  if (sec < 0) (sec += 60), min--;
  if (min < 0) (min += 60), hour--;
  if (hour < 0) (hour += 24), day--;
  // a borrowed month has the length of the earlier time's month
  if (day < 0) (day += daysIn(w1.month, w1.year)), month--;
  if (month < 0) (month += 12), year--;
  return [year, month, day, hour, min, sec];
}

export const IMPLS: Record<string, Impl> = {
  'time.parse_ns': (layout, value) => nsText(parse(LAYOUTS[str(layout)] ?? str(layout), str(value))),
  'time.parse_rfc3339_ns': (value) => nsText(parse(LAYOUTS.RFC3339!, str(value))),
  'time.parse_duration_ns': (d) => jsonText(parseDuration(str(d)).toString()),
  'time.date': (x) => {
    const { t, loc } = tzTime(x);
    const w = wall(t, loc);
    return [w.year, w.month, w.day];
  },
  'time.clock': (x) => {
    const { t, loc } = tzTime(x);
    const w = wall(t, loc);
    return [w.hour, w.min, w.sec];
  },
  'time.weekday': (x) => {
    const { t, loc } = tzTime(x);
    return WEEKDAYS[wall(t, loc).wday];
  },
  'time.format': (x) => {
    const { t, loc, layout } = tzTime(x);
    return format(t, loc, layout === '' ? LAYOUTS.RFC3339Nano! : (LAYOUTS[layout] ?? layout));
  },
  'time.add_date': (x, years, months, days) => {
    const { t, loc } = tzTime(x);
    const w = wall(t, loc);
    return nsText(date(w.year + smallInt(years), w.month + smallInt(months), w.day + smallInt(days), w.hour, w.min, w.sec, w.nsec, loc));
  },
  'time.diff': (a, b) => diff(a, b),
};
