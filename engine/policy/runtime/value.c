// Values: constructors, Rego's total order, collection updates and lookups.
// Objects and sets are sorted arrays (abi.h), so comparison of two objects
// or sets is a merge-like walk, as Go's OPA does it (ast/compare.go).
#include "abi.h"

static const value null_v = {V_NULL};
static const boolean_t true_v = {V_BOOLEAN, 1};
static const boolean_t false_v = {V_BOOLEAN, 0};

RT_API value *opa_null(void) { return (value *)&null_v; }

RT_API value *opa_boolean(i32 v) { return (value *)(v ? &true_v : &false_v); }

// 0..255 as static values: array indexes (scans, count()) and small
// literals need no allocation. Values are never changed once made (only
// the constructors here write a number_t), so sharing them is safe.
#define SMALL_INT(n) {V_NUMBER, N_INT, 0, NULL, (n)}
#define SMALL_INT8(n)                                                                                              \
  SMALL_INT(n), SMALL_INT(n + 1), SMALL_INT(n + 2), SMALL_INT(n + 3), SMALL_INT(n + 4), SMALL_INT(n + 5),         \
      SMALL_INT(n + 6), SMALL_INT(n + 7)
#define SMALL_INT64(n)                                                                                             \
  SMALL_INT8(n), SMALL_INT8(n + 8), SMALL_INT8(n + 16), SMALL_INT8(n + 24), SMALL_INT8(n + 32), SMALL_INT8(n + 40), \
      SMALL_INT8(n + 48), SMALL_INT8(n + 56)
// Exported by address (build.ts): the emitter's scans make an array's index key inline.
const number_t busted_small_ints[256] = {SMALL_INT64(0), SMALL_INT64(64), SMALL_INT64(128), SMALL_INT64(192)};

RT_API value *opa_number_int(i64 v) {
  if ((u64)v < 256) return (value *)&busted_small_ints[v];
  number_t *n = opa_malloc(sizeof(number_t));
  n->type = V_NUMBER;
  n->repr = N_INT;
  n->len = 0;
  n->text = NULL;
  n->i = v;
  return (value *)n;
}

// text must be a valid JSON number literal; it is not copied.
RT_API value *opa_number_ref(const char *text, u32 len) {
  number_t *n = opa_malloc(sizeof(number_t));
  n->type = V_NUMBER;
  n->repr = N_TEXT;
  n->len = len;
  n->text = text;
  n->i = 0;
  return (value *)n;
}

// s is not copied.
RT_API value *opa_string(const char *s, u32 len) {
  string_t *str = opa_malloc(sizeof(string_t));
  str->type = V_STRING;
  str->len = len;
  str->v = s;
  return (value *)str;
}

RT_API value *opa_array_with_cap(u32 cap) {
  array_t *a = opa_malloc(sizeof(array_t));
  a->type = V_ARRAY;
  a->len = 0;
  a->cap = cap;
  a->elems = cap ? opa_malloc(cap * sizeof(value *)) : NULL;
  return (value *)a;
}

RT_API value *opa_object(void) {
  object_t *o = opa_malloc(sizeof(object_t));
  o->type = V_OBJECT;
  o->len = o->cap = 0;
  o->elems = NULL;
  return (value *)o;
}

RT_API value *opa_set(void) {
  set_t *s = opa_malloc(sizeof(set_t));
  s->type = V_SET;
  s->len = s->cap = 0;
  s->elems = NULL;
  return (value *)s;
}

RT_API i32 opa_value_type(value *v) { return v ? v->type : 0; }

// --- numbers ---------------------------------------------------------------

// A number as sign, significant digits (no leading or trailing zeros) and
// the decimal exponent of the first digit, so that any two JSON literals
// compare exactly, whatever their size or spelling (1 == 1.0 == 1e0).
typedef struct {
  i32 neg;
  const char *digits;
  u32 n;
  i64 exp; // value = 0.d1d2...dn * 10^exp
} decimal_t;

static void decimal_from_number(number_t *num, decimal_t *d, char *buf /* >= 20 bytes */) {
  d->neg = 0;
  d->exp = 0;
  if (num->repr == N_INT) {
    u64 u = num->i < 0 ? (u64)0 - (u64)num->i : (u64)num->i;
    d->neg = num->i < 0;
    char tmp[20];
    u32 k = 0;
    while (u) {
      tmp[k++] = (char)('0' + u % 10);
      u /= 10;
    }
    d->exp = k;
    while (k && tmp[0] == '0') { // trailing zeros of the integer
      memmove(tmp, tmp + 1, --k);
    }
    for (u32 j = 0; j < k; j++) buf[j] = tmp[k - 1 - j];
    d->digits = buf;
    d->n = k;
    return;
  }
  const char *p = num->text, *end = num->text + num->len;
  if (p < end && *p == '-') {
    d->neg = 1;
    p++;
  }
  // Collect the digits of the integer and fraction parts into an allocated
  // buffer (the literal may be long); count the integer part's digits.
  char *out = opa_malloc(num->len + 1);
  u32 n = 0;
  i64 int_digits = 0;
  i32 seen_nonzero = 0;
  for (; p < end && *p >= '0' && *p <= '9'; p++) {
    if (*p != '0' || seen_nonzero) {
      seen_nonzero = 1;
      out[n++] = *p;
      int_digits++;
    }
  }
  if (p < end && *p == '.') {
    for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
      if (*p != '0' || seen_nonzero) {
        seen_nonzero = 1;
        out[n++] = *p;
      } else {
        int_digits--; // leading zero of the fraction: 0.001 -> exp -2
      }
    }
  }
  i64 e = 0;
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    i32 eneg = 0;
    if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
      if (e < 1000000000000LL) e = e * 10 + (*p - '0'); // saturate: far beyond any real comparison
    }
    if (eneg) e = -e;
  }
  while (n && out[n - 1] == '0') n--;
  d->digits = out;
  d->n = n;
  d->exp = n ? int_digits + e : 0;
  if (!n) d->neg = 0; // -0 == 0
}

static i32 number_compare(number_t *a, number_t *b) {
  if (a->repr == N_INT && b->repr == N_INT) return a->i < b->i ? -1 : a->i > b->i;
  char ba[20], bb[20];
  decimal_t x, y;
  decimal_from_number(a, &x, ba);
  decimal_from_number(b, &y, bb);
  i32 sx = x.n ? (x.neg ? -1 : 1) : 0, sy = y.n ? (y.neg ? -1 : 1) : 0;
  if (sx != sy) return sx < sy ? -1 : 1;
  if (!sx) return 0;
  i32 mag; // compare magnitudes
  if (x.exp != y.exp) {
    mag = x.exp < y.exp ? -1 : 1;
  } else {
    u32 m = x.n < y.n ? x.n : y.n;
    mag = memcmp(x.digits, y.digits, m);
    if (!mag) mag = x.n < y.n ? -1 : x.n > y.n;
  }
  return sx < 0 ? -mag : mag;
}

// 1 and *out set if v is a number with an integral value that fits in i64.
RT_API i32 number_to_i64(value *v, i64 *out) {
  if (!v || v->type != V_NUMBER) return 0;
  number_t *n = (number_t *)v;
  if (n->repr == N_INT) {
    *out = n->i;
    return 1;
  }
  char buf[20];
  decimal_t d;
  decimal_from_number(n, &d, buf);
  if (d.exp > 19 || (i64)d.n > d.exp) return 0; // too big, or has a fraction
  u64 u = 0;
  for (i64 k = 0; k < d.exp; k++) {
    u64 digit = k < (i64)d.n ? (u64)(d.digits[k] - '0') : 0;
    if (u > (0xFFFFFFFFFFFFFFFFull - digit) / 10) return 0;
    u = u * 10 + digit;
  }
  if (d.neg ? u > (u64)1 << 63 : u >= (u64)1 << 63) return 0;
  *out = d.neg ? (i64)((u64)0 - u) : (i64)u;
  return 1;
}

// --- the total order ---------------------------------------------------------

// Bytewise order of two strings, eight bytes at a time: the first differing
// word, read big-endian, orders them as its first differing byte would.
static inline i32 str_compare(string_t *x, string_t *y) {
  u32 m = x->len < y->len ? x->len : y->len, i = 0;
  const u8 *a = (const u8 *)x->v, *b = (const u8 *)y->v;
  // most keys and values differ in their first byte
  if (m && a[0] != b[0]) return a[0] < b[0] ? -1 : 1;
  for (; i + 8 <= m; i += 8) {
    u64 p, q;
    __builtin_memcpy(&p, a + i, 8);
    __builtin_memcpy(&q, b + i, 8);
    if (p != q) {
      p = __builtin_bswap64(p);
      q = __builtin_bswap64(q);
      return p < q ? -1 : 1;
    }
  }
  for (; i < m; i++) {
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return x->len < y->len ? -1 : x->len > y->len;
}


// null < boolean < number < string < array < object < set (the tag order).
// Undefined (0) sorts before everything; equal means compare == 0.
RT_API i32 opa_value_compare(value *a, value *b) {
  if (a == b) return 0;
  if (!a) return -1;
  if (!b) return 1;
  if (a->type != b->type) return a->type < b->type ? -1 : 1;
  switch (a->type) {
  case V_NULL:
    return 0;
  case V_BOOLEAN: {
    u8 x = ((boolean_t *)a)->v, y = ((boolean_t *)b)->v;
    return x < y ? -1 : x > y;
  }
  case V_NUMBER:
    return number_compare((number_t *)a, (number_t *)b);
  case V_STRING: // bytewise: for UTF-8 this is code point order, as in Go
    return str_compare((string_t *)a, (string_t *)b);
  case V_ARRAY:
  case V_SET: { // sets are sorted arrays of elements: the same walk
    array_t *x = (array_t *)a, *y = (array_t *)b;
    u32 m = x->len < y->len ? x->len : y->len;
    for (u32 i = 0; i < m; i++) {
      i32 c = opa_value_compare(x->elems[i], y->elems[i]);
      if (c) return c;
    }
    return x->len < y->len ? -1 : x->len > y->len;
  }
  case V_OBJECT: { // sorted keys pairwise, key before value, then length
    object_t *x = (object_t *)a, *y = (object_t *)b;
    u32 m = x->len < y->len ? x->len : y->len;
    for (u32 i = 0; i < m; i++) {
      i32 c = opa_value_compare(x->elems[i].k, y->elems[i].k);
      if (c) return c;
      c = opa_value_compare(x->elems[i].v, y->elems[i].v);
      if (c) return c;
    }
    return x->len < y->len ? -1 : x->len > y->len;
  }
  }
  opa_abort("opa_value_compare: illegal value");
  return 0;
}

// --- sorting (stable merge sort; parse collects, then sorts once) ----------

// opa_value_compare with the common case, two strings, inline.
static inline i32 key_compare(value *a, value *b) {
  if (a->type == V_STRING && b->type == V_STRING) return str_compare((string_t *)a, (string_t *)b);
  return opa_value_compare(a, b);
}

i32 rt_key_compare(value *a, value *b) { return key_compare(a, b); }

void rt_sort_kv(kv_t *a, u32 n) {
  if (n < 2) return;
  if (n <= 16) {
    // small objects (most of an event): insertion sort, n-1 compares when already sorted
    for (u32 i = 1; i < n; i++) {
      kv_t x = a[i];
      u32 j = i;
      while (j > 0 && key_compare(a[j - 1].k, x.k) > 0) {
        a[j] = a[j - 1];
        j--;
      }
      a[j] = x;
    }
    return;
  }
  kv_t *tmp = opa_malloc(n * sizeof(kv_t));
  for (u32 w = 1; w < n; w *= 2) {
    for (u32 lo = 0; lo < n; lo += 2 * w) {
      u32 mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      u32 i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = opa_value_compare(a[j].k, a[i].k) < 0 ? a[j++] : a[i++];
      while (i < mid) tmp[k++] = a[i++];
      while (j < hi) tmp[k++] = a[j++];
    }
    memcpy(a, tmp, n * sizeof(kv_t));
  }
}

void rt_sort_values(value **a, u32 n) {
  if (n < 2) return;
  value **tmp = opa_malloc(n * sizeof(value *));
  for (u32 w = 1; w < n; w *= 2) {
    for (u32 lo = 0; lo < n; lo += 2 * w) {
      u32 mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      u32 i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = opa_value_compare(a[j], a[i]) < 0 ? a[j++] : a[i++];
      while (i < mid) tmp[k++] = a[i++];
      while (j < hi) tmp[k++] = a[j++];
    }
    memcpy(a, tmp, n * sizeof(value *));
  }
}

// After a stable sort: keep the last of equal keys (a later JSON key wins,
// as in Go's encoding/json and OPA's object insert).
u32 rt_dedupe_kv(kv_t *a, u32 n) {
  u32 k = 0;
  for (u32 i = 0; i < n; i++) {
    if (k && key_compare(a[k - 1].k, a[i].k) == 0) {
      a[k - 1] = a[i];
    } else {
      a[k++] = a[i];
    }
  }
  return k;
}

u32 rt_dedupe_values(value **a, u32 n) {
  u32 k = 0;
  for (u32 i = 0; i < n; i++) {
    if (!k || opa_value_compare(a[k - 1], a[i]) != 0) a[k++] = a[i];
  }
  return k;
}

// --- collections -------------------------------------------------------------

static void *grow(void *elems, u32 *cap, u32 elem_size) {
  u32 old = *cap, n = old ? old * 2 : 4;
  *cap = n;
  return rt_realloc(elems, old * elem_size, n * elem_size);
}

RT_API void opa_array_append(value *arr, value *v) {
  array_t *a = (array_t *)arr;
  if (a->len == a->cap) a->elems = grow(a->elems, &a->cap, sizeof(value *));
  a->elems[a->len++] = v;
}

// opa_value_compare for a lookup: two strings (the common key) inline.
static inline i32 lookup_compare(value *a, value *b) {
  if (a == b) return 0;
  if (a->type == V_STRING && b->type == V_STRING) return str_compare((string_t *)a, (string_t *)b);
  return opa_value_compare(a, b);
}

// Index of key in the sorted entries, or -(insertion point) - 1.
static i32 search_kv(object_t *o, value *k) {
  i32 lo = 0, hi = (i32)o->len - 1;
  while (lo <= hi) {
    i32 mid = (lo + hi) / 2, c = lookup_compare(o->elems[mid].k, k);
    if (!c) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

static i32 search_set(set_t *s, value *v) {
  i32 lo = 0, hi = (i32)s->len - 1;
  while (lo <= hi) {
    i32 mid = (lo + hi) / 2, c = lookup_compare(s->elems[mid], v);
    if (!c) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

// Insert or overwrite.
RT_API void opa_object_insert(value *obj, value *k, value *v) {
  object_t *o = (object_t *)obj;
  i32 i = search_kv(o, k);
  if (i >= 0) {
    o->elems[i].v = v;
    return;
  }
  u32 at = (u32)(-i - 1);
  if (o->len == o->cap) o->elems = grow(o->elems, &o->cap, sizeof(kv_t));
  memmove(&o->elems[at + 1], &o->elems[at], (o->len - at) * sizeof(kv_t));
  o->elems[at].k = k;
  o->elems[at].v = v;
  o->len++;
}

RT_API void opa_set_add(value *set, value *v) {
  set_t *s = (set_t *)set;
  i32 i = search_set(s, v);
  if (i >= 0) return;
  u32 at = (u32)(-i - 1);
  if (s->len == s->cap) s->elems = grow(s->elems, &s->cap, sizeof(value *));
  memmove(&s->elems[at + 1], &s->elems[at], (s->len - at) * sizeof(value *));
  s->elems[at] = v;
  s->len++;
}

// coll[key]: an array element by integral index, an object's value, or a
// set's element if it is a member. 0 (undefined) otherwise.
RT_API value *opa_value_get(value *coll, value *key) {
  if (!coll || !key) return 0;
  switch (coll->type) {
  case V_ARRAY: {
    i64 i;
    array_t *a = (array_t *)coll;
    if (!number_to_i64(key, &i) || i < 0 || i >= (i64)a->len) return 0;
    return a->elems[i];
  }
  case V_OBJECT: {
    object_t *o = (object_t *)coll;
    i32 i = search_kv(o, key);
    return i >= 0 ? o->elems[i].v : 0;
  }
  case V_SET: {
    set_t *s = (set_t *)coll;
    i32 i = search_set(s, key);
    return i >= 0 ? s->elems[i] : 0;
  }
  }
  return 0;
}

// The key after prev (0 = first) in iteration order, 0 at the end: array
// indexes as numbers, object keys and set elements in sorted order.
RT_API value *opa_value_iter(value *coll, value *prev) {
  if (!coll) return 0;
  switch (coll->type) {
  case V_ARRAY: {
    i64 i = -1;
    if (prev && !number_to_i64(prev, &i)) return 0;
    i++;
    return i < (i64)((array_t *)coll)->len ? opa_number_int(i) : 0;
  }
  case V_OBJECT: {
    object_t *o = (object_t *)coll;
    i32 i = prev ? search_kv(o, prev) : -1;
    if (prev && i < 0) return 0;
    return (u32)(i + 1) < o->len ? o->elems[i + 1].k : 0;
  }
  case V_SET: {
    set_t *s = (set_t *)coll;
    i32 i = prev ? search_set(s, prev) : -1;
    if (prev && i < 0) return 0;
    return (u32)(i + 1) < s->len ? s->elems[i + 1] : 0;
  }
  }
  return 0;
}

// Scans by position (the emitter's ScanStmt): the key and the value of the
// i-th element in iteration order, 0 past the end. Nothing changes a
// collection while a scan walks it (the planner adds only to collections it
// is building), so positions are stable.
RT_API value *busted_scan_key(value *coll, u32 i) {
  if (!coll) return 0;
  switch (coll->type) {
  case V_ARRAY: return i < ((array_t *)coll)->len ? opa_number_int(i) : 0;
  case V_OBJECT: return i < ((object_t *)coll)->len ? ((object_t *)coll)->elems[i].k : 0;
  case V_SET: return i < ((set_t *)coll)->len ? ((set_t *)coll)->elems[i] : 0;
  }
  return 0;
}

// Only after busted_scan_key said there is an i-th element.
RT_API value *busted_scan_value(value *coll, u32 i) {
  return coll->type == V_OBJECT ? ((object_t *)coll)->elems[i].v : ((array_t *)coll)->elems[i];
}

static u32 utf8_count(const char *s, u32 len) {
  u32 n = 0;
  for (u32 i = 0; i < len; i++) n += ((u8)s[i] & 0xC0) != 0x80;
  return n;
}

// count(): code points of a string, elements of a collection; 0 otherwise.
RT_API u32 opa_value_length(value *v) {
  if (!v) return 0;
  switch (v->type) {
  case V_STRING:
    return utf8_count(((string_t *)v)->v, ((string_t *)v)->len);
  case V_ARRAY:
  case V_OBJECT:
  case V_SET:
    return ((array_t *)v)->len;
  }
  return 0;
}
