// The policy engine end to end: the shipped policies (policies/) decide the
// contract's events; the same policies as a bundle.tar.gz, unpacked, and in
// the layout `opa build -t wasm` writes (leading slashes, PAX path records,
// data.json files nested by directory, a manifest revision) decide alike;
// and every broken source is an error that names what is wrong.
//
// Expected verdicts are what the shipped policies' comments promise
// (policies/busted/*.rego, data in policies/data.json).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';

import { BustedError } from '../../engine/model/errors.js';
import { MAX_UNPACKED, tar, untar } from '../../engine/policy/bundle.js';
import { compile } from '../../engine/policy/compiler.js';
import { PolicyEngine } from '../../engine/policy/engine.js';
import { buildPolicy } from '../../engine/policy/source.js';

const POLICIES = join(process.cwd(), 'policies');
const tmp = mkdtempSync(join(tmpdir(), 'busted-engine-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Events of the contract's shape and the verdict the shipped policies give. */
const CASES: Array<[string, object, string, RegExp?]> = [
  ['connect to an unapproved provider', { type: 'connect', provider: 'mistral', net: { dst_ip: '127.0.0.9', dst_port: 443 } }, 'block', /provider mistral is not approved/],
  ['connect to an approved provider', { type: 'connect', provider: 'openai' }, 'allow'],
  ['a look-alike SNI', { type: 'tls_client_hello', tls: { sni: 'evil-openai.com', version: 'TLS 1.3' } }, 'block', /evil-openai\.com looks like openai/],
  ['the real SNI', { type: 'tls_client_hello', provider: 'openai', tls: { sni: 'api.openai.com' } }, 'allow'],
  ['a look-alike DNS question', { type: 'dns_query', dns: { questions: [{ name: 'openai.com.evil.net.', type: 'A' }] } }, 'block', /looks like openai/],
  ['an AWS key in a prompt', { type: 'llm_request', provider: 'openai', llm: { model: 'gpt-4o', user_message: 'key AKIAABCDEFGHIJKLMNOP ok' } }, 'block', /prompt to openai contains an AWS access key/],
  ['a private key in a system prompt', { type: 'llm_request', provider: 'anthropic', llm: { system_prompt: '-----BEGIN RSA PRIVATE KEY-----', user_message: 'hi' } }, 'block', /a private key/],
  ['a clean prompt', { type: 'llm_request', provider: 'anthropic', llm: { model: 'claude', user_message: 'hello' } }, 'allow'],
  ['a blocked MCP tool', { type: 'mcp_message', mcp: { kind: 'request', method: 'tools/call', tool: 'shell' } }, 'block', /MCP tool shell is blocked/],
  ['an allowed MCP tool', { type: 'mcp_message', mcp: { kind: 'request', method: 'tools/call', tool: 'search' } }, 'allow'],
  ['old TLS and a weak cipher', { type: 'tls_server_hello', net: { dst_ip: '127.0.0.1' }, tls: { version: 'TLS 1.1', cipher: 'TLS_RSA_WITH_3DES_EDE_CBC_SHA' } }, 'audit', /TLS 1\.1 negotiated with 127\.0\.0\.1/],
  ['the classifier over its threshold, to an unknown destination', { type: 'llm_request', tls: { sni: 'gw.corp.test' }, llm: { model: 'x' }, ml: { llm_score: 0.95, label: 'llm' } }, 'audit', /unknown destination gw\.corp\.test \(classifier: llm, score 0\.95\)/],
  ['the classifier over its threshold, to an approved provider (providers.rego decides)', { type: 'llm_request', provider: 'openai', llm: { model: 'x' }, ml: { llm_score: 0.95, label: 'llm' } }, 'allow'],
  ['an event no rule is about', { type: 'close', net: { bytes_sent: 1 } }, 'allow'],
];

async function checkShipped(engine: PolicyEngine): Promise<void> {
  for (const [what, ev, action, reason] of CASES) {
    const v = engine.decide(ev);
    assert.equal(v.action, action, what);
    if (reason) assert.ok(v.reasons.some((r) => reason.test(r)), `${what}: ${JSON.stringify(v.reasons)}`);
    else assert.deepEqual(v.reasons, [], what);
  }
}

/** Writes a bundle's files under dir (an unpacked bundle). */
function unpack(files: Array<{ name: string; data: Buffer }>, dir: string): void {
  for (const f of files) {
    const p = join(dir, f.name.replace(/^\/+/, ''));
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.data);
  }
}

describe('policy engine: the shipped policies', () => {
  it('decide the contract events as their comments say; the revision is a hash of the sources', async () => {
    const engine = await PolicyEngine.load(POLICIES);
    assert.equal(engine.build.kind, 'rego');
    assert.match(engine.revision, /^sha256:[0-9a-f]{16}$/);
    assert.ok(engine.build.files.includes('data.json'));
    await checkShipped(engine);
    // the same sources, the same revision; a changed data.json, another
    assert.equal(buildPolicy(POLICIES).revision, engine.revision);
    const copy = join(tmp, 'changed');
    unpack(
      [
        ...['decision', 'providers', 'content', 'compliance', 'ml'].map((n) => ({ name: `busted/${n}.rego`, data: readFileSync(join(POLICIES, 'busted', `${n}.rego`)) })),
        { name: 'data.json', data: Buffer.from(readFileSync(join(POLICIES, 'data.json'), 'utf8').replace('"ollama"', '"ollama", "mistral"')) },
      ],
      copy,
    );
    const changed = await PolicyEngine.load(copy);
    assert.notEqual(changed.revision, engine.revision);
    assert.equal(changed.decide({ type: 'connect', provider: 'mistral' }).action, 'allow');
  });
});

describe('policy engine: a module and the input paths handed with it', () => {
  const policy = (order: string[]) => [
    'package busted',
    'import rego.v1',
    'default decision := "allow"',
    ...order.map((p, i) => `decision := "block" if input.${p} == "x${i}"`),
  ].join('\n');
  const build = (order: string[]) => {
    const { wasm, inputs } = compile([{ file: 'p.rego', text: policy(order) }], { entrypoints: ['busted/decision'] });
    return { kind: 'rego' as const, wasm, data: {}, revision: 'r', files: ['p.rego'], inputs };
  };

  it('come from one compile: a module handed another compile\'s path table is refused, not run on values at the wrong ids', async () => {
    const a = build(['process.comm', 'tls.sni']);
    const b = build(['tls.sni', 'process.comm']); // the same paths, numbered the other way round
    assert.notDeepEqual(a.inputs.tabled, b.inputs.tabled);
    const ok = await PolicyEngine.fromBuild(a);
    assert.equal(ok.decide({ type: 'connect', process: { comm: 'x0' } }).action, 'block');
    assert.equal(ok.decide({ type: 'connect', tls: { sni: 'x0' } }).action, 'allow');
    await assert.rejects(PolicyEngine.fromBuild({ ...a, inputs: b.inputs }), (e: unknown) => e instanceof BustedError && /path table .* is not the one its input paths describe/.test(e.message));
    // a module without the section (not ours, or cut) with paths: refused too
    const cut = a.wasm.slice(0, a.wasm.length - 4 - 1 - 1 - 'busted.path-table'.length - 1);
    await assert.rejects(PolicyEngine.fromBuild({ ...a, wasm: cut }), /path table \(none\)/);
  });
});

describe('policy engine: data beside the policies (data.json, data.yaml)', () => {
  const rego = 'package busted\n\nimport rego.v1\n\ndecision := "block" if input.provider in data.busted.blocked\n\ndecision := "audit" if input.team == data.teams.audit\n';
  const dirWith = (name: string, files: Record<string, string>) => {
    const d = join(tmp, name);
    unpack([{ name: 'p.rego', data: Buffer.from(rego) }, ...Object.entries(files).map(([n, t]) => ({ name: n, data: Buffer.from(t) }))], d);
    return d;
  };

  it('reads data.yaml as the contract says, alone or merged with data.json; its edits change the revision', async () => {
    const yaml = '# the providers this host refuses\nbusted:\n  blocked:\n    - mistral\n    - groq\nteams: {audit: research}\n';
    const y = await PolicyEngine.load(dirWith('yaml', { 'data.yaml': yaml }));
    assert.deepEqual(y.build.files, ['p.rego', 'data.yaml']);
    assert.equal(y.decide({ provider: 'groq' }).action, 'block');
    assert.equal(y.decide({ team: 'research' }).action, 'audit');
    assert.equal(y.decide({ provider: 'openai' }).action, 'allow');
    // the same data as data.json: the same decisions
    const j = await PolicyEngine.load(dirWith('json', { 'data.json': '{"busted": {"blocked": ["mistral", "groq"]}, "teams": {"audit": "research"}}' }));
    assert.equal(j.decide({ provider: 'mistral' }).action, 'block');
    // both, and data.yml: merged key by key (an equal value in two files is no conflict)
    const both = await PolicyEngine.load(dirWith('both', { 'data.json': '{"busted": {"blocked": ["mistral"]}}', 'data.yml': 'teams:\n  audit: research\nbusted: {other: 1}\n' }));
    assert.deepEqual(both.build.files, ['p.rego', 'data.json', 'data.yml']);
    assert.equal(both.decide({ provider: 'mistral' }).action, 'block');
    assert.equal(both.decide({ team: 'research' }).action, 'audit');
    assert.notEqual((await PolicyEngine.load(dirWith('yaml2', { 'data.yaml': yaml.replace('groq', 'cohere') }))).revision, y.revision);
    // "__proto__" is a key merged like any other, not the merged object's prototype: in both files, and in the second only
    const proto = await PolicyEngine.load(dirWith('proto', { 'data.json': '{"__proto__": {"a": 1}}', 'data.yaml': '__proto__: {b: 2}\n' }));
    assert.equal(JSON.stringify(proto.build.data), '{"__proto__":{"a":1,"b":2}}');
    const proto2 = await PolicyEngine.load(dirWith('proto2', { 'data.json': '{"a": 1}', 'data.yaml': '__proto__: {b: 2}\n' }));
    assert.equal(JSON.stringify(proto2.build.data), '{"a":1,"__proto__":{"b":2}}');
    // an empty data.yaml is no data
    assert.equal((await PolicyEngine.load(dirWith('empty', { 'data.yaml': '# nothing yet\n' }))).decide({ provider: 'groq' }).action, 'allow');
  });

  it('a data.yaml that does not parse, is not a mapping, holds what JSON cannot, or conflicts with data.json is an error naming it', async () => {
    const err = async (files: Record<string, string>, re: RegExp) => {
      await assert.rejects(PolicyEngine.load(dirWith(`bad-${Object.values(files).join('').length}-${Math.random().toString(36).slice(2, 6)}`, files)), (e: Error) => (assert.ok(e instanceof BustedError, String(e)), assert.match(e.message, re), true));
    };
    await err({ 'data.yaml': 'busted:\n  blocked: [mistral\n' }, /data\.yaml:\d+:\d+: /);
    await err({ 'data.yaml': 'a: 1\na: 2\n' }, /data\.yaml:2:1: .*[Uu]nique|data\.yaml:2:1: /);
    await err({ 'data.yaml': '- mistral\n' }, /data\.yaml: must hold a YAML mapping/);
    await err({ 'data.yaml': 'limit: .inf\n' }, /data\.yaml: limit is Infinity, which JSON cannot hold/);
    await err({ 'data.json': '{"busted": {"blocked": ["mistral"]}}', 'data.yaml': 'busted:\n  blocked: [groq]\n' }, /data\.json and .*data\.yaml both set data\.busted\.blocked, differently/);
    // aliases that multiply (a "billion laughs" document) are refused, not expanded
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n');
    await err({ 'data.yaml': `${laughs}\n` }, /data\.yaml: .*[Aa]lias/);
  });

  it('a bundle\'s data.yaml files are data at their directory, as opa build reads them', async () => {
    const wasm = compile([{ file: 'p.rego', text: rego }], { entrypoints: ['busted/decision'] }).wasm;
    const bundle = join(tmp, 'yaml-bundle.tar.gz');
    writeFileSync(
      bundle,
      gzipSync(tar([{ name: '/policy.wasm', data: Buffer.from(wasm) }, { name: '/busted/data.yaml', data: Buffer.from('blocked: [mistral]\n') }, { name: '/teams/data.yml', data: Buffer.from('audit: research\n') }])),
    );
    const b = await PolicyEngine.load(bundle);
    assert.equal(b.decide({ provider: 'mistral' }).action, 'block');
    assert.equal(b.decide({ team: 'research' }).action, 'audit');
    const broken = join(tmp, 'yaml-bundle-broken.tar.gz');
    writeFileSync(broken, gzipSync(tar([{ name: '/policy.wasm', data: Buffer.from(wasm) }, { name: '/busted/data.yaml', data: Buffer.from('blocked: [mistral\n') }])));
    await assert.rejects(PolicyEngine.load(broken), /yaml-bundle-broken\.tar\.gz\/busted\/data\.yaml:\d+:\d+: /);
  });
});

describe('policy engine: OPA bundles', () => {
  const wasm = compile(
    ['decision', 'providers', 'content', 'compliance', 'ml'].map((n) => ({ file: `busted/${n}.rego`, text: readFileSync(join(POLICIES, 'busted', `${n}.rego`), 'utf8') })),
    { entrypoints: ['busted/decision', 'busted/reasons'] },
  ).wasm;
  const data = JSON.parse(readFileSync(join(POLICIES, 'data.json'), 'utf8')) as { busted: object };
  const manifest = (rev: string, eps = ['busted/decision', 'busted/reasons']) =>
    Buffer.from(JSON.stringify({ revision: rev, roots: [''], wasm: eps.map((e) => ({ entrypoint: e, module: '/policy.wasm' })) }));

  it('`busted compile -o X.tar.gz` output, packed and unpacked, decides as the Rego does', async () => {
    const files = [
      { name: '/data.json', data: Buffer.from(JSON.stringify(data)) },
      { name: '/policy.wasm', data: Buffer.from(wasm) },
      { name: '/.manifest', data: manifest('') },
    ];
    const archive = join(tmp, 'bundle.tar.gz');
    writeFileSync(archive, gzipSync(tar(files)));
    const packed = await PolicyEngine.load(archive);
    assert.equal(packed.build.kind, 'bundle');
    assert.match(packed.revision, /^sha256:/);
    await checkShipped(packed);
    const dir = join(tmp, 'unpacked');
    unpack(files, dir);
    await checkShipped(await PolicyEngine.load(dir));
  });

  it("opa build's layout: PAX path records, data.json nested by directory, the manifest's revision", async () => {
    const long = 'busted/' + 'x'.repeat(120) + '/data.json';
    const pax = (path: string) => {
      const rec = ` path=${path}\n`;
      let n = rec.length + 2;
      if (String(n).length + rec.length !== n) n = String(n + 1).length + rec.length;
      return { name: 'PaxHeader', data: Buffer.from(`${n}${rec}`), type: 'x' };
    };
    const files = [
      { name: '/.manifest', data: manifest('v42') },
      { name: '/busted/data.json', data: Buffer.from(JSON.stringify(data.busted)) },
      pax(`/${long}`),
      { name: 'ignored-by-pax', data: Buffer.from('{"deep": true}') },
      { name: '/policy.wasm', data: Buffer.from(wasm) },
      { name: '/busted/decision.rego', data: Buffer.from('package busted\n') },
    ];
    const archive = join(tmp, 'opa.tar.gz');
    writeFileSync(archive, gzipSync(tar(files)));
    assert.deepEqual(
      untar(gunzipSync(readFileSync(archive)), archive).map((f) => f.name),
      ['.manifest', 'busted/data.json', long, 'policy.wasm', 'busted/decision.rego'],
    );
    const engine = await PolicyEngine.load(archive);
    assert.equal(engine.revision, 'v42');
    assert.deepEqual((engine.build.data.busted as Record<string, Record<string, unknown>>)['x'.repeat(120)], { deep: true });
    await checkShipped(engine);
  });

  it('broken bundles and sources are errors that say what and where', async () => {
    const write = (name: string, bytes: Buffer) => {
      const p = join(tmp, name);
      writeFileSync(p, bytes);
      return p;
    };
    const err = async (src: string, re: RegExp) => {
      await assert.rejects(PolicyEngine.load(src), (e: Error) => (assert.ok(e instanceof BustedError, String(e)), assert.match(e.message, re), true));
    };
    await err(write('nowasm.tar.gz', gzipSync(tar([{ name: '/data.json', data: Buffer.from('{}') }]))), /nowasm\.tar\.gz: no \/policy\.wasm in the bundle/);
    await err(write('garbage.tar.gz', Buffer.from([0x1f, 0x8b, 1, 2, 3])), /garbage\.tar\.gz: not a gzip file/);
    // 300 KB of gzip that unpacks to 300 MB: refused at the bound, not unpacked into the agent's memory
    const gz = createGzip({ level: 9 });
    const parts: Buffer[] = [];
    gz.on('data', (d: Buffer) => parts.push(d));
    const ended = new Promise((r) => gz.on('end', r));
    const zeros = Buffer.alloc(1 << 20);
    for (let i = 0; i < (MAX_UNPACKED >> 20) + 44; i++) gz.write(zeros);
    gz.end();
    await ended;
    await err(write('bomb.tar.gz', Buffer.concat(parts)), /bomb\.tar\.gz: unpacks to more than 256 MiB/);
    const bad = tar([{ name: '/policy.wasm', data: Buffer.from(wasm) }]);
    bad[148] = 0x37; // checksum digit
    await err(write('badsum.tar', bad), /badsum\.tar: tar header checksum mismatch at byte 0/);
    await err(
      write('baddata.tar.gz', gzipSync(tar([{ name: '/policy.wasm', data: Buffer.from(wasm) }, { name: '/roles/data.json', data: Buffer.from('{"a":') }]))),
      /baddata\.tar\.gz\/roles\/data\.json: .*JSON/,
    );
    await err(
      write('twice.tar.gz', gzipSync(tar([{ name: '/policy.wasm', data: Buffer.from(wasm) }, { name: '/data.json', data: Buffer.from('{"busted": {}}') }, { name: '/busted/data.json', data: Buffer.from('{}') }]))),
      /data\.busted is defined twice/,
    );
    const other = compile([{ file: 'p.rego', text: 'package other\nallow := true\n' }], { entrypoints: ['other/allow'] }).wasm;
    await err(write('noentry.tar.gz', gzipSync(tar([{ name: '/policy.wasm', data: Buffer.from(other) }]))), /no entrypoint busted\/decision \(it has: other\/allow\)/);
    await err(join(tmp, 'nope'), /--policies .*nope: no such file or directory/);
    const badData = join(tmp, 'bad-data');
    unpack([{ name: 'p.rego', data: Buffer.from('package busted\ndecision := "allow"\n') }, { name: 'data.json', data: Buffer.from('[1]') }], badData);
    await err(badData, /bad-data\/data\.json: must hold a JSON object/);
    // Rego that does not compile: OPA's error codes at file:row:col
    const badRego = join(tmp, 'bad-rego');
    unpack([{ name: 'busted/p.rego', data: Buffer.from('package busted\n\ndecision := "block" if {\n  x > 1\n}\n') }], badRego);
    await assert.rejects(PolicyEngine.load(badRego), /busted\/p\.rego:4:3: rego_unsafe_var_error: var x is unsafe/);
  });

  it('policy files reached through symbolic links are read, as a Kubernetes ConfigMap volume lays them out; a link to nothing is an error naming it', async () => {
    // a ConfigMap volume: every file links through ..data to a hidden, timestamped directory
    const cm = join(tmp, 'configmap');
    mkdirSync(join(cm, '..2025_01_01_00_00_00.1'), { recursive: true });
    writeFileSync(join(cm, '..2025_01_01_00_00_00.1', 'decision.rego'), 'package busted\n\ndecision := "block" if input.x\n');
    writeFileSync(join(cm, '..2025_01_01_00_00_00.1', 'data.json'), '{"busted": {"why": "configmap"}}');
    symlinkSync('..2025_01_01_00_00_00.1', join(cm, '..data'));
    symlinkSync('..data/decision.rego', join(cm, 'decision.rego'));
    symlinkSync('..data/data.json', join(cm, 'data.json'));
    const fromCm = await PolicyEngine.load(cm);
    assert.deepEqual(fromCm.build.files, ['decision.rego', 'data.json']);
    assert.equal(fromCm.decide({ x: true }).action, 'block');
    // one linked file among real ones: it was left out without a word, and its block rule never ran
    const mixed = join(tmp, 'mixed');
    mkdirSync(join(mixed, 'shared'), { recursive: true });
    writeFileSync(join(mixed, 'main.rego'), 'package busted\n\ndefault decision := "allow"\n');
    writeFileSync(join(tmp, 'shared-block.rego'), 'package busted\n\ndecision := "block" if input.x\n');
    symlinkSync(join(tmp, 'shared-block.rego'), join(mixed, 'shared', 'block.rego'));
    symlinkSync('..', join(mixed, 'shared', 'up')); // a loop: walked once
    const fromMixed = await PolicyEngine.load(mixed);
    assert.deepEqual(fromMixed.build.files, ['main.rego', 'shared/block.rego']);
    assert.equal(fromMixed.decide({ x: true }).action, 'block');
    // a bundle directory mounted the same way
    const bcm = join(tmp, 'bundle-configmap');
    mkdirSync(join(bcm, '..2025_01_01'), { recursive: true });
    writeFileSync(join(bcm, '..2025_01_01', 'policy.wasm'), wasm);
    symlinkSync('..2025_01_01', join(bcm, '..data'));
    symlinkSync('..data/policy.wasm', join(bcm, 'policy.wasm'));
    assert.equal((await PolicyEngine.load(bcm)).decide({ type: 'connect', provider: 'mistral' }).action, 'block');
    // a .rego link to nothing is a file that cannot be read: an error, not a file left out
    symlinkSync(join(tmp, 'gone.rego'), join(mixed, 'gone.rego'));
    await assert.rejects(PolicyEngine.load(mixed), (e: Error) => e instanceof BustedError && /mixed\/gone\.rego: a symbolic link to nothing \(ENOENT\)/.test(e.message));
  });

  it('a bundle\'s "__proto__" and "constructor" are data like any other names, not a way into Object.prototype', async () => {
    const archive = join(tmp, 'proto.tar.gz');
    writeFileSync(
      archive,
      gzipSync(
        tar([
          { name: '/policy.wasm', data: Buffer.from(wasm) },
          { name: '/data.json', data: Buffer.from('{"constructor": 2, "toString": 3}') },
          { name: '/__proto__/polluted/data.json', data: Buffer.from('{"x": 1}') },
          { name: '/busted/__proto__/data.json', data: Buffer.from('{"y": 2}') },
        ]),
      ),
    );
    const engine = await PolicyEngine.load(archive);
    const data = engine.build.data as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was written');
    assert.deepEqual(Object.keys(data).sort(), ['__proto__', 'busted', 'constructor', 'toString']);
    assert.deepEqual(Object.getOwnPropertyDescriptor(data, '__proto__')?.value, { polluted: { x: 1 } });
    assert.equal(data.constructor, 2);
    assert.deepEqual(Object.getOwnPropertyDescriptor(data.busted, '__proto__')?.value, { y: 2 });
    assert.equal(Object.getPrototypeOf(data.busted), Object.prototype);
  });

  it('a decision that is not one of the four words is an error, not an allow; "deny" is "block"; undefined is "allow"', async () => {
    const dir = join(tmp, 'words');
    unpack([{ name: 'p.rego', data: Buffer.from('package busted\n\ndecision := input.say if input.say\n\nreasons contains "r" if input.say\n') }], dir);
    const engine = await PolicyEngine.load(dir);
    assert.deepEqual(engine.decide({ say: 'deny' }), { action: 'block', reasons: ['r'] });
    assert.deepEqual(engine.decide({}), { action: 'allow', reasons: [] });
    assert.throws(() => engine.decide({ say: 'maybe' }), /busted\/decision is "maybe": expected "allow", "audit", "block" or "deny"/);
    assert.throws(() => engine.decide({ say: 1 }), /busted\/decision is 1/);
  });
});

describe('policy engine: what a policy may read (mayRead)', () => {
  const EXE = `package busted

import rego.v1

default decision := "allow"

decision := "block" if {
	input.type == "connect"
	not input.process.exe_sha256 in data.busted.ok
}
`;
  const asBundle = (text: string, data: Record<string, unknown>) => {
    const wasm = compile([{ file: 'p.rego', text }], { entrypoints: ['busted/decision'] }).wasm;
    return PolicyEngine.fromBuild({ kind: 'bundle', wasm, data, revision: 'r', files: [] });
  };

  it('Rego it compiled says exactly; a bundle may read a member it names, in its module or its data', async () => {
    const rego = await PolicyEngine.load(POLICIES);
    assert.equal(rego.mayRead(['process', 'comm']), true);
    assert.equal(rego.mayRead(['process', 'exe_sha256']), false);
    const reads = await asBundle(EXE, { busted: { ok: [] } });
    assert.equal(reads.inputs, undefined, 'a bundle: its reads are not known');
    assert.equal(reads.mayRead(['process', 'exe_sha256']), true);
    const plain = await asBundle(EXE.replace('input.process.exe_sha256', 'input.process.exe'), { busted: { ok: [] } });
    assert.equal(plain.mayRead(['process', 'exe_sha256']), false, 'named nowhere: not read');
    // a key read through data (input.process[k] for k in data) is in the data
    const byData = await asBundle(EXE.replace('input.process.exe_sha256', 'input.process[data.busted.key]'), { busted: { ok: [], key: 'exe_sha256' } });
    assert.equal(byData.mayRead(['process', 'exe_sha256']), true);
  });
});
