/**
 * The runtime's value tags (runtime/abi.h, the first byte of every value),
 * for the host code that writes or reads the runtime's values: the emitter's
 * inline checks (emit/emitter.ts), input images (image.ts) and the direct
 * path's result reader (direct.ts).
 */
export const V_NULL = 1;
export const V_BOOLEAN = 2;
export const V_NUMBER = 3;
export const V_STRING = 4;
export const V_ARRAY = 5;
export const V_OBJECT = 6;
export const V_SET = 7;
