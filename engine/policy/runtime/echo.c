// Test build only (build/wasm/runtime-echo.wasm): stands in for a compiled
// policy so that test/policy/runtime.test.ts can drive the runtime through
// the npm SDK before the emitter exists. Three entrypoints:
//   echo/input  result = input
//   echo/x      result = input.x
//   echo/sets   result = data with every array turned into a set, so that
//               nested sets, their order and their dumps can be checked
#include "abi.h"

static value *str(const char *s) { return opa_string(s, strlen(s)); }

static value *to_sets(value *v) {
  switch (v->type) {
  case V_ARRAY: {
    array_t *a = (array_t *)v;
    value *s = opa_set();
    for (u32 i = 0; i < a->len; i++) opa_set_add(s, to_sets(a->elems[i]));
    return s;
  }
  case V_OBJECT: {
    object_t *o = (object_t *)v;
    value *r = opa_object();
    for (u32 i = 0; i < o->len; i++) opa_object_insert(r, o->elems[i].k, to_sets(o->elems[i].v));
    return r;
  }
  }
  return v;
}

WASM_EXPORT(eval) RT_STUB i32 eval(eval_ctx_t *ctx) {
  value *result = 0;
  switch (ctx->entrypoint) {
  case 0: result = ctx->input; break;
  case 1: result = opa_value_get(ctx->input, str("x")); break;
  case 2: result = ctx->data ? to_sets(ctx->data) : 0; break;
  default: opa_abort("internal: illegal entrypoint id");
  }
  value *rs = opa_set();
  if (result) { // undefined -> empty result set
    value *binding = opa_object();
    opa_object_insert(binding, str("result"), result);
    opa_set_add(rs, binding);
  }
  ctx->result = rs;
  return 0;
}

WASM_EXPORT(builtins) RT_STUB value *builtins(void) { return opa_object(); }

WASM_EXPORT(entrypoints) RT_STUB value *entrypoints(void) {
  value *o = opa_object();
  opa_object_insert(o, str("echo/input"), opa_number_int(0));
  opa_object_insert(o, str("echo/x"), opa_number_int(1));
  opa_object_insert(o, str("echo/sets"), opa_number_int(2));
  return o;
}
