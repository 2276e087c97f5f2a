import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  OLLAMA_PORT,
  PROVIDERS,
  ProviderTable,
  providerForAddress,
  providerForHost,
} from '../../engine/enrich/provider.js';

/** [host, expected provider or undefined, why] */
const HOSTS: ReadonlyArray<readonly [string, string | undefined, string]> = [
  // OpenAI
  ['api.openai.com', 'openai', 'the API'],
  ['openai.com', 'openai', 'zone apex'],
  ['cdn.openai.com', 'openai', 'any openai.com name'],
  ['chatgpt.com', 'openai', 'ChatGPT / Codex sign-in backend'],
  ['ab.chatgpt.com', 'openai', 'below chatgpt.com'],
  ['API.OpenAI.COM', 'openai', 'case-insensitive'],
  ['api.openai.com.', 'openai', 'absolute name with trailing dot'],
  ['api.openai.com:443', 'openai', 'Host header with port'],
  // look-alikes: never substring matches
  ['evil-openai.com', undefined, 'not at a label boundary'],
  ['openai.com.evil.net', undefined, 'provider name as a prefix'],
  ['api.openai.com.attacker.org', undefined, 'provider name as a prefix'],
  ['notopenai.com', undefined, 'suffix without a dot'],
  ['openai.co', undefined, 'different TLD'],
  ['openai', undefined, 'single label'],
  ['api..openai.com', undefined, 'empty label'],
  ['api.openai.com..', undefined, 'two trailing dots'],
  ['', undefined, 'empty'],
  ['.', undefined, 'root'],
  ['api.openai.com:https', undefined, 'port not numeric'],
  ['2607:6bc0::1', undefined, 'an IPv6 literal is not a name'],
  ['160.79.104.10', undefined, 'an IPv4 literal is not a name'],
  // Anthropic
  ['api.anthropic.com', 'anthropic', 'the API'],
  ['statsig.anthropic.com', 'anthropic', 'below anthropic.com'],
  ['claude.ai', 'anthropic', 'claude.ai apex'],
  ['platform.claude.com', 'anthropic', 'console'],
  ['aws-external-anthropic.us-east-1.api.aws', 'anthropic', 'Claude Platform on AWS'],
  ['anthropic.com.evil.net', undefined, 'prefix'],
  ['myclaude.ai', undefined, 'not at a label boundary'],
  // Google
  ['generativelanguage.googleapis.com', 'google', 'Gemini API'],
  ['aiplatform.googleapis.com', 'google', 'Vertex AI global'],
  ['us-central1-aiplatform.googleapis.com', 'google', 'Vertex AI regional'],
  ['europe-west4-aiplatform.googleapis.com', 'google', 'Vertex AI regional'],
  ['cloudcode-pa.googleapis.com', 'google', 'Gemini CLI'],
  ['storage.googleapis.com', undefined, 'not all of googleapis.com'],
  ['googleapis.com', undefined, 'googleapis.com itself'],
  ['www.google.com', undefined, 'not all of google.com'],
  ['x.generativelanguage.googleapis.com', undefined, 'exact entry does not cover subdomains'],
  ['-aiplatform.googleapis.com', undefined, 'empty region'],
  ['us-central1-aiplatform.googleapis.com.evil.net', undefined, 'prefix'],
  ['a.us-central1-aiplatform.googleapis.com', undefined, 'pattern is exactly three labels'],
  // Azure OpenAI
  ['myres.openai.azure.com', 'azure_openai', 'Azure OpenAI resource'],
  ['myres.cognitiveservices.azure.com', 'azure_openai', 'multi-service resource'],
  ['myproj.services.ai.azure.com', 'azure_openai', 'AI Foundry'],
  ['myres.openai.azure.us', 'azure_openai', 'Azure Government'],
  ['myapp.azurewebsites.net', undefined, 'other Azure'],
  ['management.azure.com', undefined, 'not all of azure.com'],
  ['openai.azure.com.evil.net', undefined, 'prefix'],
  // Bedrock
  ['bedrock-runtime.us-east-1.amazonaws.com', 'bedrock', 'runtime'],
  ['bedrock.eu-central-1.amazonaws.com', 'bedrock', 'control plane'],
  ['bedrock-agent-runtime.ap-southeast-2.amazonaws.com', 'bedrock', 'agents runtime'],
  ['bedrock-runtime-fips.us-gov-west-1.amazonaws.com', 'bedrock', 'FIPS, GovCloud'],
  ['bedrock-runtime.cn-north-1.amazonaws.com.cn', 'bedrock', 'China partition'],
  ['Bedrock-Runtime.US-EAST-1.amazonaws.com.', 'bedrock', 'case and trailing dot'],
  ['vpce-0abc123-xyz.bedrock-runtime.us-west-2.vpce.amazonaws.com', 'bedrock', 'PrivateLink'],
  ['bedrock-mantle.us-east-1.api.aws', 'bedrock', 'OpenAI-compatible endpoint'],
  ['s3.us-east-1.amazonaws.com', undefined, 'other AWS service'],
  ['ec2-1-2-3-4.compute-1.amazonaws.com', undefined, 'bare amazonaws.com'],
  ['amazonaws.com', undefined, 'amazonaws.com itself'],
  ['bedrock-runtime.s3.amazonaws.com', undefined, 'S3 bucket named bedrock-runtime'],
  ['bedrock-runtime.s3-us-west-2.amazonaws.com', undefined, 'S3 bucket, legacy regional host'],
  ['bedrock-runtime.us-east-1.s3.amazonaws.com', undefined, 'dotted S3 bucket name'],
  ['bedrock-runtime.us-east-1.amazonaws.com.evil.net', undefined, 'prefix'],
  ['bedrock-runtimex.us-east-1.amazonaws.com', undefined, 'unknown service'],
  ['x.bedrock-runtime.us-east-1.amazonaws.com', undefined, 'extra label'],
  ['bedrock-runtime.us-east-1.api.aws.evil.net', undefined, 'prefix'],
  ['evil.us-east-1.api.aws', undefined, 'other api.aws service'],
  // the rest of the brief's list
  ['api.cohere.ai', 'cohere', ''],
  ['api.cohere.com', 'cohere', ''],
  ['huggingface.co', 'huggingface', ''],
  ['router.huggingface.co', 'huggingface', ''],
  ['x1y2.us-east-1.aws.endpoints.huggingface.cloud', 'huggingface', 'Inference Endpoints'],
  ['api.mistral.ai', 'mistral', ''],
  ['codestral.mistral.ai', 'mistral', ''],
  ['api.groq.com', 'groq', ''],
  ['api.together.xyz', 'together', ''],
  ['api.together.ai', 'together', ''],
  ['api.deepseek.com', 'deepseek', ''],
  ['api.perplexity.ai', 'perplexity', ''],
  ['api.x.ai', 'xai', ''],
  ['box.ai', undefined, 'x.ai only at a label boundary'],
  ['openrouter.ai', 'openrouter', ''],
  ['api.fireworks.ai', 'fireworks', ''],
  ['ollama.com', 'ollama', ''],
  ['registry.ollama.ai', 'ollama', 'ollama pull'],
  // others
  ['api.replicate.com', 'replicate', ''],
  ['api.ai21.com', 'ai21', ''],
  ['api.voyageai.com', 'voyage', ''],
  ['api.cerebras.ai', 'cerebras', ''],
  ['api.sambanova.ai', 'sambanova', ''],
  ['integrate.api.nvidia.com', 'nvidia', ''],
  ['www.nvidia.com', undefined, 'not all of nvidia.com'],
  ['api.moonshot.cn', 'moonshot', ''],
  ['api.moonshot.ai', 'moonshot', ''],
  ['open.bigmodel.cn', 'zhipu', ''],
  ['api.z.ai', 'zhipu', ''],
  ['dashscope.aliyuncs.com', 'qwen', ''],
  ['dashscope-intl.aliyuncs.com', 'qwen', ''],
  ['oss-cn-hangzhou.aliyuncs.com', undefined, 'not all of aliyuncs.com'],
  ['qianfan.baidubce.com', 'baidu', ''],
  ['api.minimax.io', 'minimax', ''],
  ['ark.cn-beijing.volces.com', 'volcengine', ''],
  ['ark.cn-beijing.volces.com.evil.net', undefined, 'prefix'],
  ['tos.cn-beijing.volces.com', undefined, 'other volces.com service'],
  ['api.githubcopilot.com', 'github', ''],
  ['models.github.ai', 'github', ''],
  ['github.com', undefined, 'github.com itself is not AI traffic'],
  ['api.deepinfra.com', 'deepinfra', ''],
  ['gateway.ai.cloudflare.com', 'cloudflare', ''],
  ['api.cloudflare.com', undefined, 'not all of cloudflare.com'],
  // plainly not providers
  ['example.com', undefined, ''],
  ['localhost', undefined, ''],
  ['com', undefined, 'TLD'],
];

describe('providerForHost', () => {
  for (const [host, want, why] of HOSTS) {
    it(`${JSON.stringify(host)} -> ${want ?? 'none'}${why ? ` (${why})` : ''}`, () => {
      assert.equal(providerForHost(host), want);
    });
  }
});

/** [address, expected provider or undefined, why] */
const ADDRESSES: ReadonlyArray<readonly [string, string | undefined, string]> = [
  ['160.79.104.0', 'anthropic', 'first of the /23'],
  ['160.79.104.10', 'anthropic', 'api.anthropic.com'],
  ['160.79.105.255', 'anthropic', 'last of the /23'],
  ['160.79.111.255', 'anthropic', 'last of the outbound /21'],
  ['160.79.112.0', undefined, 'just past the /21'],
  ['160.79.103.255', undefined, 'just before'],
  ['153.61.224.1', undefined, 'ranges seen only in a translated page are not listed'],
  ['2607:6bc0::10', 'anthropic', 'IPv6 /48'],
  ['2607:6BC0:0:ffff:ffff:ffff:ffff:ffff', 'anthropic', 'last of the /48, upper case'],
  ['2607:6bc0:0001::1', undefined, 'next /48'],
  ['2607:6bc1::1', undefined, 'next /32'],
  ['::ffff:160.79.104.10', 'anthropic', 'IPv4-mapped IPv6'],
  ['::ffff:a04f:680a', 'anthropic', 'IPv4-mapped IPv6, hex tail'],
  ['fe80::1%eth0', undefined, 'link-local with zone'],
  ['2607:6bc0::10%eth0', 'anthropic', 'zone dropped'],
  ['8.8.8.8', undefined, 'not a provider range'],
  ['::1', undefined, 'loopback'],
  ['::', undefined, 'unspecified'],
  // malformed
  ['160.79.104', undefined, 'three parts'],
  ['160.79.104.10.1', undefined, 'five parts'],
  ['160.79.104.256', undefined, 'part over 255'],
  ['160.079.104.10', undefined, 'leading zero'],
  ['160.79.104.', undefined, 'trailing dot'],
  ['2607:6bc0:::1', undefined, 'triple colon'],
  ['2607:6bc0::1::2', undefined, 'two gaps'],
  ['2607:6bc0:0:0:0:0:0:0:1', undefined, 'nine groups'],
  ['2607:6bc0:0:0:0:0:0', undefined, 'seven groups, no gap'],
  ['2607:6bc0x::1', undefined, 'bad hex'],
  ['26070:6bc0::1', undefined, 'group too long'],
  ['', undefined, 'empty'],
  ['api.anthropic.com', undefined, 'a name is not an address'],
];

describe('providerForAddress', () => {
  for (const [ip, want, why] of ADDRESSES) {
    it(`${JSON.stringify(ip)} -> ${want ?? 'none'} (${why})`, () => {
      assert.equal(providerForAddress(ip), want);
    });
  }
});

describe('ProviderTable', () => {
  it('answers a name asked again (from its memo) as it did the first time, also past the memo\'s size', () => {
    const t = new ProviderTable();
    const names = ['api.openai.com', 'API.OpenAI.com.', 'evil-openai.com', 'bedrock-runtime.us-east-1.amazonaws.com', 's3.amazonaws.com', '', 'a..b'];
    const first = names.map((n) => t.forHost(n));
    assert.deepEqual(first, ['openai', 'openai', undefined, 'bedrock', undefined, undefined, undefined]);
    for (let i = 0; i < 5000; i++) t.forHost(`host${i}.example.test`); // fills the memo and starts it afresh
    for (let round = 0; round < 2; round++) assert.deepEqual(names.map((n) => t.forHost(n)), first);
  });

  it('adds user suffixes and exact names', () => {
    const t = new ProviderTable({
      suffixes: { 'llm.corp.example': 'corp_gateway', '*.litellm.internal': 'litellm' },
      exact: { 'ai.corp.example': 'corp_exact' },
    });
    assert.equal(t.forHost('llm.corp.example'), 'corp_gateway');
    assert.equal(t.forHost('eu.llm.corp.example'), 'corp_gateway');
    assert.equal(t.forHost('proxy.litellm.internal'), 'litellm');
    assert.equal(t.forHost('ai.corp.example'), 'corp_exact');
    assert.equal(t.forHost('x.ai.corp.example'), undefined);
    assert.equal(t.forHost('corp.example'), undefined);
    assert.equal(t.forHost('evil-llm.corp.example'), undefined);
    // built-ins still there
    assert.equal(t.forHost('api.openai.com'), 'openai');
    assert.equal(t.forHost('bedrock-runtime.us-east-1.amazonaws.com'), 'bedrock');
  });

  it('user entries override built-ins for the same name, and the longest match wins', () => {
    const t = new ProviderTable({
      suffixes: { 'openai.com': 'mirror' },
      exact: { 'api.anthropic.com': 'anthropic_proxy' },
    });
    assert.equal(t.forHost('api.openai.com'), 'mirror');
    assert.equal(t.forHost('api.anthropic.com'), 'anthropic_proxy');
    assert.equal(t.forHost('console.anthropic.com'), 'anthropic');
    const u = new ProviderTable({ suffixes: { 'eu.openai.com': 'openai_eu' } });
    assert.equal(u.forHost('api.eu.openai.com'), 'openai_eu');
    assert.equal(u.forHost('api.openai.com'), 'openai');
  });

  it('an exact entry wins over a suffix at the same name only', () => {
    const t = new ProviderTable({ suffixes: { 'gw.example': 'a' }, exact: { 'gw.example': 'b' } });
    assert.equal(t.forHost('gw.example'), 'b');
    assert.equal(t.forHost('x.gw.example'), 'a');
  });

  it('adds user address ranges, most specific first', () => {
    const t = new ProviderTable({ ranges: { '10.20.0.0/16': 'internal', '10.20.30.0/24': 'internal_eu', 'fd00:1::/32': 'v6gw' } });
    assert.equal(t.forAddress('10.20.1.1'), 'internal');
    assert.equal(t.forAddress('10.20.30.1'), 'internal_eu');
    assert.equal(t.forAddress('10.21.0.1'), undefined);
    assert.equal(t.forAddress('fd00:1:ffff::1'), 'v6gw');
    assert.equal(t.forAddress('160.79.104.10'), 'anthropic');
    assert.equal(providerForAddress('10.20.1.1'), undefined, 'default table unchanged');
  });

  it('clears host bits in a range and accepts /0 and /32', () => {
    const t = new ProviderTable({ ranges: { '192.168.7.9/16': 'lan', '1.2.3.4/32': 'one' } });
    assert.equal(t.forAddress('192.168.200.1'), 'lan');
    assert.equal(t.forAddress('1.2.3.4'), 'one');
    assert.equal(t.forAddress('1.2.3.5'), undefined);
    const all = new ProviderTable({ ranges: { '0.0.0.0/0': 'any4' } });
    assert.equal(all.forAddress('203.0.113.1'), 'any4');
    assert.equal(all.forAddress('2001:db8::1'), undefined, 'a v4 range never matches v6');
  });

  it('rejects invalid entries when built', () => {
    assert.throws(() => new ProviderTable({ suffixes: { 'a..b': 'x' } }), /invalid|empty label/);
    assert.throws(() => new ProviderTable({ exact: { '': 'x' } }), /invalid/);
    assert.throws(() => new ProviderTable({ suffixes: { 'ok.example': '' } }), /invalid/);
    assert.throws(() => new ProviderTable({ ranges: { '10.0.0.0/33': 'x' } }), /invalid range/);
    assert.throws(() => new ProviderTable({ ranges: { '10.0.0/8': 'x' } }), /invalid range/);
    assert.throws(() => new ProviderTable({ ranges: { '::/129': 'x' } }), /invalid range/);
  });
});

describe('PROVIDERS and OLLAMA_PORT', () => {
  it('lists every slug of the contract', () => {
    for (const slug of [
      'openai', 'anthropic', 'google', 'azure_openai', 'bedrock', 'cohere', 'huggingface', 'mistral',
      'groq', 'together', 'deepseek', 'perplexity', 'xai', 'openrouter', 'fireworks', 'ollama',
    ]) {
      assert.ok(PROVIDERS.includes(slug), slug);
    }
  });

  it('has every slug a host can produce, lower case and unique', () => {
    for (const [, want] of HOSTS) if (want !== undefined) assert.ok(PROVIDERS.includes(want), want);
    assert.equal(new Set(PROVIDERS).size, PROVIDERS.length);
    for (const s of PROVIDERS) assert.match(s, /^[a-z0-9_]+$/);
    assert.ok(Object.isFrozen(PROVIDERS));
  });

  it('exports the local ollama port', () => {
    assert.equal(OLLAMA_PORT, 11434);
  });
});
