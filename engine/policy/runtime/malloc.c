// The heap: a bump allocator whose pointer the host owns (docs §1.3-1.4).
// The SDK rewinds it with opa_heap_ptr_set before each evaluation and
// writes raw input above it, so there are no free lists to forget and
// opa_free is a no-op. Every block is 8-byte aligned because the pointer
// the host hands back may be odd (docs §8.1).
#include "abi.h"

extern u8 __heap_base; // end of the runtime's data + shadow stack (wasm-ld)

static u32 heap_ptr; // 0 until first use: then heap_base
static u32 heap_base;

// The emitter's start function calls this with the end of the policy's
// data segments, which it places above __heap_base (docs §2.3).
RT_API void busted_heap_init(u32 base) {
  heap_base = base;
  heap_ptr = base;
}

static inline void heap_lazy_init(void) {
  if (!heap_ptr) heap_ptr = heap_base ? heap_base : (u32)&__heap_base;
}

WASM_EXPORT(opa_heap_ptr_get) u32 opa_heap_ptr_get(void) {
  heap_lazy_init();
  return heap_ptr;
}

// The host rewinds the heap: to load new data (the SDK's setData), or
// before each evaluation on the ABI < 1.2 path. Either way what eval.c kept
// across evaluations may no longer hold: the data generation moves on.
u32 busted_data_gen;

WASM_EXPORT(opa_heap_ptr_set) void opa_heap_ptr_set(u32 p) {
  heap_ptr = p;
  busted_data_gen++;
}

// opa_eval's own rewind (the fast path): data stays as it is.
void rt_heap_reset(u32 p) { heap_ptr = p; }

// Make [0, end) addressable. The host may have grown memory behind our back,
// so memory.size is read each time instead of cached.
static void heap_ensure(u64 end) {
  u64 top = (u64)__builtin_wasm_memory_size(0) * 65536;
  if (end <= top) return;
  u64 pages = (end - top + 65535) / 65536;
  if (end > 0xFFFFFFFFull || __builtin_wasm_memory_grow(0, (size_t)pages) == (size_t)-1) {
    opa_abort("opa_malloc: failed");
  }
}

WASM_EXPORT(opa_malloc) void *opa_malloc(u32 size) {
  heap_lazy_init();
  u32 p = (heap_ptr + 7) & ~7u;
  u64 end = (u64)p + size;
  heap_ensure(end);
  heap_ptr = (u32)end;
  return (void *)p;
}

WASM_EXPORT(opa_free) void opa_free(void *p) { (void)p; }

// Grow a block; in place when it is the last one allocated (the common case
// for arrays being filled and the dump writer).
void *rt_realloc(void *p, u32 old_size, u32 new_size) {
  if (p && (u32)p + old_size == heap_ptr) {
    heap_ensure((u64)(u32)p + new_size);
    heap_ptr = (u32)p + new_size;
    return p;
  }
  void *q = opa_malloc(new_size);
  if (p) memcpy(q, p, old_size < new_size ? old_size : new_size);
  return q;
}
