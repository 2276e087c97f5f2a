// Native builtins (docs/rego-wasm-abi.md §4.2): the simple, hot ones, with
// OPA's semantics (v1/topdown/*.go). Each takes value addresses and returns
// a value address, 0 for undefined. A type error is undefined too: OPA's
// non-strict mode turns builtin errors into an undefined expression.
//
// Functions taking a trailing `i32 host` are exact on integers and hand
// anything else (decimal text, overflow, non-ASCII case mapping) to the host
// builtin with that id (engine/policy/builtins-js.ts), via opa_builtinN.
#include "abi.h"

static i32 is(value *v, i32 t) { return v && v->type == t; }

// 1 if x * y overflows i64 (no __multi3 in a libc-less module).
static i32 mul_overflow(i64 x, i64 y, i64 *r) {
  if (x == 0 || y == 0) {
    *r = 0;
    return 0;
  }
  const i64 MAX = 0x7FFFFFFFFFFFFFFFLL, MIN = -MAX - 1;
  if ((x == -1 && y == MIN) || (y == -1 && x == MIN)) return 1;
  if (x > 0 ? (y > 0 ? x > MAX / y : y < MIN / x) : (y > 0 ? x < MIN / y : x < MAX / y)) return 1;
  *r = x * y;
  return 0;
}

static value *str_new(u32 len) {
  string_t *s = opa_malloc(sizeof(string_t));
  s->type = V_STRING;
  s->len = len;
  s->v = len ? opa_malloc(len) : NULL;
  return (value *)s;
}

static i32 str_eq_at(string_t *s, u32 at, string_t *x) {
  return at + x->len <= s->len && memcmp(s->v + at, x->v, x->len) == 0;
}

// --- aggregates --------------------------------------------------------------

RT_API value *busted_count(value *v) {
  if (!v || v->type < V_STRING) return 0;
  return opa_number_int(opa_value_length(v));
}

RT_API value *busted_sum(value *v, i32 host) {
  if (!is(v, V_ARRAY) && !is(v, V_SET)) return 0;
  array_t *a = (array_t *)v;
  i64 acc = 0;
  for (u32 i = 0; i < a->len; i++) {
    i64 x;
    if (!is(a->elems[i], V_NUMBER)) return 0;
    if (!number_to_i64(a->elems[i], &x) || __builtin_add_overflow(acc, x, &acc)) return opa_builtin1(host, 0, v);
  }
  return opa_number_int(acc);
}

static value *extreme(value *v, i32 sign) {
  if (!is(v, V_ARRAY) && !is(v, V_SET)) return 0;
  array_t *a = (array_t *)v;
  if (!a->len) return 0;
  value *m = a->elems[0];
  for (u32 i = 1; i < a->len; i++) {
    if (opa_value_compare(a->elems[i], m) * sign > 0) m = a->elems[i];
  }
  return m;
}

RT_API value *busted_max(value *v) { return extreme(v, 1); }
RT_API value *busted_min(value *v) { return extreme(v, -1); }

// --- arithmetic --------------------------------------------------------------

static i32 ints(value *a, value *b, i64 *x, i64 *y) { return number_to_i64(a, x) && number_to_i64(b, y); }

static value *set_diff(value *a, value *b) {
  set_t *x = (set_t *)a;
  value *r = opa_set();
  for (u32 i = 0; i < x->len; i++) {
    if (!opa_value_get(b, x->elems[i])) opa_set_add(r, x->elems[i]);
  }
  return r;
}

RT_API value *busted_plus(value *a, value *b, i32 host) {
  if (!is(a, V_NUMBER) || !is(b, V_NUMBER)) return 0;
  i64 x, y, r;
  if (ints(a, b, &x, &y) && !__builtin_add_overflow(x, y, &r)) return opa_number_int(r);
  return opa_builtin2(host, 0, a, b);
}

RT_API value *busted_minus(value *a, value *b, i32 host) {
  if (is(a, V_SET) && is(b, V_SET)) return set_diff(a, b);
  if (!is(a, V_NUMBER) || !is(b, V_NUMBER)) return 0;
  i64 x, y, r;
  if (ints(a, b, &x, &y) && !__builtin_sub_overflow(x, y, &r)) return opa_number_int(r);
  return opa_builtin2(host, 0, a, b);
}

RT_API value *busted_mul(value *a, value *b, i32 host) {
  if (!is(a, V_NUMBER) || !is(b, V_NUMBER)) return 0;
  i64 x, y, r;
  if (ints(a, b, &x, &y) && !mul_overflow(x, y, &r)) return opa_number_int(r);
  return opa_builtin2(host, 0, a, b);
}

RT_API value *busted_div(value *a, value *b, i32 host) {
  if (!is(a, V_NUMBER) || !is(b, V_NUMBER)) return 0;
  i64 x, y;
  if (ints(a, b, &x, &y)) {
    if (y == 0) return 0; // "divide by zero"
    if (!(x == (i64)((u64)1 << 63) && y == -1) && x % y == 0) return opa_number_int(x / y);
  }
  return opa_builtin2(host, 0, a, b);
}

RT_API value *busted_rem(value *a, value *b, i32 host) {
  if (!is(a, V_NUMBER) || !is(b, V_NUMBER)) return 0;
  i64 x, y;
  if (ints(a, b, &x, &y)) {
    if (y == 0) return 0; // "modulo by zero"
    if (y == -1) return opa_number_int(0);
    return opa_number_int(x % y);
  }
  return opa_builtin2(host, 0, a, b);
}

// --- sets --------------------------------------------------------------------

RT_API value *busted_and(value *a, value *b) {
  if (!is(a, V_SET) || !is(b, V_SET)) return 0;
  set_t *x = (set_t *)a;
  value *r = opa_set();
  for (u32 i = 0; i < x->len; i++) {
    if (opa_value_get(b, x->elems[i])) opa_set_add(r, x->elems[i]);
  }
  return r;
}

RT_API value *busted_or(value *a, value *b) {
  if (!is(a, V_SET) || !is(b, V_SET)) return 0;
  value *r = opa_set();
  set_t *x = (set_t *)a, *y = (set_t *)b;
  for (u32 i = 0; i < x->len; i++) opa_set_add(r, x->elems[i]);
  for (u32 i = 0; i < y->len; i++) opa_set_add(r, y->elems[i]);
  return r;
}

RT_API value *busted_union(value *v) {
  if (!is(v, V_SET)) return 0;
  set_t *s = (set_t *)v;
  value *r = opa_set();
  for (u32 i = 0; i < s->len; i++) {
    if (!is(s->elems[i], V_SET)) return 0;
    set_t *e = (set_t *)s->elems[i];
    for (u32 j = 0; j < e->len; j++) opa_set_add(r, e->elems[j]);
  }
  return r;
}

RT_API value *busted_intersection(value *v) {
  if (!is(v, V_SET)) return 0;
  set_t *s = (set_t *)v;
  if (!s->len) return opa_set();
  for (u32 i = 0; i < s->len; i++) {
    if (!is(s->elems[i], V_SET)) return 0;
  }
  value *r = s->elems[0];
  for (u32 i = 1; i < s->len; i++) r = busted_and(r, s->elems[i]);
  return r;
}

RT_API value *busted_array_concat(value *a, value *b) {
  if (!is(a, V_ARRAY) || !is(b, V_ARRAY)) return 0;
  array_t *x = (array_t *)a, *y = (array_t *)b;
  value *r = opa_array_with_cap(x->len + y->len);
  for (u32 i = 0; i < x->len; i++) opa_array_append(r, x->elems[i]);
  for (u32 i = 0; i < y->len; i++) opa_array_append(r, y->elems[i]);
  return r;
}

// --- strings -----------------------------------------------------------------

RT_API value *busted_concat(value *delim, value *coll) {
  if (!is(delim, V_STRING) || (!is(coll, V_ARRAY) && !is(coll, V_SET))) return 0;
  string_t *d = (string_t *)delim;
  array_t *a = (array_t *)coll;
  u32 n = 0;
  for (u32 i = 0; i < a->len; i++) {
    if (!is(a->elems[i], V_STRING)) return 0;
    n += ((string_t *)a->elems[i])->len + (i ? d->len : 0);
  }
  string_t *r = (string_t *)str_new(n);
  char *o = (char *)r->v;
  for (u32 i = 0; i < a->len; i++) {
    if (i) {
      memcpy(o, d->v, d->len);
      o += d->len;
    }
    string_t *s = (string_t *)a->elems[i];
    memcpy(o, s->v, s->len);
    o += s->len;
  }
  return (value *)r;
}

/* A value as text: a string as it is, another as OPA's value String() writes it. */
static value *text_of(value *v) {
  if (is(v, V_STRING)) return v;
  u32 n;
  char *t = rt_value_text(v, &n);
  string_t *s = (string_t *)str_new(n);
  memcpy((char *)s->v, t, n);
  return (value *)s;
}

/*
 * internal.template_string (OPA >= 1.11, `$"…{x}…"`): PARTS is an array of
 * the template's literal pieces (strings) and, for each `{expr}`, the set
 * of the expression's values: none is `<undefined>`, one is its text
 * (text_of); more than one is an error (undefined here).
 */
RT_API value *busted_template_string(value *parts) {
  if (!is(parts, V_ARRAY)) return 0;
  array_t *a = (array_t *)parts;
  string_t **txt = (string_t **)opa_malloc(a->len * sizeof(string_t *) + 1);
  static string_t undefined_text = {V_STRING, 11, "<undefined>"};
  u32 n = 0;
  for (u32 i = 0; i < a->len; i++) {
    value *p = a->elems[i];
    if (is(p, V_STRING)) {
      txt[i] = (string_t *)p;
    } else if (is(p, V_SET)) {
      set_t *s = (set_t *)p;
      if (s->len > 1) return 0;
      txt[i] = s->len == 0 ? &undefined_text : (string_t *)text_of(s->elems[0]);
    } else {
      return 0;
    }
    n += txt[i]->len;
  }
  string_t *r = (string_t *)str_new(n);
  char *o = (char *)r->v;
  for (u32 i = 0; i < a->len; i++) {
    memcpy(o, txt[i]->v, txt[i]->len);
    o += txt[i]->len;
  }
  return (value *)r;
}

/*
 * print's operands (an array of the sets of each operand's values) with
 * every value as text, so that the host's print (which gets JSON, where a
 * set is an array) writes sets, and what is inside collections, as OPA does.
 */
RT_API value *busted_print_texts(value *ops) {
  if (!is(ops, V_ARRAY)) return 0;
  array_t *a = (array_t *)ops;
  value *r = opa_array_with_cap(a->len);
  for (u32 i = 0; i < a->len; i++) {
    if (!is(a->elems[i], V_SET)) return 0;
    set_t *s = (set_t *)a->elems[i];
    value *vs = opa_array_with_cap(s->len);
    for (u32 j = 0; j < s->len; j++) opa_array_append(vs, text_of(s->elems[j]));
    opa_array_append(r, vs);
  }
  return r;
}

RT_API value *busted_startswith(value *s, value *p) {
  if (!is(s, V_STRING) || !is(p, V_STRING)) return 0;
  return opa_boolean(str_eq_at((string_t *)s, 0, (string_t *)p));
}

RT_API value *busted_endswith(value *s, value *p) {
  if (!is(s, V_STRING) || !is(p, V_STRING)) return 0;
  string_t *x = (string_t *)s, *y = (string_t *)p;
  return opa_boolean(y->len <= x->len && str_eq_at(x, x->len - y->len, y));
}

RT_API value *busted_contains(value *s, value *p) {
  if (!is(s, V_STRING) || !is(p, V_STRING)) return 0;
  string_t *x = (string_t *)s, *y = (string_t *)p;
  if (!y->len) return opa_boolean(1);
  // memcmp only where the first byte is there (a brand in a host name: a few places)
  u8 first = (u8)y->v[0];
  for (u32 i = 0; i + y->len <= x->len; i++) {
    if ((u8)x->v[i] == first && memcmp(x->v + i + 1, y->v + 1, y->len - 1) == 0) return opa_boolean(1);
  }
  return opa_boolean(0);
}

static value *casemap(value *v, i32 host, char lo, char hi, i32 delta) {
  if (!is(v, V_STRING)) return 0;
  string_t *s = (string_t *)v;
  u32 first = s->len; // the first byte that changes
  for (u32 i = 0; i < s->len; i++) {
    char c = s->v[i];
    if ((u8)c >= 0x80) return opa_builtin1(host, 0, v); // Unicode case mapping: the host's
    if (first == s->len && c >= lo && c <= hi) first = i;
  }
  // nothing to map (a host name already in lower case): the value itself, as values never change
  if (first == s->len) return v;
  string_t *r = (string_t *)str_new(s->len);
  char *o = (char *)r->v;
  memcpy(o, s->v, first);
  for (u32 i = first; i < s->len; i++) {
    char c = s->v[i];
    o[i] = c >= lo && c <= hi ? (char)(c + delta) : c;
  }
  return (value *)r;
}

RT_API value *busted_lower(value *v, i32 host) { return casemap(v, host, 'A', 'Z', 'a' - 'A'); }
RT_API value *busted_upper(value *v, i32 host) { return casemap(v, host, 'a', 'z', 'A' - 'a'); }

// --- sprintf -------------------------------------------------------------------

// Decimal digits of v into buf (>= 20 bytes), from the end; returns the start.
static char *i64_digits(i64 v, char *end) {
  u64 u = v < 0 ? (u64)0 - (u64)v : (u64)v;
  char *p = end;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *--p = '-';
  return p;
}

// The host's sprintf (Go's fmt): its operands as Rego text, so big integers
// stay whole and sets stay sets (builtins-js.ts sprintf reads them exactly).
RT_API value *busted_value_text(value *v);
static value *sprintf_host(i32 host, value *format, value *args) {
  return opa_builtin2(host, 0, format, busted_value_text(args));
}

// sprintf for what policies format most (reasons): %s and %v of strings,
// %d and %v of integers, and %%, with no flags, width or precision, one
// argument per verb. There Go's fmt (OPA's topdown/strings.go) prints the
// string or the decimal digits as they are. Everything else (floats,
// composites, flags, missing or extra arguments) is the host's
// (builtins-js.ts sprintf, Go fmt semantics).
RT_API value *busted_sprintf(value *format, value *args, i32 host) {
  if (!is(format, V_STRING) || !is(args, V_ARRAY)) return sprintf_host(host, format, args);
  string_t *f = (string_t *)format;
  array_t *a = (array_t *)args;
  // pass 1: check every verb and argument, and add up the length
  u32 n = 0, ai = 0;
  char tmp[24];
  for (u32 i = 0; i < f->len; i++) {
    if (f->v[i] != '%') {
      n++;
      continue;
    }
    if (++i == f->len) return sprintf_host(host, format, args);
    char verb = f->v[i];
    if (verb == '%') {
      n++;
      continue;
    }
    if (ai == a->len) return sprintf_host(host, format, args);
    value *x = a->elems[ai++];
    i64 iv;
    if ((verb == 's' || verb == 'v') && is(x, V_STRING)) n += ((string_t *)x)->len;
    else if ((verb == 'd' || verb == 'v') && is(x, V_NUMBER) && ((number_t *)x)->repr == N_INT) {
      iv = ((number_t *)x)->i;
      n += (u32)(tmp + sizeof(tmp) - i64_digits(iv, tmp + sizeof(tmp)));
    } else return sprintf_host(host, format, args);
  }
  if (ai != a->len) return sprintf_host(host, format, args); // %!(EXTRA ...)
  // pass 2: write
  string_t *r = (string_t *)str_new(n);
  char *o = (char *)r->v;
  ai = 0;
  for (u32 i = 0; i < f->len; i++) {
    if (f->v[i] != '%') {
      *o++ = f->v[i];
      continue;
    }
    if (f->v[++i] == '%') {
      *o++ = '%';
      continue;
    }
    value *x = a->elems[ai++];
    if (x->type == V_STRING) {
      memcpy(o, ((string_t *)x)->v, ((string_t *)x)->len);
      o += ((string_t *)x)->len;
    } else {
      char *d = i64_digits(((number_t *)x)->i, tmp + sizeof(tmp));
      u32 k = (u32)(tmp + sizeof(tmp) - d);
      memcpy(o, d, k);
      o += k;
    }
  }
  return (value *)r;
}

// --- types -------------------------------------------------------------------

RT_API value *busted_is_null(value *v) { return v ? opa_boolean(v->type == V_NULL) : 0; }
RT_API value *busted_is_boolean(value *v) { return v ? opa_boolean(v->type == V_BOOLEAN) : 0; }
RT_API value *busted_is_number(value *v) { return v ? opa_boolean(v->type == V_NUMBER) : 0; }
RT_API value *busted_is_string(value *v) { return v ? opa_boolean(v->type == V_STRING) : 0; }
RT_API value *busted_is_array(value *v) { return v ? opa_boolean(v->type == V_ARRAY) : 0; }
RT_API value *busted_is_object(value *v) { return v ? opa_boolean(v->type == V_OBJECT) : 0; }
RT_API value *busted_is_set(value *v) { return v ? opa_boolean(v->type == V_SET) : 0; }

static const char *const type_names[] = {"", "null", "boolean", "number", "string", "array", "object", "set"};

RT_API value *busted_type_name(value *v) {
  if (!v || v->type < V_NULL || v->type > V_SET) return 0;
  const char *n = type_names[v->type];
  return opa_string(n, strlen(n));
}

// --- comparison as a value (`x := a == b`) -----------------------------------

RT_API value *busted_equal(value *a, value *b) { return opa_boolean(opa_value_compare(a, b) == 0); }
RT_API value *busted_neq(value *a, value *b) { return opa_boolean(opa_value_compare(a, b) != 0); }

// --- objects -----------------------------------------------------------------

// object.get(obj, key, default); an array key is a path (OPA >= 0.46).
RT_API value *busted_object_get(value *obj, value *key, value *dflt) {
  if (!is(obj, V_OBJECT) || !key || !dflt) return 0;
  if (!is(key, V_ARRAY)) {
    value *r = opa_value_get(obj, key);
    return r ? r : dflt;
  }
  array_t *path = (array_t *)key;
  value *cur = obj;
  for (u32 i = 0; i < path->len; i++) {
    cur = opa_value_get(cur, path->elems[i]);
    if (!cur) return dflt;
  }
  return cur;
}

RT_API value *busted_object_keys(value *obj) {
  if (!is(obj, V_OBJECT)) return 0;
  object_t *o = (object_t *)obj;
  value *r = opa_set();
  for (u32 i = 0; i < o->len; i++) opa_set_add(r, o->elems[i].k);
  return r;
}

// --- host builtins' operands and results (compile/builtins.ts BuiltinDecl) ---

// internal.value_text: a value as its Rego text (opa_value_dump): numbers as
// written, sets as sets, object keys of any type
RT_API value *busted_value_text(value *v) {
  char *s = opa_value_dump(v);
  return opa_string(s, strlen(s));
}

// internal.value_parse: a host builtin's answer written as Rego text (sets
// among its values) as the value it stands for
RT_API value *busted_value_parse(value *v) {
  if (!is(v, V_STRING)) return 0;
  return opa_value_parse(((string_t *)v)->v, ((string_t *)v)->len);
}

// internal.to_set: a host builtin's array answer as the set it stands for
RT_API value *busted_to_set(value *v) {
  if (is(v, V_SET)) return v;
  if (!is(v, V_ARRAY)) return 0;
  array_t *a = (array_t *)v;
  value *r = opa_set();
  for (u32 i = 0; i < a->len; i++) opa_set_add(r, a->elems[i]);
  return r;
}

// --- walk --------------------------------------------------------------------

// Appends [path, v] and then every document under v, depth first (OPA's
// topdown/walk.go order); `path` is the keys from the root, copied into each
// pair.
static void walk_into(value *out, value **path, u32 depth, value *v) {
  value *p = opa_array_with_cap(depth);
  for (u32 i = 0; i < depth; i++) opa_array_append(p, path[i]);
  value *pair = opa_array_with_cap(2);
  opa_array_append(pair, p);
  opa_array_append(pair, v);
  opa_array_append(out, pair);
  value **deeper = 0;
  u32 n = 0;
  if (is(v, V_ARRAY) || is(v, V_SET)) n = ((array_t *)v)->len;
  else if (is(v, V_OBJECT)) n = ((object_t *)v)->len;
  if (!n) return;
  deeper = (value **)opa_malloc((depth + 1) * sizeof(value *));
  for (u32 i = 0; i < depth; i++) deeper[i] = path[i];
  for (u32 i = 0; i < n; i++) {
    value *child;
    if (is(v, V_ARRAY)) deeper[depth] = opa_number_int(i), child = ((array_t *)v)->elems[i];
    else if (is(v, V_SET)) deeper[depth] = child = ((array_t *)v)->elems[i];
    else deeper[depth] = ((object_t *)v)->elems[i].k, child = ((object_t *)v)->elems[i].v;
    walk_into(out, deeper, depth + 1, child);
  }
}

// walk(x): every [path, document] of x, the planner scanning them (a relation)
RT_API value *busted_walk(value *v) {
  if (!v) return 0;
  value *out = opa_array_with_cap(8);
  walk_into(out, 0, 0, v);
  return out;
}

// --- arrays ------------------------------------------------------------------

RT_API value *busted_sort(value *v) {
  if (!is(v, V_ARRAY) && !is(v, V_SET)) return 0;
  array_t *a = (array_t *)v;
  array_t *r = (array_t *)opa_array_with_cap(a->len);
  for (u32 i = 0; i < a->len; i++) r->elems[i] = a->elems[i];
  r->len = a->len;
  if (v->type == V_ARRAY) rt_sort_values(r->elems, r->len); // a set is sorted already
  return (value *)r;
}

RT_API value *busted_product(value *v, i32 host) {
  if (!is(v, V_ARRAY) && !is(v, V_SET)) return 0;
  array_t *a = (array_t *)v;
  i64 acc = 1;
  for (u32 i = 0; i < a->len; i++) {
    i64 x;
    if (!is(a->elems[i], V_NUMBER)) return 0;
    if (!number_to_i64(a->elems[i], &x) || mul_overflow(acc, x, &acc)) return opa_builtin1(host, 0, v);
  }
  return opa_number_int(acc);
}

// array.slice(arr, start, stop): indexes clamped to [0, len]; start > stop is empty.
RT_API value *busted_array_slice(value *arr, value *start, value *stop) {
  i64 s, e;
  if (!is(arr, V_ARRAY) || !number_to_i64(start, &s) || !number_to_i64(stop, &e)) return 0;
  array_t *a = (array_t *)arr;
  if (s < 0) s = 0;
  if (e > (i64)a->len) e = a->len;
  if (s > e) s = e;
  value *r = opa_array_with_cap((u32)(e - s));
  for (i64 i = s; i < e; i++) opa_array_append(r, a->elems[i]);
  return r;
}

// The value of a rule-tree node defined in two places (OPA's virtual
// documents: `p[x] := 1` beside `p.q.r := 2`): objects merge key by key,
// sets are joined, equal values are one; anything else is the conflict OPA
// reports at evaluation. Known gap: OPA also refuses to merge into an
// object that is one rule's whole value; here such objects merge.
RT_API value *busted_tree_merge(value *a, value *b) {
  if (!a) return b;
  if (!b) return a;
  if (is(a, V_OBJECT) && is(b, V_OBJECT)) {
    object_t *x = (object_t *)a, *y = (object_t *)b;
    value *r = opa_object();
    for (u32 i = 0; i < x->len; i++) opa_object_insert(r, x->elems[i].k, x->elems[i].v);
    for (u32 i = 0; i < y->len; i++) {
      value *old = opa_value_get(r, y->elems[i].k);
      opa_object_insert(r, y->elems[i].k, old ? busted_tree_merge(old, y->elems[i].v) : y->elems[i].v);
    }
    return r;
  }
  if (is(a, V_SET) && is(b, V_SET)) {
    value *r = opa_set();
    set_t *x = (set_t *)a, *y = (set_t *)b;
    for (u32 i = 0; i < x->len; i++) opa_set_add(r, x->elems[i]);
    for (u32 i = 0; i < y->len; i++) opa_set_add(r, y->elems[i]);
    return r;
  }
  if (opa_value_compare(a, b) == 0) return a;
  opa_abort("eval_conflict_error: object keys must be unique");
  return 0;
}

// trim_prefix / trim_suffix: Go's strings.TrimPrefix / TrimSuffix, bytewise
// on UTF-8 as Go does; the result shares the operand's bytes.
RT_API value *busted_trim_prefix(value *s, value *p) {
  if (!is(s, V_STRING) || !is(p, V_STRING)) return 0;
  string_t *x = (string_t *)s, *y = (string_t *)p;
  if (y->len > x->len || memcmp(x->v, y->v, y->len) != 0) return s;
  return opa_string(x->v + y->len, x->len - y->len);
}

RT_API value *busted_trim_suffix(value *s, value *p) {
  if (!is(s, V_STRING) || !is(p, V_STRING)) return 0;
  string_t *x = (string_t *)s, *y = (string_t *)p;
  if (y->len > x->len || memcmp(x->v + x->len - y->len, y->v, y->len) != 0) return s;
  return opa_string(x->v, x->len - y->len);
}
