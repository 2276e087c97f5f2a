# Resets the C shadow stack pointer. An opa_abort is a JS exception thrown
# through the wasm frames, so the epilogues that would pop the C frames never
# run and __stack_pointer stays where the abort left it: some 32 bytes lost
# per aborted opa_eval, and after a few thousand the stack runs into the
# runtime's data (a "memory access out of bounds" found by
# test/policy/runtime.test.ts). Entry points the host calls at top level
# (opa_eval, opa_eval_ctx_new) call this first. C cannot name a wasm global,
# hence assembly.
  .globaltype __stack_pointer, i32

  .section .text.busted_stack_reset,"",@
  .globl busted_stack_reset
  .type busted_stack_reset,@function
busted_stack_reset:
  .functype busted_stack_reset (i32) -> ()
  local.get 0
  global.set __stack_pointer
  end_function
