// Tests of the Rego policy runtime (engine/policy/runtime/*.c), built by
// engine/policy/runtime/build.ts into build/wasm/. The echo build stands in
// for a compiled policy (echo.c), so everything here runs through the real
// npm SDK (@open-policy-agent/opa-wasm), plus the runtime's exports called
// directly where the SDK would hide a detail (exact number text, Rego
// syntax dumps). The contract is docs/rego-wasm-abi.md §1.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';

import {
  buildRuntime,
  findTools,
  RUNTIME_ECHO_WASM,
  RUNTIME_MANIFEST,
  RUNTIME_WASM,
  type Manifest,
} from '../../engine/policy/runtime/build.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;

/** The runtime's exports we call directly. */
interface RuntimeExports {
  opa_malloc(n: number): number;
  opa_heap_ptr_get(): number;
  opa_heap_ptr_set(p: number): void;
  opa_json_parse(addr: number, len: number): number;
  opa_value_parse(addr: number, len: number): number;
  opa_json_dump(v: number): number;
  opa_value_dump(v: number): number;
  opa_eval(reserved: number, ep: number, data: number, input: number, len: number, heap: number, format: number): number;
}

interface Loaded {
  policy: LoadedPolicy;
  ex: RuntimeExports;
  mem: WebAssembly.Memory;
}

async function load(path: string): Promise<Loaded> {
  const policy = await loadPolicy(readFileSync(path));
  const inst = policy.wasmInstance as WebAssembly.Instance;
  return { policy, ex: inst.exports as unknown as RuntimeExports, mem: policy.mem };
}

/** Copies text into a fresh heap block: [addr, byte length]. */
function put(l: Loaded, text: string): [number, number] {
  const b = new TextEncoder().encode(text);
  const addr = l.ex.opa_malloc(b.length);
  new Uint8Array(l.mem.buffer).set(b, addr);
  return [addr, b.length];
}

/** The NUL-terminated UTF-8 string at addr. */
function cstr(l: Loaded, addr: number): string {
  const u = new Uint8Array(l.mem.buffer);
  let end = addr;
  while (u[end] !== 0) end++;
  return new TextDecoder('utf-8', { fatal: true }).decode(u.subarray(addr, end));
}

/** opa_json_parse then opa_json_dump (or the Rego-syntax pair); null for 0. */
function roundTrip(l: Loaded, text: string, rego = false): string | null {
  const [addr, len] = put(l, text);
  const v = rego ? l.ex.opa_value_parse(addr, len) : l.ex.opa_json_parse(addr, len);
  return v === 0 ? null : cstr(l, rego ? l.ex.opa_value_dump(v) : l.ex.opa_json_dump(v));
}

/** What the SDK's fast path does, minus its JSON.parse: the raw result text. */
function evalRaw(l: Loaded, input: string, entrypoint = 0, format = 0): string {
  const p = l.policy as unknown as { dataHeapPtr: number; dataAddr: number };
  const b = new TextEncoder().encode(input);
  new Uint8Array(l.mem.buffer).set(b, p.dataHeapPtr);
  return cstr(l, l.ex.opa_eval(0, entrypoint, p.dataAddr, p.dataHeapPtr, b.length, p.dataHeapPtr + b.length, format));
}

const bytes = (s: string): ArrayBuffer => new TextEncoder().encode(s).buffer as ArrayBuffer;

describe('policy runtime (build/wasm/runtime*.wasm)', { skip }, () => {
  let echo: Loaded;

  before(async () => {
    if (skip) return;
    const r = buildRuntime();
    if (r.built) console.error(`# built the policy runtime in ${r.ms} ms`);
    echo = await load(RUNTIME_ECHO_WASM);
  });

  describe('module shape', () => {
    it('imports env.memory (min <= 5 pages, no maximum) and opa_abort, opa_println, opa_builtin0..4', () => {
      const mod = new WebAssembly.Module(readFileSync(RUNTIME_WASM));
      assert.deepEqual(
        WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}:${i.kind}`),
        [
          'env.memory:memory',
          ...['opa_abort', 'opa_println', 'opa_builtin0', 'opa_builtin1', 'opa_builtin2', 'opa_builtin3', 'opa_builtin4'].map(
            (n) => `env.${n}:function`,
          ),
        ],
      );
      // Instantiates against a 5-page memory without a maximum (the SDK's default).
      const memory = new WebAssembly.Memory({ initial: 5 });
      const f = (): never => {
        throw new Error('unexpected host call');
      };
      const env = { memory, opa_abort: f, opa_println: f, opa_builtin0: f, opa_builtin1: f, opa_builtin2: f, opa_builtin3: f, opa_builtin4: f };
      const inst = new WebAssembly.Instance(mod, { env });
      assert.equal((inst.exports.opa_wasm_abi_version as WebAssembly.Global).value, 1);
      assert.equal((inst.exports.opa_wasm_abi_minor_version as WebAssembly.Global).value, 2);
      assert.equal(inst.exports.memory, memory);
    });

    it('exports the whole ABI 1.2 surface', () => {
      const names = WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(RUNTIME_WASM))).map((e) => e.name);
      for (const n of [
        'opa_wasm_abi_version',
        'opa_wasm_abi_minor_version',
        'memory',
        'builtins',
        'entrypoints',
        'eval',
        'opa_eval',
        'opa_malloc',
        'opa_free',
        'opa_json_parse',
        'opa_value_parse',
        'opa_json_dump',
        'opa_value_dump',
        'opa_heap_ptr_get',
        'opa_heap_ptr_set',
        'opa_eval_ctx_new',
        'opa_eval_ctx_set_input',
        'opa_eval_ctx_set_data',
        'opa_eval_ctx_set_entrypoint',
        'opa_eval_ctx_get_result',
      ]) {
        assert.ok(names.includes(n), `missing export ${n}`);
      }
    });

    it('has a manifest that matches the module', () => {
      const m = JSON.parse(readFileSync(RUNTIME_MANIFEST, 'utf8')) as Manifest;
      const exps = WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(RUNTIME_WASM)));
      assert.deepEqual(m.abi, { version: 1, minor: 2 });
      assert.ok(m.memoryMinPages <= 5);
      assert.ok(m.heapBase > m.dataEnd);
      assert.equal(m.stackTop, m.heapBase);
      assert.deepEqual(m.exports.map((e) => e.name), exps.map((e) => e.name));
      for (const [name, idx] of Object.entries(m.stubs)) assert.equal(m.functions[name], idx, name);
      for (const f of ['opa_malloc', 'opa_value_get', 'opa_value_iter', 'opa_value_compare', 'opa_object_insert', 'opa_set_add', 'busted_heap_init']) {
        assert.equal(typeof m.functions[f], 'number', `no function index for ${f}`);
      }
      // Imports come first, in the order the emitter's opa_builtinN calls rely on.
      assert.equal(m.functions.opa_abort, 0);
      assert.equal(m.functions.opa_builtin4, 6);
    });

    it('without a policy: no entrypoints or builtins, and every entrypoint id is illegal', async () => {
      const base = await load(RUNTIME_WASM);
      assert.deepEqual(base.policy.entrypoints, {});
      assert.throws(() => base.policy.evaluate({}, 0), (e) => e === 'internal: illegal entrypoint id');
    });
  });

  describe('through the npm SDK', () => {
    const cases: [string, unknown][] = [
      ['object', { b: 1, a: { c: [true, false, null] }, '': 'empty key' }],
      ['array', [1, 'two', [3], { four: 4 }, [], {}]],
      ['unicode with escapes', 'é 😀 \u0000 \u0001 \u001f \u007f " \\ / \n\r\t\b\f \u2028 ﻿ z'],
      ['floats', [0.1, 2.5, -1e-7, 1.7976931348623157e308, 5e-324, -0.5]],
      ['integers at the i64 edges', [0, -1, 9007199254740991, -9007199254740991]],
      ['nested', { a: [{ b: [{ c: 'd' }] }] }],
    ];
    for (const [name, input] of cases) {
      it(`echoes ${name}`, () => {
        assert.deepEqual(echo.policy.evaluate(input), [{ result: input }]);
      });
    }

    it('echoes by entrypoint name: input.x, and [] when it is undefined', () => {
      assert.deepEqual(echo.policy.evaluate({ x: { y: [1] } }, 'echo/x'), [{ result: { y: [1] } }]);
      assert.deepEqual(echo.policy.evaluate({ z: 1 }, 'echo/x'), []);
      assert.deepEqual(echo.policy.evaluate([1], 'echo/x'), []);
      assert.deepEqual(echo.policy.entrypoints, { 'echo/input': 0, 'echo/sets': 2, 'echo/x': 1 });
    });

    it('treats falsy inputs as no input on the fast path (SDK behaviour, docs §1.4)', () => {
      for (const input of [undefined, null, 0, false, '']) assert.deepEqual(echo.policy.evaluate(input), []);
    });

    it('dumps nested sets from data as sorted, deduplicated arrays', () => {
      echo.policy.setData({
        s: [[3, 1], [1, 3, 3], [2], []],
        mixed: [{}, [], 'b', 'a', 2, 1.0, 1, true, false, null, [1, 2], [1]],
        objs: [{ b: 1 }, { a: 2 }, { a: 1, b: 0 }, { a: 1 }],
      });
      assert.deepEqual(echo.policy.evaluate(undefined, 'echo/sets'), [
        {
          result: {
            // the arrays became sets: set() < {1, 3} < {2}
            s: [[], [1, 3], [2]],
            mixed: [null, false, true, 1, 2, 'a', 'b', {}, [], [1], [1, 2]],
            objs: [{ a: 1 }, { a: 1, b: 0 }, { a: 2 }, { b: 1 }],
          },
        },
      ]);
      echo.policy.setData({});
    });

    it('takes the ctx path (ABI < 1.2) as well', () => {
      const p = echo.policy as unknown as { minorVersion: number };
      p.minorVersion = 1;
      try {
        assert.deepEqual(echo.policy.evaluate({ a: 'ü' }), [{ result: { a: 'ü' } }]);
        assert.deepEqual(echo.policy.evaluate(null), [{ result: null }]); // the ctx path passes null on
        assert.deepEqual(echo.policy.evaluate({ x: 2 }, 1), [{ result: 2 }]);
      } finally {
        p.minorVersion = 2;
      }
    });

    it('rejects bad JSON with an error, and keeps working', () => {
      assert.throws(() => echo.policy.evaluate(bytes('{"a": ')), (e) => e === 'opa_eval: input is not valid JSON (or is nested more than 1000 levels deep)');
      assert.throws(() => echo.policy.setData(bytes('{bad}')), (e) => e === 'failed to parse json value');
      assert.deepEqual(echo.policy.evaluate(bytes(' {"ok": 1} ')), [{ result: { ok: 1 } }]);
    });

    it('survives 20,000 aborted evaluations (the shadow stack is reset per evaluation: stack.s)', () => {
      const bad = bytes('{"a": ');
      for (let i = 0; i < 20_000; i++) assert.throws(() => echo.policy.evaluate(bad));
      const p = echo.policy as unknown as { minorVersion: number };
      p.minorVersion = 1; // the ctx path: aborts inside eval, reset by opa_eval_ctx_new
      try {
        for (let i = 0; i < 2_000; i++) assert.throws(() => echo.policy.evaluate({}, 7), (e) => e === 'internal: illegal entrypoint id');
      } finally {
        p.minorVersion = 2;
      }
      assert.deepEqual(echo.policy.evaluate({ a: 'true' }), [{ result: { a: 'true' } }]);
    });

    it('keeps the heap flat over 100,000 evaluations', () => {
      const input = { user: 'ü😀', roles: ['a', 'b', 'c'], n: 12345678901, f: 0.25, deep: { a: [1, { b: 2 }] } };
      echo.policy.evaluate(input);
      const heap = echo.ex.opa_heap_ptr_get();
      const pages = echo.mem.buffer.byteLength;
      for (let i = 0; i < 100_000; i++) echo.policy.evaluate(input);
      assert.equal(echo.ex.opa_heap_ptr_get(), heap);
      assert.equal(echo.mem.buffer.byteLength, pages);
      assert.deepEqual(echo.policy.evaluate(input), [{ result: input }]);
    });

    it('grows memory for big inputs', () => {
      const big = { items: Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `item ${i}` })) };
      assert.deepEqual(echo.policy.evaluate(big), [{ result: big }]);
    });
  });

  describe('exact JSON text (exports called directly)', () => {
    it('keeps integer precision beyond doubles and number literals as written', () => {
      assert.equal(
        evalRaw(echo, '[12345678901234567890123, -9223372036854775808, 9223372036854775807, 9223372036854775808, -0, 1.50, 1E+2]'),
        '[{"result":[12345678901234567890123,-9223372036854775808,9223372036854775807,9223372036854775808,-0,1.50,1E+2]}]',
      );
    });

    it('sorts object keys, last duplicate wins, and escapes control characters', () => {
      assert.equal(roundTrip(echo, '{"b":1,"a":[1,2],"a":3}'), '{"a":3,"b":1}');
      assert.equal(roundTrip(echo, '"\\u0000\\u001f\\b\\f\\n\\r\\t\\"\\\\\\/\\u00e9\\ud83d\\ude00"'), '"\\u0000\\u001f\\u0008\\u000c\\n\\r\\t\\"\\\\/é😀"');
      assert.equal(roundTrip(echo, '"\\ud800x"'), '"\uFFFDx"'); // a lone surrogate, as Go's encoding/json
    });

    it('returns 0 for bad JSON', () => {
      for (const bad of ['', ' ', '{', '[1,]', '{"a":1,}', '01', '1.', '.5', '+1', 'nul', 'truex', '"a', "'a'", '{1:2}', '{"a"}', '"\u0001"', '"\\x"', '[1] 2', 'set()', '{1,2}', '\u00ff']) {
        assert.equal(roundTrip(echo, bad), null, JSON.stringify(bad));
      }
      assert.equal(roundTrip(echo, '['.repeat(2000) + ']'.repeat(2000)), null); // nesting limit, not a stack overflow
    });

    it('parses Rego value syntax: sets and non-string keys; JSON dumps stringify them', () => {
      const src = '{1: 2, [1]: {3, 2, 1, 2}, "x": set(), null: {"b", "a"}}';
      assert.equal(roundTrip(echo, src, true), '{null:{"a","b"},1:2,"x":set(),[1]:{1,2,3}}');
      const [addr, len] = put(echo, src);
      assert.equal(cstr(echo, echo.ex.opa_json_dump(echo.ex.opa_value_parse(addr, len))), '{"null":["a","b"],"1":2,"x":[],"[1]":[1,2,3]}');
    });

    it('orders values as Rego does: null < boolean < number < string < array < object < set', () => {
      assert.equal(
        roundTrip(echo, '{set(), {}, [], "", 1, true, null, false, {1}, {"a": 1}, [0], "a", 1.0, 0.5, 1e1, -2, 100000000000000000000}', true),
        '{null,false,true,-2,0.5,1,1e1,100000000000000000000,"","a",[],[0],{},{"a":1},set(),{1}}',
      );
    });

    it('dumps in Rego syntax with opa_eval format 1', () => {
      echo.policy.setData({ s: [2, 1] });
      assert.equal(evalRaw(echo, '', 2, 1), '{{"result":{"s":{1,2}}}}');
      echo.policy.setData({});
    });
  });
});

describe("the runtime's value tags on the host side", () => {
  it('runtime/values.ts says what abi.h says', async () => {
    const V = await import('../../engine/policy/runtime/values.js');
    const abi = readFileSync(new URL('../../../engine/policy/runtime/abi.h', import.meta.url), 'utf8');
    const tags = Object.fromEntries([...abi.matchAll(/^\s*(V_[A-Z]+) = (\d+),/gm)].map((m) => [m[1]!, Number(m[2])]));
    assert.deepEqual(tags, { ...V });
  });
});
