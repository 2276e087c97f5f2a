/**
 * Go's regular expressions (RE2 syntax) as JavaScript RegExps, for the host
 * builtins that take a pattern (regex.*, json.match_schema's "pattern"):
 * the same language where JavaScript can say it, null where RE2 would
 * refuse the pattern or JavaScript cannot say the same thing.
 */

// RE2's POSIX classes ([[:alpha:]]), as code point ranges
const POSIX: Record<string, Array<[number, number]>> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0, 0x7f]],
  blank: [[9, 9], [0x20, 0x20]],
  cntrl: [[0, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[9, 0xd], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};

/** A POSIX class as the inside of a JavaScript class; [:^name:] is its complement. */
function posixClass(name: string, negated: boolean): string | undefined {
  let ranges = POSIX[name];
  if (!ranges) return undefined;
  if (negated) {
    const out: Array<[number, number]> = [];
    let next = 0;
    for (const [lo, hi] of ranges) {
      if (lo > next) out.push([next, lo - 1]);
      next = hi + 1;
    }
    out.push([next, 0x10ffff]);
    ranges = out;
  }
  const cp = (c: number): string => `\\u{${c.toString(16)}}`;
  return ranges.map(([lo, hi]) => (lo === hi ? cp(lo) : `${cp(lo)}-${cp(hi)}`)).join('');
}

const reCache = new Map<string, RegExp | null>();

/**
 * An RE2 pattern (Go's regexp) as a JavaScript RegExp, or null where RE2
 * would refuse it or JavaScript cannot say the same thing. RE2 escapes any
 * punctuation and takes a stray `{` or `}` literally, which the 'u' flag
 * refuses, so those become \xHH; it has no lookaround or backreferences,
 * which JavaScript would take; its \s is ASCII only. Flags are taken only
 * at the start, (?i) and the like.
 *
 * Known difference, left: under (?i) JavaScript's \b and \B take U+017F
 * (long s) and U+212A (Kelvin sign) for word characters, as its \w does
 * (which Go's folded \w does too), while Go's \b stays ASCII. Patterns the
 * runtime matches natively (runtime/regex.c) get Go's answer; only one it
 * leaves to the host, on a text with one of those two next to a boundary,
 * can differ. No /iu pattern can tell U+017F from s to mend it.
 */
export function goRegex(pattern: string): RegExp | null {
  const hit = reCache.get(pattern);
  if (hit !== undefined) return hit;
  let r: RegExp | null = null;
  try {
    r = translate(pattern);
  } catch {
    r = null;
  }
  if (reCache.size > 512) reCache.clear();
  reCache.set(pattern, r);
  return r;
}

function translate(pattern: string): RegExp | null {
  let flags = 'u';
  let p = pattern;
  const lead = /^\(\?([ims]+)\)/.exec(p);
  if (lead) {
    flags += [...new Set(lead[1])].join('');
    p = p.slice(lead[0].length);
  }
  const hex = (c: string): string => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  const chars = [...p];
  let out = '';
  let inClass = false;
  let open = 0; // `{` taken as a repetition, waiting for its `}`
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\') {
      const n = chars[++i];
      if (n === undefined) return null;
      if (n === 'Q') {
        let j = i + 1;
        for (; j < chars.length && !(chars[j] === '\\' && chars[j + 1] === 'E'); j++) {
          const q = chars[j]!;
          out += /[\p{L}\p{N}]/u.test(q) || q.charCodeAt(0) >= 128 ? q : hex(q);
        }
        i = j + 1;
        continue;
      }
      if (/[1-9]/.test(n)) return null; // a backreference
      if (n === 'A' && !inClass) out += '^';
      else if (n === 'z' && !inClass) out += '$(?![\\s\\S])';
      else if (n === 'a') out += '\\x07';
      else if (n === 's') out += inClass ? '\\t\\n\\f\\r ' : '[\\t\\n\\f\\r ]';
      else if (n === 'S' && !inClass) out += '[^\\t\\n\\f\\r ]';
      else if ((n === 'p' || n === 'P') && chars[i + 1] !== '{') {
        const name = chars[++i];
        if (name === undefined) return null;
        out += unicodeClass(n, name);
      } else if ((n === 'p' || n === 'P') && chars[i + 1] === '{') {
        const end = chars.indexOf('}', i);
        if (end < 0) return null;
        out += unicodeClass(n, chars.slice(i + 2, end).join(''));
        i = end;
      } else if (n === 'x' && chars[i + 1] === '{') {
        const end = chars.indexOf('}', i);
        if (end < 0) return null;
        out += `\\u{${chars.slice(i + 2, end).join('')}}`;
        i = end;
      } else if (/[\p{L}\p{N}]/u.test(n) || '^$\\.*+?()[]{}|/'.includes(n)) out += `\\${n}`;
      else if (n.charCodeAt(0) < 128) out += hex(n);
      else return null; // RE2 escapes only ASCII punctuation
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      if (c === '[' && chars[i + 1] === ':') {
        const end = chars.indexOf(']', i);
        const m = /^\[:(\^?)([a-z]+):\]$/.exec(chars.slice(i, end + 1).join(''));
        const ranges = m ? posixClass(m[2]!, m[1] === '^') : undefined;
        if (ranges === undefined) return null;
        out += ranges;
        i = end;
        continue;
      }
      out += c === '[' ? '\\[' : c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += '[';
      if (chars[i + 1] === '^') out += chars[++i];
      if (chars[i + 1] === ']') (out += '\\]'), i++; // a leading ] is literal in RE2
      continue;
    }
    if (c === '(' && chars[i + 1] === '?') {
      const rest = chars.slice(i, i + 4).join('');
      if (rest.startsWith('(?P<')) {
        out += '(?<';
        i += 3;
        continue;
      }
      if (/^\(\?<[A-Za-z_]/.test(rest)) {
        out += '(?<';
        i += 2;
        continue;
      }
      if (rest.startsWith('(?:')) {
        out += '(?:';
        i += 2;
        continue;
      }
      return null; // lookaround, or flags JavaScript cannot set inside a pattern
    }
    if (c === '{') {
      const rep = /^\{(\d+)(?:,(\d*))?\}/.exec(chars.slice(i, i + 24).join(''));
      // RE2 refuses a repeat count past 1000
      if (rep && (Number(rep[1]) > 1000 || Number(rep[2] || 0) > 1000)) return null;
      if (rep) open++, (out += c);
      else out += '\\{';
      continue;
    }
    if (c === '}') {
      if (open > 0) open--, (out += c);
      else out += '\\}';
      continue;
    }
    if (c === ']') {
      out += '\\]'; // literal outside a class in RE2, an error under 'u'
      continue;
    }
    if (c === '.' && !flags.includes('s')) {
      out += '[^\\n]'; // RE2's . stops only at \n; JavaScript's also at \r, U+2028, U+2029
      continue;
    }
    out += c;
  }
  if (inClass) return null;
  return new RegExp(out, flags);
}

/** \pL, \p{Greek}: a general category, else a script (RE2 takes both bare). */
function unicodeClass(p: string, name: string): string {
  for (const form of [name, `Script=${name}`]) {
    try {
      new RegExp(`\\p{${form}}`, 'u');
      return `\\${p}{${form}}`;
    } catch {
      // not this form
    }
  }
  throw new Error(`unknown class ${name}`);
}
