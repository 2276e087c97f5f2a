/** Where the package's own files are, wherever it is installed or run from. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// This file compiles to dist/engine/paths.js: the package root is two up.
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BPF_DIR = join(PACKAGE_ROOT, 'build', 'bpf');
export const GUARD_BIN = join(PACKAGE_ROOT, 'build', 'guard', 'busted-guard');
