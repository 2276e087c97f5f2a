// The evaluation entry points the SDK calls (docs §1.2, §1.4): the context
// setters for ABI < 1.2 hosts and opa_eval, the one-call fast path of 1.2.
// eval, builtins and entrypoints themselves are stubs (stub.c) that the
// emitter replaces with the compiled policy.
#include "abi.h"

i32 eval(eval_ctx_t *ctx);

// busted_eval_again (below): the next evaluation's word, and this one's;
// and where this evaluation's heap starts
static u32 again_next, again_now, eval_heap;

extern u8 __heap_base;
// stack.s. The shadow stack grows down from __heap_base (wasm-ld's layout
// without --stack-first; build.ts checks it). Only entry points the host
// calls at top level may call this, before they have a stack frame of their
// own: never opa_malloc or the json functions, which builtins re-enter.
void busted_stack_reset(u32 sp);

static eval_ctx_t *ctx_alloc(void) {
  eval_ctx_t *ctx = opa_malloc(sizeof(eval_ctx_t));
  ctx->input = 0;
  ctx->data = 0;
  ctx->result = 0;
  ctx->entrypoint = 0;
  return ctx;
}

// The start of an evaluation on the ctx path (ABI < 1.2).
WASM_EXPORT(opa_eval_ctx_new) eval_ctx_t *opa_eval_ctx_new(void) {
  busted_stack_reset((u32)&__heap_base);
  busted_stable_below = 0;
  busted_image_input = 0;
  again_next = again_now = 0;
  return ctx_alloc();
}

WASM_EXPORT(opa_eval_ctx_set_input) void opa_eval_ctx_set_input(eval_ctx_t *ctx, value *v) { ctx->input = v; }

WASM_EXPORT(opa_eval_ctx_set_data) void opa_eval_ctx_set_data(eval_ctx_t *ctx, value *v) { ctx->data = v; }

WASM_EXPORT(opa_eval_ctx_set_entrypoint) void opa_eval_ctx_set_entrypoint(eval_ctx_t *ctx, i32 id) {
  ctx->entrypoint = id;
}

WASM_EXPORT(opa_eval_ctx_get_result) value *opa_eval_ctx_get_result(eval_ctx_t *ctx) { return ctx->result; }

// The host has written input_len bytes of input at `input` and hands us the
// heap above them (unaligned; opa_malloc aligns). input_len 0 = no input:
// the SDK sends that for every falsy JS input (docs §1.4).
//
// The work is in eval_fast, never inlined, so that opa_eval itself has no
// stack frame when it resets the stack. With -flto LLVM inlined the JSON
// parser's entry into opa_eval, and its parser state (a struct whose address
// is taken) got a 32-byte frame in opa_eval, set up before the reset; the
// reset then handed those bytes to the callees' frames, which overwrote the
// parser's end pointer: `["\ud800\u0041"]` (a lone high surrogate before
// another \u escape, inside an array or object) was "input is not valid JSON"
// (found by test/policy/fuzz-eval.test.ts). build.ts now checks that
// opa_eval moves no stack pointer before the reset.
// Memory below this address does not change until busted_data_gen moves
// on: the runtime's and the policy's static data, the kept arena, and the
// data the host loaded. On opa_eval's path it is where the host wrote the
// input (the SDK writes it just above the data); on the context path,
// where the host rewinds the heap before each evaluation, nothing is.
u32 busted_stable_below;

// An input image's values at the path table's input paths (json.c), for
// the input busted_image_input only: 0 when the input was JSON.
value *busted_image_input;
const u32 *busted_image_paths;
u32 busted_image_n;

static __attribute__((noinline)) value *eval_result(i32 entrypoint, value *data, const char *input, u32 input_len, u32 heap) {
  again_now = again_next;
  again_next = 0;
  eval_heap = heap;
  rt_heap_reset(heap);
  busted_stable_below = input_len ? (u32)input : heap;
  value *in = 0;
  if (input_len) {
    in = rt_input_parse(input, input_len);
    // the parser's one other refusal is depth (json.c MAX_DEPTH): say so, or
    // an event nested that deep reads as broken JSON
    if (!in) opa_abort("opa_eval: input is not valid JSON (or is nested more than 1000 levels deep)");
  }
  eval_ctx_t *ctx = ctx_alloc();
  ctx->input = in;
  ctx->data = data;
  ctx->entrypoint = entrypoint;
  if (eval(ctx) != 0) opa_abort("eval failed");
  return ctx->result;
}

static __attribute__((noinline)) char *eval_fast(i32 entrypoint, value *data, const char *input, u32 input_len, u32 heap, i32 format) {
  value *result = eval_result(entrypoint, data, input, input_len, heap);
  return format == 1 ? opa_value_dump(result) : opa_json_dump(result);
}

WASM_EXPORT(opa_eval)
char *opa_eval(i32 reserved, i32 entrypoint, value *data, const char *input, u32 input_len, u32 heap, i32 format) {
  busted_stack_reset((u32)&__heap_base);
  if (reserved != 0) opa_abort("opa_eval: reserved argument must be 0");
  return eval_fast(entrypoint, data, input, input_len, heap, format);
}

// opa_eval without the dump: the result set's address, for a host that
// reads the runtime's values (engine/policy/direct.ts reads a decision's
// one string or boolean there, and asks opa_json_dump for anything else).
WASM_EXPORT(busted_eval)
value *busted_eval(i32 entrypoint, value *data, const char *input, u32 input_len, u32 heap) {
  busted_stack_reset((u32)&__heap_base);
  return eval_result(entrypoint, data, input, input_len, heap);
}

// wasm-ld drops imports nothing calls, and adding them later would renumber
// every function the emitter refers to (docs §6.2 gotcha 2). Never called.
RT_API void busted_force_imports(void) {
  opa_println(0);
  opa_builtin0(0, 0);
  opa_builtin1(0, 0, 0);
  opa_builtin2(0, 0, 0, 0);
  opa_builtin3(0, 0, 0, 0, 0);
  opa_builtin4(0, 0, 0, 0, 0, 0);
}

// Rule results within one evaluation (OPA's memoization of rules without
// arguments): one entry per IR function, valid for the input and data it
// was computed with, since a `with` hands a rule fresh copies of them. The
// emitted eval() resets the table at the start of every evaluation (the
// heap it lives on is rewound between evaluations anyway).
typedef struct {
  u32 set;
  value *input;
  value *data;
  value *v;
} memo_t;

static memo_t *memo;
static u32 memo_n;

// Another entrypoint on the same input (busted/reasons after
// busted/decision, busted/kill): the host says so (busted_eval_again) and
// hands opa_eval the heap as the last evaluation left it, so the rules
// that evaluation remembered still hold and need not be evaluated again.
// The word is good for the next evaluation only, whatever happens to it.
WASM_EXPORT(busted_eval_again) void busted_eval_again(void) { again_next = 1; }

RT_API void busted_memo_reset(u32 n) {
  // kept only where the heap was carried on: a host that rewound it over
  // the last evaluation's values gets a fresh table, whatever it said
  if (again_now && memo && memo_n == n && (u32)(memo + n) <= eval_heap) return;
  memo = opa_malloc(n * sizeof(memo_t));
  memset(memo, 0, n * sizeof(memo_t));
  memo_n = n;
}

// The remembered result (0: undefined), or 1 when there is none.
RT_API value *busted_memo_get(u32 i, value *input, value *data) {
  if (i >= memo_n) return (value *)1;
  memo_t *m = &memo[i];
  if (m->set && m->input == input && m->data == data) return m->v;
  return (value *)1;
}

RT_API void busted_memo_put(u32 i, value *input, value *data, value *v) {
  if (i >= memo_n) return;
  memo_t *m = &memo[i];
  m->set = 1;
  m->input = input;
  m->data = data;
  m->v = v;
}

// Values of rules that depend only on data (emit/kept.ts), kept from one
// evaluation to the next: the SDK evaluates event after event against the
// same data. They live in a static arena, not on the heap the host rewinds
// between evaluations; the table is dropped when the host loads new data
// (busted_data_gen, malloc.c) or an evaluation has other data, and a value
// is only kept for the evaluation's own data (not under `with data...`).
// Kept values are never changed in place (the planner changes only the
// collections it is building), so handing out the same one is safe. What
// does not fit in the arena is simply not kept.
#define KEPT_SLOTS 256
#define KEPT_ARENA (32 * 1024)

typedef struct {
  u32 set;
  value *v;
} kept_t;

// Where kept_copy puts its copies: the data-only rules' arena, or the
// input-keyed rules' (busted_ikept_put), which takes what lies where
// nothing changes while its entries hold as it is (`borrow`).
typedef struct {
  u8 *mem;
  u32 size, used;
  i32 borrow;
} arena_t;

static kept_t kept[KEPT_SLOTS];
static u64 kept_mem[KEPT_ARENA / 8];
static arena_t kept_arena = {(u8 *)kept_mem, KEPT_ARENA, 0, 0};
static u32 kept_gen, kept_valid;
static value *kept_data;

// The path table: the value at each input or data path the policy looks up
// with constant keys (emit/lookups.ts), once per evaluation for input
// paths and once per data for data paths, whichever function asks. An
// entry holds when its stamp is the current one of its kind; a lookup
// counts only when made from the evaluation's own input or data (the root
// local of the function that makes it), not from what a `with` made.
#define PATH_SLOTS 1024 // emitter.ts MAX_PATHS

typedef struct {
  u32 stamp;
  value *v;
} path_t;

static path_t paths[PATH_SLOTS];
static u32 input_stamp, data_stamp;
static value *root_input;

static void paths_clear(void) {
  memset(paths, 0, sizeof(paths));
  input_stamp = data_stamp = 1;
}

// At the start of every evaluation (the emitted eval): a new input, and
// perhaps new data.
static void ikept_begin(void);

RT_API void busted_eval_begin(value *input, value *data) {
  if (++input_stamp == 0) paths_clear(); // after 2^32 evaluations: no stale stamp may come round again
  root_input = input;
  ikept_begin();
  if (kept_valid && kept_gen == busted_data_gen && kept_data == data) return;
  memset(kept, 0, sizeof(kept));
  kept_arena.used = 0;
  // the kept arena is rewritten: what was stable below busted_stable_below is not
  kept_gen = ++busted_data_gen;
  kept_data = data;
  kept_valid = 1;
  if (++data_stamp == 0) paths_clear();
}

RT_API value *busted_input_path(value *coll, value *key, u32 id, value *root) {
  if (root == busted_image_input && root && id < busted_image_n) {
    u32 v = busted_image_paths[id];
    if (v != 1) return (value *)v; // the host found it (0: undefined)
  }
  if (root != root_input || !root) return opa_value_get(coll, key);
  path_t *p = &paths[id];
  if (p->stamp != input_stamp) {
    p->v = opa_value_get(coll, key);
    p->stamp = input_stamp;
  }
  return p->v;
}

// Data values stay where they are until the host loads new data (which
// moves data_stamp on), so the pointer is all there is to keep.
RT_API value *busted_data_path(value *coll, value *key, u32 id, value *root) {
  if (root != kept_data || !root) return opa_value_get(coll, key);
  path_t *p = &paths[id];
  if (p->stamp != data_stamp) {
    p->v = opa_value_get(coll, key);
    p->stamp = data_stamp;
  }
  return p->v;
}

static void *kept_alloc(arena_t *ar, u32 n) {
  u32 at = (ar->used + 7) & ~7u;
  if (at + n > ar->size) return 0;
  ar->used = at + n;
  return ar->mem + at;
}

#define IKEPT_ARENA (8 * 1024)
static u64 ikept_mem[IKEPT_ARENA / 8];
static arena_t ikept_arena = {(u8 *)ikept_mem, IKEPT_ARENA, 0, 1};

// A deep copy of v in the arena AR, or 0 when it does not fit. Into an
// arena that borrows (the input-keyed rules'), what already lies where
// nothing changes while its entries hold (the host's arena, the data and
// the policy's constants below busted_stable_below; not that arena
// itself) is taken as it is: a kept prompt is not copied again.
static value *kept_copy(arena_t *ar, value *v) {
  if (ar->borrow) {
    u32 a = (u32)v;
    if (a - (u32)busted_host_arena < BUSTED_HOST_ARENA) return v;
    if (a < busted_stable_below && a - (u32)ar->mem >= ar->size) return v;
  }
  switch (v->type) {
  case V_NULL:
  case V_BOOLEAN: return v; // static (value.c)
  case V_NUMBER: {
    number_t *n = kept_alloc(ar, sizeof(number_t));
    if (!n) return 0;
    *n = *(number_t *)v;
    if (n->repr == N_TEXT) {
      char *t = kept_alloc(ar, n->len);
      if (!t) return 0;
      memcpy(t, n->text, n->len);
      n->text = t;
    }
    return (value *)n;
  }
  case V_STRING: {
    string_t *s = kept_alloc(ar, sizeof(string_t));
    if (!s) return 0;
    *s = *(string_t *)v;
    char *t = kept_alloc(ar, s->len);
    if (!t) return 0;
    memcpy(t, s->v, s->len);
    s->v = t;
    return (value *)s;
  }
  case V_ARRAY:
  case V_SET: {
    array_t *a = kept_alloc(ar, sizeof(array_t)); // set_t has the same layout (abi.h)
    if (!a) return 0;
    *a = *(array_t *)v;
    a->cap = a->len;
    a->elems = kept_alloc(ar, a->len * sizeof(value *));
    if (!a->elems && a->len) return 0;
    for (u32 i = 0; i < a->len; i++) {
      if (!(a->elems[i] = kept_copy(ar, ((array_t *)v)->elems[i]))) return 0;
    }
    return (value *)a;
  }
  case V_OBJECT: {
    object_t *o = kept_alloc(ar, sizeof(object_t));
    if (!o) return 0;
    *o = *(object_t *)v;
    o->cap = o->len;
    o->elems = kept_alloc(ar, o->len * sizeof(kv_t));
    if (!o->elems && o->len) return 0;
    for (u32 i = 0; i < o->len; i++) {
      kv_t *src = &((object_t *)v)->elems[i];
      if (!(o->elems[i].k = kept_copy(ar, src->k)) || !(o->elems[i].v = kept_copy(ar, src->v))) return 0;
    }
    return (value *)o;
  }
  }
  return 0;
}

// The kept value of rule `slot` (0: undefined), or 1 when there is none.
RT_API value *busted_kept_get(u32 slot, value *data) {
  if (slot >= KEPT_SLOTS || data != kept_data || !kept[slot].set) return (value *)1;
  return kept[slot].v;
}

// Values of rules that read the input only at paths of the input image
// whose values the host kept in its arena (image.ts keep(): the same
// process, connection and host names from one event to the next), kept
// from one evaluation to the next with those values' addresses as their
// key (emit/kept.ts inputKeyedRules). The host's arena never changes a
// value while its count (first word) stays; a value elsewhere (an object,
// a string too long to keep, one the module looks up) is no key, and the
// rule is evaluated as usual. Only for the evaluation's own input image
// and data; dropped with new data (busted_data_gen). What does not fit is
// not kept; the arena is emptied, every entry with it, before an
// evaluation once half of it is used (ikept_begin).
#define IKEPT_SLOTS 32
#define IKEPT_KEYS 16

typedef struct {
  u32 set;
  u32 arena_gen; // the host arena's count then
  u32 data_gen;  // busted_data_gen then
  u32 n;
  u32 max_id;    // the key's largest path id
  u32 misses;    // gets since the last hit that found other values (put() tries less often past 8)
  value *v;
  u32 key[IKEPT_KEYS];
} ikept_t;

static ikept_t ikept[IKEPT_SLOTS];
static u32 ikept_hits;

static inline u32 host_arena_gen(void) { return *(const u32 *)busted_host_arena; }

// Before an evaluation (when no kept value is in use): the arena begun
// again, every entry with it, once half of it is used.
static void ikept_begin(void) {
  if (ikept_arena.used <= IKEPT_ARENA / 2) return;
  for (u32 i = 0; i < IKEPT_SLOTS; i++) ikept[i].set = 0;
  ikept_arena.used = 0;
}

// Whether the input's values at IDS can key a kept value: the input is
// this evaluation's image, and each path's value is undefined (0) or one
// the host kept in its arena.
static i32 ikept_keyable(value *input, value *data, const u32 *ids, u32 n) {
  if (!input || input != busted_image_input || input != root_input || data != kept_data || !kept_valid || n > IKEPT_KEYS) return 0;
  for (u32 k = 0; k < n; k++) {
    if (ids[k] >= busted_image_n) return 0;
    u32 v = busted_image_paths[ids[k]];
    if (v && (v - (u32)busted_host_arena) >= BUSTED_HOST_ARENA) return 0; // 1 (not filled in) included
  }
  return 1;
}

// The kept value of input-keyed rule `slot` (0: undefined), or 1 when there is none for these values.
// The values were keyable when kept; while both counts hold, the same addresses are the same values.
RT_API value *busted_ikept_get(u32 slot, value *input, value *data, const u32 *ids, u32 n) {
  if (slot >= IKEPT_SLOTS) return (value *)1;
  ikept_t *e = &ikept[slot];
  if (!e->set || !input || input != busted_image_input || input != root_input || data != kept_data) return (value *)1;
  if (e->arena_gen != host_arena_gen() || e->data_gen != busted_data_gen || e->n != n || e->max_id >= busted_image_n) return (value *)1;
  for (u32 k = 0; k < n; k++) {
    if (busted_image_paths[ids[k]] != e->key[k]) {
      e->misses++;
      return (value *)1;
    }
  }
  e->misses = 0;
  ikept_hits++;
  return e->v;
}

RT_API void busted_ikept_put(u32 slot, value *input, value *data, const u32 *ids, u32 n, value *v) {
  if (slot >= IKEPT_SLOTS) return;
  ikept_t *e = &ikept[slot];
  // a rule whose values change every time (the prompt's): kept once in 64 tries, not every time
  if (e->misses >= 8 && (e->misses++ & 63)) return;
  if (!ikept_keyable(input, data, ids, n)) return;
  e->set = 0;
  value *c = 0;
  if (v) {
    u32 mark = ikept_arena.used;
    if (!(c = kept_copy(&ikept_arena, v))) {
      ikept_arena.used = mark; // does not fit: not kept (the arena is begun again before an evaluation)
      return;
    }
  }
  e->set = 1;
  e->arena_gen = host_arena_gen();
  e->data_gen = busted_data_gen;
  e->n = n;
  e->v = c;
  e->max_id = 0;
  for (u32 k = 0; k < n; k++) {
    e->key[k] = busted_image_paths[ids[k]];
    if (ids[k] > e->max_id) e->max_id = ids[k];
  }
}

// How many evaluations of input-keyed rules were answered from what was kept (tests).
WASM_EXPORT(busted_ikept_hits) u32 busted_ikept_hits(void) { return ikept_hits; }

RT_API void busted_kept_put(u32 slot, value *data, value *v) {
  if (slot >= KEPT_SLOTS || data != kept_data || kept[slot].set) return;
  if (!v) {
    kept[slot].set = 1;
    kept[slot].v = 0;
    return;
  }
  u32 mark = kept_arena.used;
  value *c = kept_copy(&kept_arena, v);
  if (!c) {
    kept_arena.used = mark; // did not fit: not kept
    return;
  }
  kept[slot].set = 1;
  kept[slot].v = c;
}
