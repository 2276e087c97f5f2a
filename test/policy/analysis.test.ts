// What a policy reads of its input (engine/policy/analysis.ts): the paths
// below `input` its rules refer to, whole-input reads, volatile builtins.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../../engine/policy/compiler.js';
import { minimalPaths, reads } from '../../engine/policy/analysis.js';

const use = (text: string) => compile([{ file: 'p.rego', text: `package busted\nimport rego.v1\n${text}` }], { entrypoints: ['busted/decision'] }).inputs;

describe('inputUse', () => {
  it('collects refs up to their first variable part, in heads, bodies, functions and comprehensions', () => {
    const u = use(`
decision := "block" if { input.type == "connect"; some a in input.dns.answers; a.value == "1.2.3.4" }
decision := "audit" if f(input.process.uid)
f(x) if x > input.limits[input.kind].max
names := {n | some q in input.dns.questions; n := q.name}
`);
    assert.equal(u.all, false);
    assert.deepEqual(u.paths, [['dns', 'answers'], ['dns', 'questions'], ['kind'], ['limits'], ['process', 'uid'], ['type']]);
    assert.equal(u.volatile, false);
  });

  it('a whole-input read, imports of input, and time make it say so', () => {
    assert.equal(use('decision := "block" if count(input) > 3').all, true);
    assert.equal(use('decision := "block" if { k := "type"; input[k] == "x" }').all, true);
    assert.deepEqual(compile([{ file: 'p.rego', text: 'package busted\nimport rego.v1\nimport input.process as p\ndecision := "block" if p.comm == "curl"' }], { entrypoints: ['busted/decision'] }).inputs.paths, [['process', 'comm']]);
    assert.equal(use('decision := "block" if time.now_ns() > 0').volatile, true);
    // a certificate chain valid now is not valid once it expires: the verification reads the clock
    assert.equal(use('decision := "block" if { [ok, _] := crypto.x509.parse_and_verify_certificates(input.pem); not ok }').volatile, true);
    assert.equal(use('decision := "block" if { [ok, _] := crypto.x509.parse_and_verify_certificates_with_options(input.pem, {}); not ok }').volatile, true);
    assert.equal(use('decision := "block" if count(crypto.x509.parse_certificates(input.pem)) > 1').volatile, false);
  });

  it('minimalPaths keeps the shortest of nested paths; reads() answers for a path or a prefix', () => {
    assert.deepEqual(minimalPaths([['a', 'b'], ['a'], ['c', 'd'], ['c', 'de']]), [['a'], ['c', 'd'], ['c', 'de']]);
    const u = { all: false, paths: [['llm', 'model'], ['process']], volatile: false };
    assert.equal(reads(u, ['llm']), true);
    assert.equal(reads(u, ['llm', 'model', 'x']), true);
    assert.equal(reads(u, ['llm', 'user_message']), false);
    assert.equal(reads(u, ['process', 'uid']), true);
    assert.equal(reads(u, ['tls']), false);
  });
});
