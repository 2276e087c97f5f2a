// JSON (and Rego value syntax) in and out, with the rules the SDK relies on
// (docs §1.2): 0 on bad input; dumps are NUL-terminated UTF-8, sets become
// arrays, non-string keys become their JSON text as a string, control
// characters are escaped.
#include "abi.h"

// ============================== parsing ======================================

#define MAX_DEPTH 1000 // the shadow stack is 64 KiB; this keeps well inside it (eval.c names it in its error)

typedef struct {
  const char *p, *end;
  i32 rego;  // accept set literals, set() and non-string keys
  i32 depth;
  i32 raw;   // accept raw strings (parse_raw): opa_eval's input only
} parser_t;

static value *parse_value(parser_t *ps);

static inline void skip_ws(parser_t *ps) {
  // compact JSON (what the SDK sends) has none: one test for the common case
  if (ps->p < ps->end && (u8)*ps->p > ' ') return;
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static i32 literal(parser_t *ps, const char *word) {
  u32 n = strlen(word);
  if ((u32)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return 0;
  ps->p += n;
  return 1;
}

static i32 is_digit(char c) { return c >= '0' && c <= '9'; }

// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?  Integers that fit in i64
// become N_INT; everything else keeps its text (exact, whatever its size).
static value *parse_number(parser_t *ps) {
  const char *start = ps->p, *p = ps->p, *end = ps->end;
  i32 neg = 0, integral = 1;
  if (p < end && *p == '-') {
    neg = 1;
    p++;
  }
  if (p >= end || !is_digit(*p)) return 0;
  if (*p == '0') {
    p++;
  } else {
    while (p < end && is_digit(*p)) p++;
  }
  const char *int_end = p;
  if (p < end && *p == '.') {
    integral = 0;
    p++;
    if (p >= end || !is_digit(*p)) return 0;
    while (p < end && is_digit(*p)) p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    integral = 0;
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || !is_digit(*p)) return 0;
    while (p < end && is_digit(*p)) p++;
  }
  ps->p = p;
  u32 len = (u32)(p - start);
  if (integral) {
    // u accumulates the magnitude; 2^63 is allowed for the negative side.
    u64 u = 0;
    i32 ok = 1;
    for (const char *q = start + neg; q < int_end; q++) {
      if (u > (0xFFFFFFFFFFFFFFFFull - (u64)(*q - '0')) / 10) {
        ok = 0;
        break;
      }
      u = u * 10 + (u64)(*q - '0');
    }
    if (ok && (neg ? u <= (u64)1 << 63 : u < (u64)1 << 63) && !(neg && u == 0)) {
      return opa_number_int(neg ? (i64)((u64)0 - u) : (i64)u);
    }
  }
  return opa_number_ref(start, len); // points into the JSON text, as strings do
}

static i32 hex4(const char *p, u32 *out) {
  u32 v = 0;
  for (i32 i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (u32)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (u32)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (u32)(c - 'A' + 10);
    else return 0;
  }
  *out = v;
  return 1;
}

static u32 put_utf8(char *o, u32 cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12);
    o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18);
  o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

// Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no
// surrogates, <= U+10FFFF), or 0.
static u32 utf8_seq(const u8 *p, const u8 *end) {
  u8 c = p[0];
  u32 n, cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
  else return 0;
  if (end - p < (i32)n) return 0;
  for (u32 i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3F);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
    return 0;
  }
  return n;
}

// A JSON string; the decoded bytes are never longer than the escaped ones.
// Lone surrogates in \u escapes become U+FFFD, as Go's encoding/json does.
static value *parse_string(parser_t *ps) {
  const char *p = ps->p + 1, *end = ps->end; // after the opening quote
  // the common case, no escapes: the value points into the JSON text, which
  // stays where it is until the heap is reset (input, data and builtin
  // results are all parsed from buffers on the heap or below it)
  const char *q = p;
  i32 plain = 1;
  // eight plain ASCII bytes at a time (no '"', '\\', control or non-ASCII byte)
  while (end - q >= 8) {
    u64 w;
    __builtin_memcpy(&w, q, 8); // one i64.load, not a call
    const u64 ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    u64 quote = w ^ (ones * '"'), bslash = w ^ (ones * '\\');
    u64 special = ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash) | ((w - ones * 0x20) & ~w) | w;
    if (special & highs) break;
    q += 8;
  }
  while (q < end) {
    u8 c = (u8)*q;
    if (c == '"') break;
    if (c == '\\') {
      plain = 0;
      q += q + 1 < end ? 2 : 1;
      continue;
    }
    if (c < 0x20) return 0;
    if (c < 0x80) {
      q++;
      continue;
    }
    u32 k = utf8_seq((const u8 *)q, (const u8 *)end);
    if (!k) return 0;
    q += k;
  }
  if (q >= end) return 0;
  if (plain) {
    ps->p = q + 1;
    return opa_string(p, (u32)(q - p));
  }
  char *out = opa_malloc((u32)(q - p));
  u32 n = 0;
  while (p < q) {
    u8 c = (u8)*p;
    if (c < 0x20) return 0;
    if (c != '\\') {
      u32 k = utf8_seq((const u8 *)p, (const u8 *)q);
      if (!k) return 0;
      memcpy(out + n, p, k);
      n += k;
      p += k;
      continue;
    }
    p++;
    switch (*p++) {
    case '"': out[n++] = '"'; break;
    case '\\': out[n++] = '\\'; break;
    case '/': out[n++] = '/'; break;
    case 'b': out[n++] = '\b'; break;
    case 'f': out[n++] = '\f'; break;
    case 'n': out[n++] = '\n'; break;
    case 'r': out[n++] = '\r'; break;
    case 't': out[n++] = '\t'; break;
    case 'u': {
      u32 cp, lo;
      if (q - p < 4 || !hex4(p, &cp)) return 0;
      p += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (q - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          p += 6;
        } else {
          cp = 0xFFFD;
        }
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        cp = 0xFFFD;
      }
      n += put_utf8(out + n, cp);
      break;
    }
    default:
      return 0;
    }
  }
  ps->p = q + 1;
  return opa_string(out, n);
}

// A string in the raw form busted's input projection writes
// (engine/policy/project.ts, InputWriter.string) instead of a quoted one:
// 0x01 and a length byte, or 0x02 and a four-byte little-endian length,
// then that many bytes of UTF-8, nothing escaped. No JSON text has a control
// byte where a value may start, so accepting it in opa_eval's input changes
// nothing for JSON. The value points into the input, as a plain JSON string
// does; the writer (TextEncoder.encodeInto) only writes valid UTF-8.
static value *parse_raw(parser_t *ps) {
  const u8 *p = (const u8 *)ps->p, *end = (const u8 *)ps->end;
  u32 n, head = *p == 0x01 ? 2 : 5;
  if ((u32)(end - p) < head) return 0;
  n = head == 2 ? p[1] : (u32)p[1] | (u32)p[2] << 8 | (u32)p[3] << 16 | (u32)p[4] << 24;
  p += head;
  if ((u32)(end - p) < n) return 0;
  ps->p = (const char *)p + n;
  return opa_string((const char *)p, n);
}

static value *parse_array(parser_t *ps) {
  ps->p++; // [
  value *arr = opa_array_with_cap(0);
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == ']') {
    ps->p++;
    return arr;
  }
  for (;;) {
    value *v = parse_value(ps);
    if (!v) return 0;
    opa_array_append(arr, v);
    skip_ws(ps);
    if (ps->p >= ps->end) return 0;
    char c = *ps->p++;
    if (c == ']') return arr;
    if (c != ',') return 0;
  }
}

// An object, or in Rego syntax a set literal: decided by what follows the
// first element (':' or not). Entries are collected, then sorted once.
static value *parse_braces(parser_t *ps) {
  ps->p++; // {
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == '}') {
    ps->p++;
    return opa_object();
  }
  u32 n = 0, cap = 0;
  kv_t *kvs = NULL;
  value **elems = NULL;
  i32 is_set = -1;
  // keys that come in strictly increasing order (what JSON writers that sort
  // keys, and busted's input projection, produce) need no sort or dedupe
  i32 sorted = 1;
  for (;;) {
    skip_ws(ps);
    if (ps->p >= ps->end) return 0;
    if (!ps->rego && *ps->p != '"') return 0;
    value *k = parse_value(ps);
    if (!k) return 0;
    skip_ws(ps);
    if (ps->p >= ps->end) return 0;
    if (is_set < 0) is_set = *ps->p != ':';
    if (is_set && !ps->rego) return 0;
    value *v = NULL;
    if (!is_set) {
      if (*ps->p++ != ':') return 0;
      v = parse_value(ps);
      if (!v) return 0;
      skip_ws(ps);
      if (ps->p >= ps->end) return 0;
    }
    if (n == cap) {
      u32 ncap = cap ? cap * 2 : 8;
      if (is_set) elems = rt_realloc(elems, cap * sizeof(value *), ncap * sizeof(value *));
      else kvs = rt_realloc(kvs, cap * sizeof(kv_t), ncap * sizeof(kv_t));
      cap = ncap;
    }
    if (is_set) {
      if (sorted && n && opa_value_compare(elems[n - 1], k) >= 0) sorted = 0;
      elems[n++] = k;
    } else {
      if (sorted && n && rt_key_compare(kvs[n - 1].k, k) >= 0) sorted = 0;
      kvs[n].k = k;
      kvs[n++].v = v;
    }
    char c = *ps->p++;
    if (c == '}') break;
    if (c != ',') return 0;
  }
  if (is_set) {
    if (!sorted) {
      rt_sort_values(elems, n);
      n = rt_dedupe_values(elems, n);
    }
    set_t *s = (set_t *)opa_set();
    s->elems = elems;
    s->len = n;
    s->cap = cap;
    return (value *)s;
  }
  if (!sorted) {
    rt_sort_kv(kvs, n);
    n = rt_dedupe_kv(kvs, n);
  }
  object_t *o = (object_t *)opa_object();
  o->elems = kvs;
  o->len = n;
  o->cap = cap;
  return (value *)o;
}

static value *parse_value(parser_t *ps) {
  skip_ws(ps);
  if (ps->p >= ps->end) return 0;
  if (++ps->depth > MAX_DEPTH) return 0;
  value *v = 0;
  switch (*ps->p) {
  case '{': v = parse_braces(ps); break;
  case '[': v = parse_array(ps); break;
  case '"': v = parse_string(ps); break;
  case 't': v = literal(ps, "true") ? opa_boolean(1) : 0; break;
  case 'f': v = literal(ps, "false") ? opa_boolean(0) : 0; break;
  case 'n': v = literal(ps, "null") ? opa_null() : 0; break;
  case 's': v = ps->rego && literal(ps, "set()") ? opa_set() : 0; break;
  case 0x01:
  case 0x02: v = ps->raw ? parse_raw(ps) : 0; break;
  default: v = parse_number(ps); break;
  }
  ps->depth--;
  return v;
}

// One value, surrounded by optional whitespace; anything else fails. (OPA's
// parser ignores trailing bytes; being strict costs nothing with the SDK,
// which always hands over exactly one JSON text.)
static value *parse_all(const char *s, u32 len, i32 rego, i32 raw) {
  parser_t ps = {s, s + len, rego, 0, raw};
  value *v = parse_value(&ps);
  if (!v) return 0;
  skip_ws(&ps);
  return ps.p == ps.end ? v : 0;
}

WASM_EXPORT(opa_json_parse) value *opa_json_parse(const char *s, u32 len) { return parse_all(s, len, 0, 0); }

WASM_EXPORT(opa_value_parse) value *opa_value_parse(const char *s, u32 len) { return parse_all(s, len, 1, 0); }

// An input the host wrote as values (engine/policy/image.ts): a header of
// the magic (0x03, which no JSON text starts with, then "bi1"), the root
// value's address, and the path table's address and length (the value at
// each input path of the policy's path table, by id, as the host found it:
// 0 undefined, 1 not filled in; eval.c busted_input_path). Its pointers are
// absolute; nothing is parsed. The root and the table must lie inside the
// image, aligned as the host writes them.
#define IMAGE_MAGIC 0x31696203u
#define IMAGE_HEADER 16

// Where the host keeps values from one image to the next (image.ts): the
// keys of the projection, and the strings it found at the same input path
// in the event before, which it hands out again instead of writing them.
// Static memory that only the host writes (neither the runtime nor the
// SDK allocates here), so what it wrote stays; it rewrites a value in
// place only between evaluations, and then for another input: nothing in
// it is stable (regex.c stable()).
static u64 host_arena[BUSTED_HOST_ARENA / 8];
const u8 *const busted_host_arena = (const u8 *)host_arena;
WASM_EXPORT(busted_host_arena_at) u32 busted_host_arena_at(void) { return (u32)host_arena; }
WASM_EXPORT(busted_host_arena_size) u32 busted_host_arena_size(void) { return BUSTED_HOST_ARENA; }

static value *image_root(const char *s, u32 len) {
  u32 h[4];
  __builtin_memcpy(h, s, sizeof(h));
  u32 start = (u32)s, end = start + len, root = h[1], table = h[2], n = h[3];
  if (h[0] != IMAGE_MAGIC || root < start + IMAGE_HEADER || root >= end || (root & 3)) return 0;
  if (n && (table < start + IMAGE_HEADER || table > end || (table & 3) || n > (end - table) / 4)) return 0;
  busted_image_input = (value *)root;
  busted_image_paths = (const u32 *)table;
  busted_image_n = n;
  return (value *)root;
}

// opa_eval's input: what opa_value_parse takes, raw strings, and images.
value *rt_input_parse(const char *s, u32 len) {
  busted_image_input = 0;
  if (len >= IMAGE_HEADER + 4 && (u8)s[0] == 0x03) return image_root(s, len);
  return parse_all(s, len, 1, 1);
}

// ============================== dumping ======================================

typedef struct {
  char *buf;
  u32 len, cap;
  i32 rego; // Rego syntax: set literals, keys as they are; 2: with ", " and ": " (OPA's value String(), template strings)
} writer_t;

static void w_reserve(writer_t *w, u32 extra) {
  if (w->len + extra <= w->cap) return;
  u32 ncap = w->cap * 2;
  while (ncap < w->len + extra) ncap *= 2;
  w->buf = rt_realloc(w->buf, w->cap, ncap);
  w->cap = ncap;
}

static void w_bytes(writer_t *w, const char *s, u32 n) {
  w_reserve(w, n);
  memcpy(w->buf + w->len, s, n);
  w->len += n;
}

static void w_char(writer_t *w, char c) {
  w_reserve(w, 1);
  w->buf[w->len++] = c;
}

static void w_i64(writer_t *w, i64 v) {
  char tmp[20];
  u32 k = 0;
  u64 u = v < 0 ? (u64)0 - (u64)v : (u64)v;
  do {
    tmp[k++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) w_char(w, '-');
  while (k) w_char(w, tmp[--k]);
}

// "..." with \" \\ \n \r \t and \u00XX for the other control characters
// (NUL included), so the result is a valid C string and valid JSON.
static void w_string(writer_t *w, const char *s, u32 n) {
  static const char hex[] = "0123456789abcdef";
  w_char(w, '"');
  for (u32 i = 0; i < n; i++) {
    u8 c = (u8)s[i];
    switch (c) {
    case '"': w_bytes(w, "\\\"", 2); break;
    case '\\': w_bytes(w, "\\\\", 2); break;
    case '\n': w_bytes(w, "\\n", 2); break;
    case '\r': w_bytes(w, "\\r", 2); break;
    case '\t': w_bytes(w, "\\t", 2); break;
    default:
      if (c < 0x20) {
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        w_bytes(w, esc, 6);
      } else {
        w_char(w, (char)c);
      }
    }
  }
  w_char(w, '"');
}

static void w_value(writer_t *w, value *v);

/* A separator, and a space after it in the spaced form */
static void w_sep(writer_t *w, char c) {
  w_char(w, c);
  if (w->rego == 2) w_char(w, ' ');
}

static void w_key(writer_t *w, value *k) {
  if (w->rego || k->type == V_STRING) {
    w_value(w, k);
    return;
  }
  // JSON has only string keys: the key's own JSON text, as a string.
  writer_t inner = {opa_malloc(64), 0, 64, 0};
  w_value(&inner, k);
  w_string(w, inner.buf, inner.len);
}

static void w_value(writer_t *w, value *v) {
  switch (v->type) {
  case V_NULL: w_bytes(w, "null", 4); return;
  case V_BOOLEAN:
    if (((boolean_t *)v)->v) w_bytes(w, "true", 4);
    else w_bytes(w, "false", 5);
    return;
  case V_NUMBER: {
    number_t *n = (number_t *)v;
    if (n->repr == N_INT) w_i64(w, n->i);
    else w_bytes(w, n->text, n->len);
    return;
  }
  case V_STRING: w_string(w, ((string_t *)v)->v, ((string_t *)v)->len); return;
  case V_ARRAY: {
    array_t *a = (array_t *)v;
    w_char(w, '[');
    for (u32 i = 0; i < a->len; i++) {
      if (i) w_sep(w, ',');
      w_value(w, a->elems[i]);
    }
    w_char(w, ']');
    return;
  }
  case V_SET: {
    set_t *s = (set_t *)v;
    if (w->rego && !s->len) {
      w_bytes(w, "set()", 5);
      return;
    }
    w_char(w, w->rego ? '{' : '[');
    for (u32 i = 0; i < s->len; i++) {
      if (i) w_sep(w, ',');
      w_value(w, s->elems[i]);
    }
    w_char(w, w->rego ? '}' : ']');
    return;
  }
  case V_OBJECT: {
    object_t *o = (object_t *)v;
    w_char(w, '{');
    for (u32 i = 0; i < o->len; i++) {
      if (i) w_sep(w, ',');
      w_key(w, o->elems[i].k);
      w_sep(w, ':');
      w_value(w, o->elems[i].v);
    }
    w_char(w, '}');
    return;
  }
  }
  opa_abort("opa_json_dump: illegal value");
}

static char *dump(value *v, i32 rego) {
  if (!v) return 0;
  writer_t w = {opa_malloc(256), 0, 256, rego};
  w_value(&w, v);
  w_char(&w, 0);
  return w.buf;
}

WASM_EXPORT(opa_json_dump) char *opa_json_dump(value *v) { return dump(v, 0); }

WASM_EXPORT(opa_value_dump) char *opa_value_dump(value *v) { return dump(v, 1); }

/* V as OPA's value String() writes it: Rego syntax, ", " and ": " between
 * elements (a template string's expression that is no string). Its length in *LEN. */
char *rt_value_text(value *v, u32 *len) {
  writer_t w = {opa_malloc(256), 0, 256, 2};
  w_value(&w, v);
  *len = w.len;
  return w.buf;
}
