// regex.match natively: a Thompson NFA over RE2's syntax (Go's regexp, which
// OPA uses), for the patterns policies write: literals, ., classes with
// ranges and \d \w \s (and their negations), ^ $ \A \z \b \B, groups (?:),
// alternation, * + ? {n} {n,} {n,m}. regex.match only asks whether there is
// a match, so the simulation runs in time linear in the text, whatever the
// pattern (no backtracking blow-up). Text is decoded as UTF-8, an invalid
// byte as U+FFFD, as Go does. Cached patterns run as a lazy DFA made from
// the same program (dfa_run), which falls back on the NFA when its states
// do not fit.
//
// A leading (?i) (case-insensitive, as security patterns so often are) is
// native too: each ASCII letter, and each class, is folded as Go folds
// them (k and s have a third case each: U+212A KELVIN SIGN, U+017F LONG S).
//
// Anything else (other flags, flags further in, \p{..}, [[:alpha:]],
// non-ASCII in the pattern, \Q..\E, a syntax error, a pattern that compiles
// too big) goes to the host builtin instead: busted_regex_match returns its
// answer, so the result is OPA's either way.
#include "abi.h"
#include <wasm_simd128.h>

enum { I_CHAR, I_ANY, I_CLASS, I_SPLIT, I_JMP, I_MATCH, I_BOL, I_EOL, I_WORDB, I_NWORDB };

typedef struct {
  u8 op;
  u8 neg;   // I_CLASS: negated
  u32 x, y; // I_CHAR: code point, and its other case under (?i) (0: none); I_SPLIT: both targets; I_JMP: x; I_CLASS: first range, count
} inst_t;

#define MAX_PROG 512
#define MAX_RANGES 256
#define MAX_NODES 2048

typedef enum { N_CHAR, N_ANY, N_CLASS, N_BOL, N_EOL, N_WORDB, N_NWORDB, N_CAT, N_ALT, N_REP, N_EMPTY } ntype;

typedef struct node {
  ntype t;
  u32 c, c2;          // N_CHAR: the code point, and its other case under (?i) (0: none)
  u32 r0, rn, neg;    // N_CLASS: ranges [r0, r0+rn)
  struct node *a, *b; // N_CAT, N_ALT: a then b; N_REP: a
  i32 min, max;       // N_REP: max -1 = unbounded
} node;

typedef struct {
  const char *p, *end;
  i32 bad;
  node *nodes; // parse tree, on the heap: only the program is kept
  u32 nn;
  u32 ranges[MAX_RANGES * 2];
  u32 nr;
  inst_t prog[MAX_PROG];
  u32 np;
  u8 first[32];   // bytes a match can start with (a bitmap), when `firstok`
  i32 firstok;    // 0: a match may start anywhere (empty match, assertions, non-ASCII)
  // the first two bytes of any match (a bitmap of 256 bits per ASCII first
  // byte), when `pairok`: every match is at least two bytes long and starts
  // with ASCII. Prose rarely has a pattern's first two bytes (`AK`, `--`,
  // `sk`...), so the scan for a start skips most of a prompt without
  // running the NFA.
  i32 pairok;
  u8 pairs[128 * 32];
  // scan: firstok or pairok, and start[b] says whether byte b may begin a
  // match (both bitmaps folded into one table: a load per byte of text)
  i32 scan;
  u8 start[256];
  // bytes of which every match holds at least one (need_bytes), when
  // `needok`: a text with none of them has no match, which one pass over
  // it sixteen bytes at a time tells (has_needed). The secret patterns
  // need a `K`, `-` or `_`, which prose seldom has; their first bytes
  // (`s`, `p`, `r`, `g`...) it has everywhere.
  i32 needok;
  u8 need[32];       // the set, a bitmap
  u8 need_lo[16];    // its ASCII bytes by nibbles: b is in it when need_lo[b & 15] & need_hi[b >> 4]
  u8 need_hi[16];    // (1 << b >> 4 for b < 0x80, 0 above)
  i32 need_high;     // it holds a byte >= 0x80: any such byte is taken as one of it
  i32 fold;       // (?i): letters match either case
  u32 plen;       // the pattern, for the cache
  char pat[640];
  const char *src; // where it was last found, when stable() (compiled())
  u32 src_gen;     // and busted_data_gen then
  // the lazy DFA (dfa_run), for cached patterns: ASCII bytes by class
  // (bytes no instruction tells apart, and alike to \b), 0 classes when
  // the pattern has no DFA; its states' hash buckets, valid while dfa_gen
  // is the arena's
  u8 cls[128];
  u32 ncls;
  u32 dfa_gen;
  u16 buckets[64];
  u16 dfa_start, dfa_idle[2]; // the states with only seed 0: at the start; after a non-word, a word byte
} re_t;

// Byte sets as bitmaps of 256 bits (first, pairs' rows, need).
static inline void set_byte(u8 *set, u32 b) { set[b >> 3] |= (u8)(1 << (b & 7)); }
static inline i32 has_byte(const u8 *set, u32 b) { return (set[b >> 3] >> (b & 7)) & 1; }

static node *mk(re_t *re, ntype t) {
  if (re->nn == MAX_NODES) {
    re->bad = 1;
    return &re->nodes[0];
  }
  node *n = &re->nodes[re->nn++];
  memset(n, 0, sizeof(*n));
  n->t = t;
  return n;
}

static void range(re_t *re, u32 lo, u32 hi) {
  if (re->nr == MAX_RANGES) {
    re->bad = 1;
    return;
  }
  re->ranges[re->nr * 2] = lo;
  re->ranges[re->nr * 2 + 1] = hi;
  re->nr++;
}

// Under (?i), the ranges [from, re->nr) with every letter's other cases
// added (Go's simple folding: a-z and A-Z each other's, and k, s also
// U+212A, U+017F; the pattern itself is ASCII here).
static void fold_ranges(re_t *re, u32 from) {
  u32 to = re->nr;
  for (u32 k = from; k < to; k++) {
    u32 lo = re->ranges[k * 2], hi = re->ranges[k * 2 + 1];
    u32 a = lo > 'a' ? lo : 'a', b = hi < 'z' ? hi : 'z';
    if (a <= b) range(re, a - 32, b - 32);
    a = lo > 'A' ? lo : 'A', b = hi < 'Z' ? hi : 'Z';
    if (a <= b) range(re, a + 32, b + 32);
    if ((lo <= 'k' && 'k' <= hi) || (lo <= 'K' && 'K' <= hi)) range(re, 0x212A, 0x212A);
    if ((lo <= 's' && 's' <= hi) || (lo <= 'S' && 'S' <= hi)) range(re, 0x17F, 0x17F);
  }
}

// \d \w \s and their upper-case negations, as ranges into the current class
// (negations only outside brackets, where they make their own class).
static i32 perl_class(re_t *re, char c) {
  switch (c) {
  case 'd': case 'D': range(re, '0', '9'); return 1;
  case 'w': case 'W': range(re, '0', '9'); range(re, 'A', 'Z'); range(re, '_', '_'); range(re, 'a', 'z'); return 1;
  case 's': case 'S': range(re, '\t', '\n'); range(re, '\f', '\r'); range(re, ' ', ' '); return 1;
  }
  return 0;
}

// A single escaped character: punctuation, or \n \t \r \f \v \a; 0 = not supported here.
static i32 escaped(char c, u32 *out) {
  switch (c) {
  case 'n': *out = '\n'; return 1;
  case 't': *out = '\t'; return 1;
  case 'r': *out = '\r'; return 1;
  case 'f': *out = '\f'; return 1;
  case 'v': *out = '\v'; return 1;
  case 'a': *out = 7; return 1;
  }
  if ((c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~')) {
    *out = (u8)c;
    return 1;
  }
  return 0;
}

static node *parse_alt(re_t *re);

static node *parse_class(re_t *re) {
  node *n = mk(re, N_CLASS);
  re->p++; // [
  if (re->p < re->end && *re->p == '^') {
    n->neg = 1;
    re->p++;
  }
  n->r0 = re->nr;
  i32 first = 1;
  while (re->p < re->end && (*re->p != ']' || first)) {
    first = 0;
    u32 lo;
    char c = *re->p;
    if ((u8)c >= 0x80 || (c == '[' && re->p + 1 < re->end && re->p[1] == ':')) {
      re->bad = 1; // non-ASCII or [[:name:]]: the host's
      return n;
    }
    if (c == '\\') {
      if (re->p + 1 >= re->end) {
        re->bad = 1;
        return n;
      }
      char e = re->p[1];
      re->p += 2;
      if (e == 'd' || e == 'w' || e == 's') {
        perl_class(re, e);
        continue;
      }
      if (!escaped(e, &lo)) {
        re->bad = 1;
        return n;
      }
    } else {
      lo = (u8)c;
      re->p++;
    }
    u32 hi = lo;
    if (re->p + 1 < re->end && *re->p == '-' && re->p[1] != ']') {
      char h = re->p[1];
      if ((u8)h >= 0x80) {
        re->bad = 1;
        return n;
      }
      if (h == '\\') {
        if (re->p + 2 >= re->end || !escaped(re->p[2], &hi)) {
          re->bad = 1;
          return n;
        }
        re->p += 3;
      } else {
        hi = (u8)h;
        re->p += 2;
      }
      if (hi < lo) {
        re->bad = 1;
        return n;
      }
    }
    range(re, lo, hi);
  }
  if (re->p >= re->end) {
    re->bad = 1;
    return n;
  }
  re->p++; // ]
  if (re->fold) fold_ranges(re, n->r0); // folded, then negated: (?i)[^a] matches neither a nor A
  n->rn = re->nr - n->r0;
  return n;
}

static node *parse_atom(re_t *re) {
  char c = *re->p;
  if ((u8)c >= 0x80) {
    re->bad = 1;
    return mk(re, N_EMPTY);
  }
  switch (c) {
  case '(': {
    re->p++;
    if (re->p < re->end && *re->p == '?') {
      if (re->p + 1 < re->end && re->p[1] == ':') {
        re->p += 2;
      } else {
        re->bad = 1; // flags, named groups: the host's
        return mk(re, N_EMPTY);
      }
    }
    node *n = parse_alt(re);
    if (re->p >= re->end || *re->p != ')') {
      re->bad = 1;
      return n;
    }
    re->p++;
    return n;
  }
  case '[':
    return parse_class(re);
  case '.':
    re->p++;
    return mk(re, N_ANY);
  case '^':
    re->p++;
    return mk(re, N_BOL);
  case '$':
    re->p++;
    return mk(re, N_EOL);
  case '\\': {
    if (re->p + 1 >= re->end) {
      re->bad = 1;
      return mk(re, N_EMPTY);
    }
    char e = re->p[1];
    re->p += 2;
    switch (e) {
    case 'A': return mk(re, N_BOL);
    case 'z': return mk(re, N_EOL);
    case 'b': return mk(re, N_WORDB);
    case 'B': return mk(re, N_NWORDB);
    }
    if (e == 'd' || e == 'w' || e == 's' || e == 'D' || e == 'W' || e == 'S') {
      node *n = mk(re, N_CLASS);
      n->r0 = re->nr;
      perl_class(re, e);
      if (re->fold) fold_ranges(re, n->r0); // Go folds \w too: (?i)\w matches U+212A and U+017F
      n->rn = re->nr - n->r0;
      n->neg = e < 'a';
      return n;
    }
    u32 ch;
    if (!escaped(e, &ch)) {
      re->bad = 1;
      return mk(re, N_EMPTY);
    }
    node *n = mk(re, N_CHAR);
    n->c = ch;
    return n;
  }
  case '*': case '+': case '?': case '{': case ')': case '|':
    re->bad = 1; // a repeat with nothing before it, or a stray paren: RE2 says error
    return mk(re, N_EMPTY);
  }
  re->p++;
  u32 l = (u8)c | 0x20;
  if (re->fold && (l == 'k' || l == 's')) {
    // k and s under (?i): three cases, a class
    node *n = mk(re, N_CLASS);
    n->r0 = re->nr;
    range(re, l, l);
    fold_ranges(re, n->r0);
    n->rn = re->nr - n->r0;
    return n;
  }
  node *n = mk(re, N_CHAR);
  n->c = (u8)c;
  if (re->fold && l >= 'a' && l <= 'z') n->c2 = (u8)c ^ 0x20; // a letter under (?i): either case
  return n;
}

static i32 read_int(re_t *re, i32 *out) {
  i32 v = 0, any = 0;
  while (re->p < re->end && *re->p >= '0' && *re->p <= '9') {
    v = v * 10 + (*re->p++ - '0');
    if (v > 1000) return 0;
    any = 1;
  }
  *out = v;
  return any;
}

static node *parse_repeat(re_t *re) {
  node *a = parse_atom(re);
  i32 repeated = 0;
  while (!re->bad && re->p < re->end) {
    i32 min, max;
    char c = *re->p;
    if (c == '*') min = 0, max = -1, re->p++;
    else if (c == '+') min = 1, max = -1, re->p++;
    else if (c == '?') min = 0, max = 1, re->p++;
    else if (c == '{') {
      const char *save = re->p;
      re->p++;
      if (!read_int(re, &min)) {
        re->p = save; // RE2: a { that starts no repeat is a literal
        re->bad = 1;  // ... which we leave to the host
        return a;
      }
      max = min;
      if (re->p < re->end && *re->p == ',') {
        re->p++;
        if (re->p < re->end && *re->p == '}') max = -1;
        else if (!read_int(re, &max) || max < min) {
          re->bad = 1;
          return a;
        }
      }
      if (re->p >= re->end || *re->p != '}') {
        re->bad = 1;
        return a;
      }
      re->p++;
    } else {
      break;
    }
    if (re->p < re->end && *re->p == '?') re->p++; // lazy: the same for "is there a match"
    if (repeated) {
      re->bad = 1; // x** or x*+: RE2's "invalid nested repetition operator"; the host says so
      return a;
    }
    repeated = 1;
    node *r = mk(re, N_REP);
    r->a = a;
    r->min = min;
    r->max = max;
    a = r;
  }
  return a;
}

static node *parse_cat(re_t *re) {
  node *acc = mk(re, N_EMPTY);
  while (!re->bad && re->p < re->end && *re->p != '|' && *re->p != ')') {
    node *x = parse_repeat(re);
    if (acc->t == N_EMPTY) {
      acc = x;
    } else {
      node *c = mk(re, N_CAT);
      c->a = acc;
      c->b = x;
      acc = c;
    }
  }
  return acc;
}

static node *parse_alt(re_t *re) {
  node *a = parse_cat(re);
  while (!re->bad && re->p < re->end && *re->p == '|') {
    re->p++;
    node *b = parse_cat(re);
    node *n = mk(re, N_ALT);
    n->a = a;
    n->b = b;
    a = n;
  }
  return a;
}

static u32 emit(re_t *re, u8 op, u32 x, u32 y) {
  if (re->np == MAX_PROG) {
    re->bad = 1;
    return 0;
  }
  inst_t *i = &re->prog[re->np];
  i->op = op;
  i->neg = 0;
  i->x = x;
  i->y = y;
  return re->np++;
}

static void compile_node(re_t *re, node *n) {
  if (re->bad) return;
  switch (n->t) {
  case N_EMPTY: break;
  case N_CHAR: emit(re, I_CHAR, n->c, n->c2); break;
  case N_ANY: emit(re, I_ANY, 0, 0); break;
  case N_CLASS: {
    u32 i = emit(re, I_CLASS, n->r0, n->rn);
    re->prog[i].neg = (u8)n->neg;
    break;
  }
  case N_BOL: emit(re, I_BOL, 0, 0); break;
  case N_EOL: emit(re, I_EOL, 0, 0); break;
  case N_WORDB: emit(re, I_WORDB, 0, 0); break;
  case N_NWORDB: emit(re, I_NWORDB, 0, 0); break;
  case N_CAT:
    compile_node(re, n->a);
    compile_node(re, n->b);
    break;
  case N_ALT: {
    u32 split = emit(re, I_SPLIT, 0, 0);
    re->prog[split].x = re->np;
    compile_node(re, n->a);
    u32 jmp = emit(re, I_JMP, 0, 0);
    re->prog[split].y = re->np;
    compile_node(re, n->b);
    re->prog[jmp].x = re->np;
    break;
  }
  case N_REP: {
    for (i32 k = 0; k < n->min; k++) compile_node(re, n->a);
    if (n->max < 0) {
      u32 split = emit(re, I_SPLIT, 0, 0);
      re->prog[split].x = re->np;
      compile_node(re, n->a);
      emit(re, I_JMP, split, 0);
      re->prog[split].y = re->np;
    } else {
      for (i32 k = n->min; k < n->max && !re->bad; k++) {
        u32 split = emit(re, I_SPLIT, 0, 0);
        re->prog[split].x = re->np;
        compile_node(re, n->a);
        re->prog[split].y = re->np;
      }
    }
    break;
  }
  }
}


// --- the bytes every match holds: a prefilter --------------------------------

// How often byte b turns up in what policies match (prompts: English prose,
// some code), per mille, roughly: the cost of a set of needed bytes is how
// often a text has one, and so how often the prefilter lets it through.
static u32 byte_cost(u32 b) {
  static const u8 lower[26] = {65, 12, 25, 33, 95, 18, 16, 45, 60, 1, 6, 33, 20, 58, 60, 17, 1, 50, 55, 70, 24, 9, 16, 2, 15, 1};
  if (b >= 'a' && b <= 'z') return lower[b - 'a'];
  if (b == ' ') return 160;
  if (b == '.' || b == ',' || b == '\n') return 10;
  if ((b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')) return 4;
  return b < 0x80 ? 2 : 1;
}

// Sets worth a pass over the text: a byte in 25 or fewer, in prose.
#define NEED_MAX 25
#define NO_NEED 0xFFFFFFFFu

static u32 set_cost(const u8 *set) {
  u32 c = 0;
  for (u32 b = 0; b < 256; b++)
    if (has_byte(set, b)) c += byte_cost(b);
  return c;
}

// The first byte of code point cp's UTF-8 (the decoder's view of it).
static u32 lead_byte(u32 cp) {
  if (cp < 0x80) return cp;
  if (cp < 0x800) return 0xC0 | (cp >> 6);
  if (cp < 0x10000) return 0xE0 | (cp >> 12);
  return 0xF0 | (cp >> 18);
}

// Into SET, bytes of which every match of N holds one, the cheapest such
// set that N's parts give; its cost, or NO_NEED when there is none (N may
// match without consuming, or match anything: ., a negated class). Sound
// is all it must be: a concatenation's match holds each part's match, an
// alternation's one of its branches', a repeat's (at least once) its
// body's; a class's match is one of its code points, whose UTF-8 starts
// with its lead byte, and an invalid byte (U+FFFD to the decoder) is
// itself a byte >= 0x80.
static u32 need_bytes(re_t *re, node *n, u8 *set, u32 depth) {
  memset(set, 0, 32);
  if (depth > 64) return NO_NEED;
  switch (n->t) {
  case N_CHAR:
    set_byte(set, lead_byte(n->c));
    if (n->c2) set_byte(set, lead_byte(n->c2));
    return set_cost(set);
  case N_CLASS:
    if (n->neg) return NO_NEED;
    for (u32 k = n->r0; k < n->r0 + n->rn; k++) {
      u32 lo = re->ranges[k * 2], hi = re->ranges[k * 2 + 1];
      for (u32 c = lo; c <= hi && c < 0x80; c++) set_byte(set, c);
      if (hi >= 0x80) {
        for (u32 b = lead_byte(lo < 0x80 ? 0x80 : lo); b <= lead_byte(hi); b++) set_byte(set, b);
        if (lo <= 0xFFFD && 0xFFFD <= hi) for (u32 b = 0x80; b < 0x100; b++) set_byte(set, b);
      }
    }
    return set_cost(set);
  case N_REP:
    return n->min >= 1 ? need_bytes(re, n->a, set, depth + 1) : NO_NEED;
  case N_CAT: { // the parser builds concatenations down their left side
    u8 part[32];
    u32 best = NO_NEED;
    for (node *m = n;; m = m->a) {
      u32 c = need_bytes(re, m->t == N_CAT ? m->b : m, part, depth + 1);
      if (c < best) {
        best = c;
        memcpy(set, part, 32);
      }
      if (m->t != N_CAT) break;
    }
    return best;
  }
  case N_ALT: { // alternations too
    u8 part[32], all[32];
    memset(all, 0, 32);
    for (node *m = n;; m = m->a) {
      if (need_bytes(re, m->t == N_ALT ? m->b : m, part, depth + 1) == NO_NEED) return NO_NEED;
      for (u32 k = 0; k < 32; k++) all[k] |= part[k];
      if (m->t != N_ALT) break;
    }
    memcpy(set, all, 32);
    return set_cost(set);
  }
  default: // nothing consumed (empty, assertions), or anything (.)
    return NO_NEED;
  }
}

// re->needok and its tables, from the parse tree ROOT.
static void need_tables(re_t *re, node *root) {
  re->needok = need_bytes(re, root, re->need, 0) <= NEED_MAX;
  memset(re->need_lo, 0, 16);
  memset(re->need_hi, 0, 16);
  re->need_high = 0;
  for (u32 b = 0; b < 256; b++) {
    if (!has_byte(re->need, b)) continue;
    if (b >= 0x80) {
      re->need_high = 1;
      continue;
    }
    re->need_lo[b & 15] |= (u8)(1 << (b >> 4));
    re->need_hi[b >> 4] = (u8)(1 << (b >> 4));
  }
}

// Whether S holds a byte of re->need (a byte >= 0x80 counts when
// need_high): sixteen bytes at a time, each looked up by its two nibbles
// (the last sixteen overlap those before); shorter texts byte by byte.
static i32 has_needed(re_t *re, const u8 *s, u32 len) {
  if (len < 16) {
    for (u32 i = 0; i < len; i++)
      if (has_byte(re->need, s[i])) return 1;
    return 0;
  }
  v128_t lo = wasm_v128_load(re->need_lo), hi = wasm_v128_load(re->need_hi), low = wasm_i8x16_splat(15);
  v128_t high = wasm_i8x16_splat(re->need_high ? -128 : 0);
  for (u32 i = 0;; i += 16) {
    if (i + 16 > len) i = len - 16;
    v128_t v = wasm_v128_load(s + i);
    v128_t hit = wasm_v128_and(wasm_i8x16_swizzle(lo, wasm_v128_and(v, low)), wasm_i8x16_swizzle(hi, wasm_u8x16_shr(v, 4)));
    if (wasm_v128_any_true(wasm_v128_or(hit, wasm_v128_and(v, high)))) return 1;
    if (i + 16 >= len) return 0;
  }
}

// --- simulation ------------------------------------------------------------

static u32 decode(const u8 *s, u32 len, u32 i, u32 *cp) {
  u8 c = s[i];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  u32 n, v;
  if (c >= 0xC2 && c <= 0xDF) n = 2, v = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, v = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, v = c & 0x07;
  else {
    *cp = 0xFFFD;
    return 1;
  }
  if (i + n > len) {
    *cp = 0xFFFD;
    return 1;
  }
  for (u32 k = 1; k < n; k++) {
    if ((s[i + k] & 0xC0) != 0x80) {
      *cp = 0xFFFD;
      return 1;
    }
    v = v << 6 | (s[i + k] & 0x3F);
  }
  if ((n == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) || (n == 4 && (v < 0x10000 || v > 0x10FFFF))) {
    *cp = 0xFFFD;
    return 1;
  }
  *cp = v;
  return n;
}

static i32 is_word(u8 c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }

typedef struct {
  u32 *pcs;
  u32 n;
} list_t;

// What the assertions see at a position: the text's start or end, and
// whether the bytes before and after it are word bytes.
#define C_BEGIN 1
#define C_END 2
#define C_PREVW 4
#define C_NEXTW 8

static inline u32 context_at(const u8 *s, u32 len, u32 pos) {
  return (pos == 0 ? C_BEGIN : 0) | (pos == len ? C_END : 0) | (pos > 0 && is_word(s[pos - 1]) ? C_PREVW : 0) | (pos < len && is_word(s[pos]) ? C_NEXTW : 0);
}

// Adds pc and everything reachable from it without consuming input, at a
// position whose context is ctx; 1 when MATCH is reached.
static i32 addthread_at(re_t *re, list_t *l, u32 *mark, u32 gen, u32 *stack, u32 pc0, u32 ctx) {
  u32 sp = 0;
  stack[sp++] = pc0;
  while (sp) {
    u32 pc = stack[--sp];
    if (mark[pc] == gen) continue;
    mark[pc] = gen;
    inst_t *in = &re->prog[pc];
    switch (in->op) {
    case I_MATCH: return 1;
    case I_JMP: stack[sp++] = in->x; break;
    case I_SPLIT:
      stack[sp++] = in->y;
      stack[sp++] = in->x;
      break;
    case I_BOL: if (ctx & C_BEGIN) stack[sp++] = pc + 1; break;
    case I_EOL: if (ctx & C_END) stack[sp++] = pc + 1; break;
    case I_WORDB:
    case I_NWORDB: {
      i32 b = !(ctx & C_PREVW) != !(ctx & C_NEXTW);
      if (b == (in->op == I_WORDB)) stack[sp++] = pc + 1;
      break;
    }
    default: l->pcs[l->n++] = pc; break;
    }
  }
  return 0;
}

static inline i32 addthread(re_t *re, list_t *l, u32 *mark, u32 gen, u32 *stack, u32 pc0, const u8 *s, u32 len, u32 pos) {
  return addthread_at(re, l, mark, gen, stack, pc0, context_at(s, len, pos));
}

static i32 step_ok(re_t *re, inst_t *in, u32 cp) {
  switch (in->op) {
  case I_CHAR: return in->x == cp || (in->y != 0 && in->y == cp);
  case I_ANY: return cp != '\n';
  case I_CLASS: {
    i32 hit = 0;
    for (u32 k = 0; k < in->y && !hit; k++) hit = cp >= re->ranges[(in->x + k) * 2] && cp <= re->ranges[(in->x + k) * 2 + 1];
    return hit != in->neg;
  }
  }
  return 0;
}

static inline i32 pair_at(re_t *re, const u8 *s, u32 i) {
  u32 w = (u32)s[i] << 8 | s[i + 1];
  return w < 0x8000 && has_byte(re->pairs, w);
}

// Whether a match may start at i (re->scan): its first byte, and its first
// two where pairok, can begin one.
static inline i32 may_start(re_t *re, const u8 *s, u32 len, u32 i) {
  if (i >= len || !re->start[s[i]]) return 0;
  return !re->pairok || (i + 1 < len && pair_at(re, s, i));
}

// The first position from i where a match may start (re->scan), or len.
static u32 next_start(re_t *re, const u8 *s, u32 len, u32 i) {
  const u8 *start = re->start;
  for (;;) {
    while (i < len && !start[s[i]]) i++;
    if (i >= len || may_start(re, s, len, i)) return i < len ? i : len;
    i++;
  }
}

static i32 run(re_t *re, const u8 *s, u32 len) {
  // Where a match can only start at certain bytes, the text is scanned for
  // the first of them before anything is set up: most texts a policy
  // matches (prompts against secret patterns, an empty context against the
  // injection pattern) have none, and their answer costs only the scan.
  u32 i = 0;
  if (re->scan && (i = next_start(re, s, len, 0)) >= len) return 0;
  u32 n = re->np;
  u32 *buf = opa_malloc(n * 5 * sizeof(u32));
  list_t a = {buf, 0}, b = {buf + n, 0};
  u32 *mark = buf + 2 * n, *stack = buf + 3 * n; // the stack holds at most 2 entries per instruction
  memset(mark, 0xFF, n * sizeof(u32));
  list_t *cl = &a, *nl = &b;
  u32 gen = 0;
  if (!re->scan && addthread(re, cl, mark, gen, stack, 0, s, len, 0)) return 1;
  while (i < len) {
    if (cl->n == 0 && re->scan) {
      // nothing under way: jump to the next position a match can start at
      if ((i = next_start(re, s, len, i)) >= len) break;
      gen++;
      cl->n = 0;
      if (addthread(re, cl, mark, gen, stack, 0, s, len, i)) return 1;
    }
    u32 cp, w = decode(s, len, i, &cp);
    gen++;
    nl->n = 0;
    for (u32 t = 0; t < cl->n; t++) {
      inst_t *in = &re->prog[cl->pcs[t]];
      if (step_ok(re, in, cp) && addthread(re, nl, mark, gen, stack, cl->pcs[t] + 1, s, len, i + w)) return 1;
    }
    // unanchored: a match may also start at the next position (when its byte can start one)
    u32 j = i + w;
    i32 may = !re->scan || may_start(re, s, len, j);
    if (may && addthread(re, nl, mark, gen, stack, 0, s, len, j)) return 1;
    list_t *tmp = cl;
    cl = nl;
    nl = tmp;
    i += w;
  }
  return 0;
}

// --- a lazy DFA over the program ---------------------------------------------
//
// run() simulates the NFA: at every byte it tries every thread under way. A
// pattern such as the shipped prompt-injection one (forty-odd phrases,
// case-folded) keeps dozens of threads alive over prose, about 2 ns a byte:
// 40 µs for the context an agent sends with a request. dfa_run() steps a
// DFA made from the program as the text needs it (RE2's lazy DFA): a state
// is the set of threads waiting to take their closure at the next position
// (their "seeds", sorted) and whether the byte before that position was a
// word byte, or there was none (what \b, \B and ^ need besides the next
// byte); its move on a byte is one NFA step, worked out once and then a
// table load. A match ending before that byte is a move too (D_MATCH).
// Bytes that no instruction tells apart, and that \b sees alike, share a
// column (re->cls). Non-ASCII code points are stepped each time, not
// tabled. The states live in a static arena that outlives evaluations, as
// the compiled patterns do; it is emptied (dfa_gen) before a run when it is
// half full, and a run that fills it finishes on the NFA, from the start.

#define DFA_ARENA (32 * 1024)
#define DFA_STATES 768
#define D_UNKNOWN 0xFFFF
#define D_MATCH 0xFFFE
#define DF_WORD 1  // the byte before was a word byte
#define DF_BEGIN 2 // no byte before: the text's start

typedef struct {
  u32 hash;
  u16 chain; // the next state in its bucket (D_UNKNOWN: none)
  u16 n;     // seeds
  u8 flags;
  u8 end; // 0: not worked out; 1: no match at the text's end; 2: a match
  u16 pad;
  // then u16 next[re->ncls] (D_UNKNOWN until worked out), u16 seeds[n]
} dstate_t;

static u64 dfa_arena[DFA_ARENA / 8];
static u32 dfa_at[DFA_STATES]; // a state's offset in the arena, by id
static u32 dfa_used, dfa_count, dfa_gen = 1;

static inline dstate_t *dstate(u32 id) { return (dstate_t *)((u8 *)dfa_arena + dfa_at[id]); }
static inline u16 *dnext(dstate_t *d) { return (u16 *)(d + 1); }

// The state of these seeds and flags, made if new; D_UNKNOWN when the arena is full.
static u32 dfa_state(re_t *re, const u16 *seeds, u32 n, u32 flags) {
  u32 h = 2166136261u ^ flags;
  for (u32 k = 0; k < n; k++) h = (h ^ seeds[k]) * 16777619u;
  for (u32 id = re->buckets[h & 63]; id != D_UNKNOWN; id = dstate(id)->chain) {
    dstate_t *d = dstate(id);
    if (d->hash == h && d->n == n && d->flags == flags && memcmp(dnext(d) + re->ncls, seeds, n * 2) == 0) return id;
  }
  u32 size = (sizeof(dstate_t) + (re->ncls + n) * 2 + 7) & ~7u;
  if (dfa_count == DFA_STATES || dfa_used + size > DFA_ARENA) return D_UNKNOWN;
  u32 id = dfa_count++;
  dfa_at[id] = dfa_used;
  dfa_used += size;
  dstate_t *d = dstate(id);
  d->hash = h;
  d->n = (u16)n;
  d->flags = (u8)flags;
  d->end = 0;
  d->chain = re->buckets[h & 63];
  re->buckets[h & 63] = (u16)id;
  memset(dnext(d), 0xFF, re->ncls * 2);
  memcpy(dnext(d) + re->ncls, seeds, n * 2);
  return id;
}

typedef struct {
  list_t l;
  u32 *mark, *stack, gen;
  u16 *out;
} dfa_scratch;

// The closure of state id's seeds at a position with context ctx (its
// flags added) into x->l; 1 when it reaches MATCH.
static i32 dfa_closure(re_t *re, u32 id, u32 ctx, dfa_scratch *x) {
  if (!x->mark) {
    u32 n = re->np;
    u32 *buf = opa_malloc(n * 5 * sizeof(u32) + (n + 1) * sizeof(u16));
    x->l.pcs = buf;
    x->mark = buf + n;
    x->stack = buf + 2 * n; // 3n entries: a closure pushes at most 2 per instruction
    x->out = (u16 *)(buf + 5 * n);
    memset(x->mark, 0xFF, n * sizeof(u32));
  }
  dstate_t *d = dstate(id);
  u16 *seeds = dnext(d) + re->ncls;
  ctx |= (d->flags & DF_WORD ? C_PREVW : 0) | (d->flags & DF_BEGIN ? C_BEGIN : 0);
  x->gen++;
  x->l.n = 0;
  for (u32 k = 0; k < d->n; k++) {
    if (addthread_at(re, &x->l, x->mark, x->gen, x->stack, seeds[k], ctx)) return 1;
  }
  return 0;
}

// The move of state id on code point cp, whose first byte is (NEXTW) a word
// byte or not and whose last byte is (WORD) one or not: the next state,
// D_MATCH when a match ends before cp, D_UNKNOWN when the arena is full.
static u32 dfa_step(re_t *re, u32 id, u32 cp, u32 nextw, u32 word, dfa_scratch *x) {
  if (dfa_closure(re, id, nextw ? C_NEXTW : 0, x)) return D_MATCH;
  // unanchored: a match may start at the next position (seed 0 sorts first)
  u32 n = 0;
  x->out[n++] = 0;
  for (u32 t = 0; t < x->l.n; t++) {
    u32 pc = x->l.pcs[t];
    if (!step_ok(re, &re->prog[pc], cp)) continue;
    u16 v = (u16)(pc + 1);
    u32 j = n++;
    while (j > 1 && x->out[j - 1] > v) {
      x->out[j] = x->out[j - 1];
      j--;
    }
    x->out[j] = v;
  }
  return dfa_state(re, x->out, n, word ? DF_WORD : 0);
}

// 1 match, 0 none, -1 the arena filled up (the caller runs the NFA).
static i32 dfa_run(re_t *re, const u8 *s, u32 len) {
  if (dfa_used > DFA_ARENA / 2 || dfa_count > DFA_STATES / 2) {
    dfa_gen++;
    dfa_used = dfa_count = 0;
  }
  if (re->dfa_gen != dfa_gen) {
    memset(re->buckets, 0xFF, sizeof(re->buckets));
    re->dfa_gen = dfa_gen;
    u16 zero = 0;
    re->dfa_start = (u16)dfa_state(re, &zero, 1, DF_BEGIN);
    re->dfa_idle[0] = (u16)dfa_state(re, &zero, 1, 0);
    re->dfa_idle[1] = (u16)dfa_state(re, &zero, 1, DF_WORD);
  }
  dfa_scratch x = {{0, 0}, 0, 0, 0, 0}; // made by the first step the tables do not have
  u32 st = re->dfa_start;
  const u16 *idle = re->dfa_idle; // nothing under way
  u32 i = 0;
  if (re->scan) {
    // nothing can match before the first byte that may start a match (and no match is empty)
    if ((i = next_start(re, s, len, 0)) >= len) return 0;
    if (i > 0) st = idle[is_word(s[i - 1])];
  }
  while (i < len) {
    if (re->scan && (st == idle[0] || st == idle[1])) {
      u32 j = next_start(re, s, len, i);
      if (j >= len) return 0;
      if (j > i) st = idle[is_word(s[j - 1])];
      i = j;
    }
    u8 c = s[i];
    u32 next;
    if (c < 0x80) {
      u16 *col = &dnext(dstate(st))[re->cls[c]];
      if (*col == D_UNKNOWN) {
        u32 w = is_word(c);
        u32 to = dfa_step(re, st, c, w, w, &x);
        if (to == D_UNKNOWN) return -1;
        *col = (u16)to;
      }
      next = *col;
      i++;
    } else {
      u32 cp, w = decode(s, len, i, &cp);
      next = dfa_step(re, st, cp, 0, is_word(s[i + w - 1]), &x);
      if (next == D_UNKNOWN) return -1;
      i += w;
    }
    if (next == D_MATCH) return 1;
    st = next;
  }
  dstate_t *d = dstate(st);
  if (!d->end) d->end = dfa_closure(re, st, C_END, &x) ? 2 : 1;
  return d->end == 2;
}

// re->cls and re->ncls: ASCII bytes split by \b's view of them, then by
// each consuming instruction's answer for them.
static void byte_classes(re_t *re) {
  u8 to[256];
  u32 n = 2;
  for (u32 b = 0; b < 128; b++) re->cls[b] = (u8)is_word((u8)b);
  for (u32 pc = 0; pc < re->np; pc++) {
    inst_t *in = &re->prog[pc];
    if (in->op != I_CHAR && in->op != I_CLASS && in->op != I_ANY) continue;
    memset(to, 0xFF, 2 * n);
    u32 m = 0;
    for (u32 b = 0; b < 128; b++) {
      u32 k = re->cls[b] * 2u + (u32)step_ok(re, in, b);
      if (to[k] == 0xFF) to[k] = (u8)m++;
      re->cls[b] = to[k];
    }
    n = m;
  }
  re->ncls = n;
}

// The byte-level alphabet of a consuming instruction: 1 with the bits set
// when it consumes only ASCII, else 0 (any byte may come first).
static i32 inst_bytes(re_t *re, inst_t *in, u8 *set) {
  if (in->op == I_CHAR) {
    if (in->x >= 0x80 || in->y >= 0x80) return 0;
    set_byte(set, in->x);
    if (in->y != 0) set_byte(set, in->y);
    return 1;
  }
  if (in->op != I_CLASS || in->neg) return 0;
  for (u32 k = 0; k < in->y; k++) {
    u32 lo = re->ranges[(in->x + k) * 2], hi = re->ranges[(in->x + k) * 2 + 1];
    if (hi >= 0x80) return 0;
    for (u32 c = lo; c <= hi; c++) set_byte(set, c);
  }
  return 1;
}

// The bytes the instructions reachable from pc (without consuming input)
// can consume first; 0 when a match could start otherwise (MATCH or an
// assertion reachable, non-ASCII code points).
static i32 first_bytes(re_t *re, u8 *set) {
  u32 stack[MAX_PROG * 2], sp = 0;
  u8 seen[MAX_PROG];
  memset(seen, 0, re->np);
  memset(set, 0, 32);
  stack[sp++] = 0;
  while (sp) {
    u32 pc = stack[--sp];
    if (seen[pc]) continue;
    seen[pc] = 1;
    inst_t *in = &re->prog[pc];
    switch (in->op) {
    case I_JMP: stack[sp++] = in->x; break;
    case I_SPLIT:
      stack[sp++] = in->x;
      stack[sp++] = in->y;
      break;
    case I_CHAR:
    case I_CLASS:
      if (!inst_bytes(re, in, set)) return 0;
      break;
    case I_WORDB: stack[sp++] = pc + 1; break; // \b does not consume: what follows does
    default: return 0; // ANY, MATCH, ^, $, \B
    }
  }
  return 1;
}

// The consuming instructions reachable from pc without consuming, into
// out[]; word-boundary assertions are passed (they only narrow what
// matches). 0 when MATCH, ^ or $ is reachable: a match may end (or depend
// on the position) there.
static i32 closure(re_t *re, u32 pc0, u32 *out, u32 *nout) {
  u32 stack[MAX_PROG * 2], sp = 0, n = 0;
  u8 seen[MAX_PROG];
  memset(seen, 0, re->np);
  stack[sp++] = pc0;
  while (sp) {
    u32 pc = stack[--sp];
    if (seen[pc]) continue;
    seen[pc] = 1;
    inst_t *in = &re->prog[pc];
    switch (in->op) {
    case I_JMP: stack[sp++] = in->x; break;
    case I_SPLIT:
      stack[sp++] = in->x;
      stack[sp++] = in->y;
      break;
    case I_WORDB:
    case I_NWORDB: stack[sp++] = pc + 1; break;
    case I_CHAR:
    case I_CLASS:
    case I_ANY: out[n++] = pc; break;
    default: return 0; // MATCH, ^, $
    }
  }
  *nout = n;
  return 1;
}

// re->pairs and re->pairok (see re_t).
static void first_pairs(re_t *re) {
  static u32 l1[MAX_PROG], l2[MAX_PROG];
  u32 n1, n2;
  re->pairok = 0;
  memset(re->pairs, 0, sizeof(re->pairs));
  if (!closure(re, 0, l1, &n1)) return;
  for (u32 a = 0; a < n1; a++) {
    u8 b1[32], b2[32];
    memset(b1, 0, 32);
    memset(b2, 0, 32);
    if (!inst_bytes(re, &re->prog[l1[a]], b1)) return; // a match may start with any byte
    if (!closure(re, l1[a] + 1, l2, &n2)) return;      // a one-byte match
    for (u32 b = 0; b < n2; b++) {
      if (!inst_bytes(re, &re->prog[l2[b]], b2)) {
        memset(b2, 0xFF, 32); // anything may follow
        break;
      }
    }
    for (u32 x = 0; x < 128; x++) {
      if (!has_byte(b1, x)) continue;
      for (u32 k = 0; k < 32; k++) re->pairs[x * 32 + k] |= b2[k];
    }
  }
  re->pairok = 1;
}

// Compiled patterns outlive an evaluation (the heap does not): a few slots
// in static memory, keyed by the pattern's bytes, replaced round-robin.
// Six: the shipped policies match six patterns (a block for a secret in a
// prompt runs five). Each costs about 13 KiB of the 320 KiB that the
// runtime's and the policy's static data must fit in (docs §8.2).
#define CACHE_SLOTS 6
static re_t cache[CACHE_SLOTS];
static u32 cache_next;

// A pattern that lives where nothing changes until the data does (a
// constant of the policy, a value in the data document or kept from data:
// eval.c busted_stable_below) is found again by its address, without
// comparing its bytes (the shipped injection pattern is 500 of them).
// The host's arena lies below the input but is rewritten between evaluations.
static inline i32 stable(const char *pat, u32 plen) {
  return (u32)pat + plen <= busted_stable_below && (u32)(pat - (const char *)busted_host_arena) >= BUSTED_HOST_ARENA;
}

static re_t *compiled(const char *pat, u32 plen) {
  if (plen < sizeof(cache[0].pat)) {
    for (u32 i = 0; i < CACHE_SLOTS; i++) {
      re_t *c = &cache[i];
      if (c->src == pat && c->plen == plen && c->np && c->src_gen == busted_data_gen && stable(pat, plen)) return c;
    }
    for (u32 i = 0; i < CACHE_SLOTS; i++) {
      re_t *c = &cache[i];
      if (c->plen == plen && c->np && memcmp(c->pat, pat, plen) == 0) {
        c->src = stable(pat, plen) ? pat : 0;
        c->src_gen = busted_data_gen;
        return c;
      }
    }
  }
  re_t *re = plen < sizeof(cache[0].pat) ? &cache[cache_next++ % CACHE_SLOTS] : opa_malloc(sizeof(re_t));
  re->p = pat;
  re->end = pat + plen;
  re->bad = 0;
  // a leading (?i) only (flags elsewhere, or others, are the host's)
  re->fold = plen >= 4 && pat[0] == '(' && pat[1] == '?' && pat[2] == 'i' && pat[3] == ')';
  if (re->fold) re->p += 4;
  re->nn = re->nr = re->np = 0;
  re->plen = 0;
  re->nodes = opa_malloc(MAX_NODES * sizeof(node));
  node *root = parse_alt(re);
  if (!re->bad && re->p != re->end) re->bad = 1;
  if (!re->bad) {
    compile_node(re, root);
    emit(re, I_MATCH, 0, 0);
  }
  if (!re->bad) need_tables(re, root);
  if (re->bad) {
    re->np = 0; // not a cache entry
    return 0;
  }
  re->firstok = first_bytes(re, re->first);
  re->pairok = 0;
  if (plen < sizeof(re->pat)) {
    first_pairs(re); // cached patterns only: the map is 8 KiB of work
    memcpy(re->pat, pat, plen);
    re->plen = plen;
    re->src = stable(pat, plen) ? pat : 0;
    re->src_gen = busted_data_gen;
  }
  re->scan = re->firstok || re->pairok;
  re->ncls = 0;
  re->dfa_gen = 0;
  if (plen < sizeof(re->pat)) byte_classes(re); // cached patterns only: their states outlive the evaluation
  for (u32 c = 0; c < 256; c++) {
    i32 ok = 1;
    if (re->firstok) ok = has_byte(re->first, c);
    if (re->pairok) {
      i32 row = 0;
      for (u32 k = 0; c < 128 && k < 32; k++) row |= re->pairs[c * 32 + k];
      ok = ok && row;
    }
    re->start[c] = (u8)ok;
  }
  return re;
}

// 1 match, 0 no match, -1 the host must decide.
static i32 native_match(const char *pat, u32 plen, const char *text, u32 tlen) {
  re_t *re = compiled(pat, plen);
  if (!re) return -1;
  if (re->needok && !has_needed(re, (const u8 *)text, tlen)) return 0;
  if (re->ncls) {
    i32 r = dfa_run(re, (const u8 *)text, tlen);
    if (r >= 0) return r;
  }
  return run(re, (const u8 *)text, tlen);
}

RT_API value *busted_regex_match(value *p, value *v, i32 host) {
  if (!p || !v || p->type != V_STRING || v->type != V_STRING) return opa_builtin2(host, 0, p, v);
  string_t *ps = (string_t *)p, *vs = (string_t *)v;
  i32 r = native_match(ps->v, ps->len, vs->v, vs->len);
  if (r < 0) return opa_builtin2(host, 0, p, v);
  return opa_boolean(r);
}
