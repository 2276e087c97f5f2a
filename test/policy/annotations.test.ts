// METADATA annotations and rego.metadata.rule()/chain() (compile/annotations.ts).
// Expected values are OPA's: the policy reference's "Annotations" and
// "rego.metadata" sections, and what v1/ast/annotations.go's toObject and
// Chain produce (scope always present; absent fields omitted; the chain
// runs from the rule out to the enclosing packages).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { compile } from '../../engine/policy/compiler.js';
import { formatText } from '../../engine/policy/tester/report.js';
import { testPolicy } from '../../engine/policy/tester/run.js';
import { buildRuntime, findTools } from '../../engine/policy/runtime/build.js';
import { load, result } from './helpers.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;

const compileError = (modules: string[]): string => {
  try {
    compile(
      modules.map((text, i) => ({ file: `p${i}.rego`, text })),
      { entrypoints: ['a/b/p'] },
    );
  } catch (e) {
    return (e as Error).message;
  }
  return assert.fail('expected a compile error');
};

describe('rego → wasm: annotations', { skip }, () => {
  before(() => {
    if (!skip) buildRuntime();
  });

  it('rego.metadata.rule(): the rule\'s own annotation, every field OPA keeps', async () => {
    const p = await load(
      `# METADATA
# title: Secrets in prompts
package a.b

# METADATA
# title: No AWS keys
# description: A prompt must not carry an AWS access key.
# authors:
# - Jane Doe <jane@example.com>
# - name: Platform team
# organizations: [acme]
# related_resources:
# - https://example.com/runbook
# - ref: https://example.com/policy
#   description: the policy
# custom:
#   severity: high
#   tags: [secrets, aws]
# unknown_field: dropped
p := rego.metadata.rule()

q := rego.metadata.rule() # no annotation of its own

reasons contains sprintf("%s (%s)", [m.title, m.custom.severity]) if {
	input.key
	m := rego.metadata.rule()
}
`.replace('reasons contains', '# METADATA\n# title: Key found\n# custom:\n#   severity: critical\nreasons contains'),
      ['a/b/p', 'a/b/q', 'a/b/reasons'],
    );
    assert.deepEqual(result(p, 'a/b/p'), {
      scope: 'rule',
      title: 'No AWS keys',
      description: 'A prompt must not carry an AWS access key.',
      authors: [{ name: 'Jane Doe', email: 'jane@example.com' }, { name: 'Platform team' }],
      organizations: ['acme'],
      related_resources: [{ ref: 'https://example.com/runbook' }, { ref: 'https://example.com/policy', description: 'the policy' }],
      custom: { severity: 'high', tags: ['secrets', 'aws'] },
    });
    assert.deepEqual(result(p, 'a/b/q'), {});
    assert.deepEqual(result(p, 'a/b/reasons', { key: true }), ['Key found (critical)']);
  });

  it('rego.metadata.chain(): rule, document, package, then enclosing subpackages', async () => {
    const p = await load(
      [
        `# METADATA
# scope: subpackages
# title: everything under a
package a

x := 1
`,
        `# METADATA
# title: package b
package a.b

# METADATA
# scope: document
# title: the p document
p := 0 if false

# METADATA
# title: this p
p := rego.metadata.chain()

r := rego.metadata.chain()
`,
      ],
      ['a/b/p', 'a/b/r'],
    );
    assert.deepEqual(result(p, 'a/b/p'), [
      { path: ['a', 'b', 'p'], annotations: { scope: 'rule', title: 'this p' } },
      { path: ['a', 'b', 'p'], annotations: { scope: 'document', title: 'the p document' } },
      { path: ['a', 'b'], annotations: { scope: 'package', title: 'package b' } },
      { path: ['a'], annotations: { scope: 'subpackages', title: 'everything under a' } },
    ]);
    // a rule without annotations still heads its chain
    assert.deepEqual(result(p, 'a/b/r'), [
      { path: ['a', 'b', 'r'] },
      { path: ['a', 'b'], annotations: { scope: 'package', title: 'package b' } },
      { path: ['a'], annotations: { scope: 'subpackages', title: 'everything under a' } },
    ]);
  });

  it('malformed annotations are compile errors at their place', () => {
    assert.match(compileError(['package a.b\n\n# METADATA\n# title: [unclosed\np := 1\n']), /p0\.rego:4:\d+: rego_parse_error: yaml:/);
    assert.match(compileError(['package a.b\n\n# METADATA\n# scope: everywhere\np := 1\n']), /p0\.rego:3:1: rego_parse_error: invalid annotation scope 'everywhere'/);
    assert.match(compileError(['# METADATA\n# scope: rule\npackage a.b\n\np := 1\n']), /rego_parse_error: annotation scope 'rule' must be applied to rule/);
    assert.match(compileError(['package a.b\n\n# METADATA\n# scope: rule\n# entrypoint: true\np := 1\n']), /annotation entrypoint applied to non-document or package scope 'rule'/);
    assert.match(compileError(['package a.b\n\n# METADATA\n\np := 1\n']), /expected METADATA block, found whitespace/);
    assert.match(
      compileError(['# METADATA\n# title: one\npackage a.b\n\np := 1\n', '# METADATA\n# title: two\npackage a.b\n']),
      /rego_compile_error: package annotation redeclared/,
    );
  });

  it('a policy without METADATA blocks compiles as before', () => {
    const a = compile([{ file: 'p.rego', text: 'package a.b\n\n# just a comment: METADATA follows\np := 1\n' }], { entrypoints: ['a/b/p'] });
    assert.ok(a.wasm.length > 0);
  });
});

describe('busted test-policy shows a failed test\'s operands as Rego', { skip }, () => {
  it('a set as a set, big integers whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'busted-operands-'));
    try {
      writeFileSync(join(dir, 'p.rego'), 'package t\n\nfound := {"a", "b"}\n\nbig := 9007199254740993\n\ntest_found if {\n\tfound == {"a"}\n}\n\ntest_big if {\n\tbig == 1\n}\n');
      const text = formatText(await testPolicy({ policies: dir, explain: true }));
      assert.match(text, /^ {4}found = \{"a","b"\}$/m);
      assert.match(text, /^ {4}\{"a"\} = \{"a"\}$/m);
      assert.match(text, /^ {4}big = 9007199254740993$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
