// The libc functions clang emits calls to (struct copies, loops): there is
// no libc in the module (docs §6.2 gotcha 4). The runtime is built with
// -mbulk-memory (build.ts), so the builtins below are single memory.copy /
// memory.fill instructions (the bulk-memory proposal, in every engine the
// SDK runs on since 2020).
#include "abi.h"

void *memcpy(void *dst, const void *src, size_t n) {
  __builtin_memcpy(dst, src, n);
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  __builtin_memmove(dst, src, n);
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  __builtin_memset(dst, c, n);
  return dst;
}

// Eight bytes at a time while they agree (keys and prefixes of strings are
// what the runtime compares); the first differing byte decides, unsigned.
int memcmp(const void *a, const void *b, size_t n) {
  const u8 *x = a, *y = b;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    u64 p, q;
    __builtin_memcpy(&p, x + i, 8); // one i64.load (unaligned is fine in wasm)
    __builtin_memcpy(&q, y + i, 8);
    if (p != q) break;
  }
  for (; i < n; i++) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}
