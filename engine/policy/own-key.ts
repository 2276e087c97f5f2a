/**
 * Keys that come from policy data and input (JSON): "__proto__" is a key
 * like any other, and "toString" is not there unless the object has it.
 * An assignment `o[k] = v` would replace o's prototype for "__proto__"
 * (Object.prototype itself, reached through a plain object); defining the
 * property does not.
 */
export function putOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}
