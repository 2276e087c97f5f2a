// The policy-specific exports, as stubs for the emitter to replace (it finds
// them by export name and swaps their bodies; their signatures are fixed by
// docs §1.2). A runtime without a policy has no entrypoints: every id is
// illegal, as in OPA's plan dispatch.
#include "abi.h"

WASM_EXPORT(eval) RT_STUB i32 eval(eval_ctx_t *ctx) {
  (void)ctx;
  opa_abort("internal: illegal entrypoint id");
  return 0;
}

WASM_EXPORT(builtins) RT_STUB value *builtins(void) { return opa_object(); }

WASM_EXPORT(entrypoints) RT_STUB value *entrypoints(void) { return opa_object(); }
