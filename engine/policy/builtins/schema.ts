/**
 * Host builtins: the schema family (OPA v1/topdown), gathered by builtins-js.ts.
 */
import type { BuiltinDecl } from '../compile/builtins.js';
import type { Impl } from './common.js';

/** name → arity and how operands and result cross (compile/builtins.ts) */
export const DECLS: Record<string, BuiltinDecl> = {};

export const IMPLS: Record<string, Impl> = {};
