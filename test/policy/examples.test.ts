// docs/policy-examples.md: every Rego example compiles and its unit tests
// pass (busted test-policy, in-process), so the documented policies stay true.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../engine/paths.js';
import { testPolicy } from '../../engine/policy/tester/run.js';

const DOC = join(PACKAGE_ROOT, 'docs', 'policy-examples.md');
const blocks = [...readFileSync(DOC, 'utf8').matchAll(/^## (.+)\n[\s\S]*?^```rego\n([\s\S]*?)^```$/gm)].map((m) => ({ title: m[1]!, text: m[2]! }));
const dir = mkdtempSync(join(tmpdir(), 'busted-examples-'));

describe('docs/policy-examples.md', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has examples', () => assert.ok(blocks.length >= 3, `${blocks.length} examples`));

  blocks.forEach((b, i) => {
    it(`${b.title}: compiles, and its tests pass`, async () => {
      const d = join(dir, String(i));
      mkdirSync(d);
      writeFileSync(join(d, 'example.rego'), b.text);
      const r = await testPolicy({ policies: d });
      const failed = r.tests.filter((t) => t.status !== 'pass');
      assert.deepEqual(failed.map((t) => `${t.name}: ${t.status}`), []);
      assert.ok(r.tests.length >= 3, `${r.tests.length} tests`);
      assert.equal(r.summary.ok, true);
    });
  });
});

describe("OPA builtins busted implements on the host (test/policy/fixtures/opa-builtins)", () => {
  it("json.filter, json.remove, json.patch, units.parse, regex.replace, numbers.range(_step), object.subset, strings.count, array.flatten give OPA's values", async () => {
    const r = await testPolicy({ policies: join(PACKAGE_ROOT, 'test', 'policy', 'fixtures', 'opa-builtins') });
    assert.deepEqual(r.tests.filter((t) => t.status !== 'pass').map((t) => `${t.name}: ${t.status}`), []);
    assert.ok(r.tests.length >= 9, `${r.tests.length} tests`);
  });
});
