// The C half of busted's Rego Wasm runtime contract: the value layout the
// emitter writes into data segments and reads through runtime calls, the
// eval context, and the import/export attributes. See docs/rego-wasm-abi.md
// (section 1 for the SDK contract, section 2 for what is ours to design).
// The TypeScript half is build/wasm/runtime.json, generated at build time
// by build.ts from the linked module (function indices, heap base, ABI
// version). The struct offsets below are pinned by _Static_asserts; a TS
// mirror for the emitter's interned values does not exist yet and should be
// checked against these asserts when it does (STYLE.md 1).
#ifndef BUSTED_RUNTIME_ABI_H
#define BUSTED_RUNTIME_ABI_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int i32;
typedef long long i64;
typedef unsigned long long u64;
typedef unsigned long size_t; // wasm32: 4 bytes
#define NULL ((void *)0)

// Exported under the ABI name (docs §1.2).
#define WASM_EXPORT(name) __attribute__((export_name(#name)))
// Imported from the host's `env` (docs §1.1).
#define WASM_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
// Runtime functions the emitter calls by name (function index from the name
// section, listed in manifest.json). `used` keeps wasm-ld from dropping them
// when nothing in the runtime itself calls them.
#define RT_API __attribute__((used))
// Bodies the emitter replaces. optnone: without it LLVM sees that the stub
// `eval` never reads ctx and drops the stores opa_eval makes into it
// (docs §6.2 gotcha 3).
#define RT_STUB __attribute__((noinline, optnone))

// ABI version globals (docs §1.2): 1.2 = the opa_eval fast path. 1.3 would
// also require the heap stash exports.
#define OPA_WASM_ABI_VERSION 1
#define OPA_WASM_ABI_MINOR_VERSION 2

// Value tags. Their numeric order is Rego's type order
// (null < boolean < number < string < array < object < set), which
// opa_value_compare relies on.
enum {
  V_NULL = 1,
  V_BOOLEAN = 2,
  V_NUMBER = 3,
  V_STRING = 4,
  V_ARRAY = 5,
  V_OBJECT = 6,
  V_SET = 7,
};

// Number representations.
enum {
  N_INT = 1,  // i holds the value exactly
  N_TEXT = 2, // text/len hold the JSON literal (floats, big integers, -0)
};

typedef struct value {
  u8 type;
} value;

typedef struct {
  u8 type; // V_BOOLEAN
  u8 v;    // 0 or 1
} boolean_t;

typedef struct {
  u8 type;          // V_NUMBER
  u8 repr;          // N_INT or N_TEXT
  u32 len;          // N_TEXT: length of text
  const char *text; // N_TEXT: a valid JSON number literal, not NUL-terminated
  i64 i;            // N_INT: the value
} number_t;

typedef struct {
  u8 type;       // V_STRING
  u32 len;       // bytes
  const char *v; // UTF-8, not NUL-terminated
} string_t;

typedef struct {
  u8 type; // V_ARRAY
  u32 len;
  u32 cap;
  value **elems;
} array_t;

typedef struct {
  value *k;
  value *v;
} kv_t;

// Objects and sets keep their entries sorted by key in Rego's total order:
// lookups are binary searches, iteration and dumps come out sorted the way
// Go's OPA prints them.
typedef struct {
  u8 type; // V_OBJECT
  u32 len;
  u32 cap;
  kv_t *elems;
} object_t;

typedef struct {
  u8 type; // V_SET
  u32 len;
  u32 cap;
  value **elems;
} set_t;

// Evaluation context; only our eval and opa_eval touch it. Same offsets
// as OPA's context.c, so emitted code reads input@0 data@4 and writes the
// result set @8.
typedef struct {
  value *input;   // 0 = undefined input
  value *data;
  value *result;  // a set of binding objects
  i32 entrypoint;
} eval_ctx_t;

#define OFFSET(t, f) __builtin_offsetof(t, f)
_Static_assert(sizeof(boolean_t) == 2, "boolean_t layout");
_Static_assert(OFFSET(number_t, repr) == 1 && OFFSET(number_t, len) == 4 && OFFSET(number_t, text) == 8 &&
                   OFFSET(number_t, i) == 16 && sizeof(number_t) == 24,
               "number_t layout");
_Static_assert(OFFSET(string_t, len) == 4 && OFFSET(string_t, v) == 8 && sizeof(string_t) == 12, "string_t layout");
_Static_assert(OFFSET(array_t, len) == 4 && OFFSET(array_t, cap) == 8 && OFFSET(array_t, elems) == 12 &&
                   sizeof(array_t) == 16,
               "array_t layout");
_Static_assert(sizeof(object_t) == 16 && sizeof(set_t) == 16 && sizeof(kv_t) == 8, "collection layout");
_Static_assert(OFFSET(eval_ctx_t, data) == 4 && OFFSET(eval_ctx_t, result) == 8 &&
                   OFFSET(eval_ctx_t, entrypoint) == 12 && sizeof(eval_ctx_t) == 16,
               "eval_ctx_t layout");

// --- host imports (docs §1.1) ---------------------------------------------
WASM_IMPORT(opa_abort) void opa_abort(const char *msg);
WASM_IMPORT(opa_println) void opa_println(const char *msg);
WASM_IMPORT(opa_builtin0) value *opa_builtin0(i32 id, void *ctx);
WASM_IMPORT(opa_builtin1) value *opa_builtin1(i32 id, void *ctx, value *a);
WASM_IMPORT(opa_builtin2) value *opa_builtin2(i32 id, void *ctx, value *a, value *b);
WASM_IMPORT(opa_builtin3) value *opa_builtin3(i32 id, void *ctx, value *a, value *b, value *c);
WASM_IMPORT(opa_builtin4) value *opa_builtin4(i32 id, void *ctx, value *a, value *b, value *c, value *d);

// --- lib.c -----------------------------------------------------------------
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

// --- malloc.c --------------------------------------------------------------
void *opa_malloc(u32 size);
void opa_free(void *p);
void *rt_realloc(void *p, u32 old_size, u32 new_size);
u32 opa_heap_ptr_get(void);
void opa_heap_ptr_set(u32 p);
void rt_heap_reset(u32 p);
extern u32 busted_data_gen;
extern u32 busted_stable_below;
// the input image's path table (json.c image_root), for busted_input_path
extern value *busted_image_input;
extern const u32 *busted_image_paths;
extern u32 busted_image_n;
// the host's arena (json.c): input values it keeps between images. Its
// first word counts the times the host began it again (image.ts): a value
// in it stays where it is, unchanged, while that count does.
#define BUSTED_HOST_ARENA (16 * 1024)
extern const u8 *const busted_host_arena;

// --- value.c ---------------------------------------------------------------
value *opa_null(void);
value *opa_boolean(i32 v);
value *opa_number_int(i64 v);
value *opa_number_ref(const char *text, u32 len);
value *opa_string(const char *s, u32 len);
value *opa_array_with_cap(u32 cap);
value *opa_object(void);
value *opa_set(void);
void opa_array_append(value *arr, value *v);
void opa_object_insert(value *obj, value *k, value *v);
void opa_set_add(value *set, value *v);
value *opa_value_get(value *coll, value *key);
i32 opa_value_compare(value *a, value *b);
i32 opa_value_type(value *v);
u32 opa_value_length(value *v);
i32 number_to_i64(value *v, i64 *out);
i32 rt_key_compare(value *a, value *b);
void rt_sort_kv(kv_t *elems, u32 n);
void rt_sort_values(value **elems, u32 n);
u32 rt_dedupe_kv(kv_t *elems, u32 n);
u32 rt_dedupe_values(value **elems, u32 n);

// --- json.c ----------------------------------------------------------------
value *opa_json_parse(const char *s, u32 len);
value *rt_input_parse(const char *s, u32 len);
value *opa_value_parse(const char *s, u32 len);
char *opa_json_dump(value *v);
char *opa_value_dump(value *v);
char *rt_value_text(value *v, u32 *len);

#endif
