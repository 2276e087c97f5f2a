/**
 * Which LLM provider a DNS name or an address belongs to.
 *
 * Pure classification: no I/O, no DNS. It runs for every DNS answer and every
 * TLS SNI the kernel reports, so a host lookup is one lower-casing, one split
 * and a walk down a reversed-label trie (O(labels)), plus a few label checks
 * for the providers whose names are patterns (Bedrock, Vertex AI regions).
 *
 * Matching rules (why): a provider is recognised by an exact name or by a
 * domain suffix that ends at a label boundary, never by a substring, because
 * anyone can register `evil-openai.com` or serve `openai.com.evil.net`.
 * Shared hosting zones (`amazonaws.com`, `googleapis.com`, `azure.com`) are
 * never suffixes by themselves: only the AI services inside them count.
 */

/** Local ollama listens here (https://github.com/ollama/ollama/blob/main/docs/faq.md); the flow stage matches it by port, not by name. */
export const OLLAMA_PORT = 11434;

/**
 * Name suffixes: the name itself and every name below it at a label boundary.
 *
 * Decisions worth knowing:
 * - chatgpt.com is `openai`: it is OpenAI's own zone and carries ChatGPT web
 *   traffic and the Codex CLI's "Sign in with ChatGPT" backend
 *   (chatgpt.com/backend-api/codex), which is as much AI traffic as
 *   api.openai.com. All of openai.com counts too (platform, cdn, auth): the
 *   agent watches AI traffic, not only inference calls.
 * - claude.ai and claude.com are Anthropic's (claude.ai app, platform.claude.com
 *   console and docs, where Claude Code signs in).
 * - Google is listed by exact API host only (see EXACT_HOSTS), because
 *   google.com and googleapis.com carry everything else Google does.
 */
const SUFFIXES: Readonly<Record<string, string>> = {
  // OpenAI
  'openai.com': 'openai',
  'chatgpt.com': 'openai',
  // Anthropic
  'anthropic.com': 'anthropic',
  'claude.ai': 'anthropic',
  'claude.com': 'anthropic',
  // Azure OpenAI / Azure AI Foundry: per-resource names under these zones
  // (https://learn.microsoft.com/azure/ai-services/openai/reference, "endpoint":
  // https://{resource}.openai.azure.com; Foundry: {resource}.services.ai.azure.com;
  // multi-service keys: {resource}.cognitiveservices.azure.com; serverless
  // models: {endpoint}.{region}.models.ai.azure.com). Sovereign clouds use
  // azure.us (Government) and azure.cn (21Vianet).
  'openai.azure.com': 'azure_openai',
  'cognitiveservices.azure.com': 'azure_openai',
  'services.ai.azure.com': 'azure_openai',
  'models.ai.azure.com': 'azure_openai',
  'openai.azure.us': 'azure_openai',
  'cognitiveservices.azure.us': 'azure_openai',
  'openai.azure.cn': 'azure_openai',
  'cognitiveservices.azure.cn': 'azure_openai',
  // Cohere moved api.cohere.ai to api.cohere.com; both are served.
  'cohere.ai': 'cohere',
  'cohere.com': 'cohere',
  // Hugging Face: hub (model downloads), router/inference providers, and
  // dedicated Inference Endpoints ({name}.{region}.{cloud}.endpoints.huggingface.cloud).
  'huggingface.co': 'huggingface',
  'hf.co': 'huggingface',
  'huggingface.cloud': 'huggingface',
  'mistral.ai': 'mistral',
  'groq.com': 'groq',
  'together.xyz': 'together',
  'together.ai': 'together',
  'deepseek.com': 'deepseek',
  'perplexity.ai': 'perplexity',
  'x.ai': 'xai',
  'grok.com': 'xai',
  'openrouter.ai': 'openrouter',
  'fireworks.ai': 'fireworks',
  // ollama.com hosts the model library and cloud models; registry.ollama.ai is
  // where `ollama pull` fetches from.
  'ollama.com': 'ollama',
  'ollama.ai': 'ollama',
  'replicate.com': 'replicate',
  'ai21.com': 'ai21',
  'voyageai.com': 'voyage',
  'cerebras.ai': 'cerebras',
  'sambanova.ai': 'sambanova',
  // Moonshot (Kimi): api.moonshot.cn (China) and api.moonshot.ai (global).
  'moonshot.cn': 'moonshot',
  'moonshot.ai': 'moonshot',
  // Zhipu (GLM): open.bigmodel.cn (China) and api.z.ai (global).
  'bigmodel.cn': 'zhipu',
  'z.ai': 'zhipu',
  // MiniMax: api.minimax.chat / api.minimaxi.com (China), api.minimax.io (global).
  'minimax.chat': 'minimax',
  'minimaxi.com': 'minimax',
  'minimax.io': 'minimax',
  'deepinfra.com': 'deepinfra',
  'novita.ai': 'novita',
  'hyperbolic.xyz': 'hyperbolic',
  'jina.ai': 'jina',
  'reka.ai': 'reka',
  'baseten.co': 'baseten',
  'stepfun.com': 'stepfun',
  'baichuan-ai.com': 'baichuan',
  'siliconflow.cn': 'siliconflow',
  'siliconflow.com': 'siliconflow',
  // GitHub Copilot's chat/completions API (api.githubcopilot.com,
  // api.individual/business/enterprise.githubcopilot.com).
  'githubcopilot.com': 'github',
  // Cursor's backend (api2.cursor.sh and friends).
  'cursor.sh': 'cursor',
};

/**
 * Exact names: only that name, nothing below it. Used where the zone belongs
 * to someone bigger than the AI service (googleapis.com, nvidia.com, ...).
 */
const EXACT_HOSTS: Readonly<Record<string, string>> = {
  // Gemini API (https://ai.google.dev/api) and Vertex AI's global endpoint
  // (https://cloud.google.com/vertex-ai/docs/reference/rest). Regional Vertex
  // endpoints are {region}-aiplatform.googleapis.com: see googleProvider().
  'generativelanguage.googleapis.com': 'google',
  'aiplatform.googleapis.com': 'google',
  // Gemini CLI / Gemini Code Assist talk to the Cloud Code private API.
  'cloudcode-pa.googleapis.com': 'google',
  'gemini.google.com': 'google',
  'aistudio.google.com': 'google',
  // NVIDIA API catalog (build.nvidia.com): OpenAI-compatible at integrate.api.nvidia.com,
  // some models at ai.api.nvidia.com.
  'integrate.api.nvidia.com': 'nvidia',
  'ai.api.nvidia.com': 'nvidia',
  // Alibaba Model Studio (Qwen) OpenAI-compatible mode: dashscope.aliyuncs.com
  // (China), dashscope-intl.aliyuncs.com (Singapore), dashscope-us.aliyuncs.com.
  'dashscope.aliyuncs.com': 'qwen',
  'dashscope-intl.aliyuncs.com': 'qwen',
  'dashscope-us.aliyuncs.com': 'qwen',
  // Baidu Qianfan / ERNIE: qianfan.baidubce.com (v2), aip.baidubce.com (v1 wenxinworkshop).
  'qianfan.baidubce.com': 'baidu',
  'aip.baidubce.com': 'baidu',
  // Tencent Hunyuan: API 3.0 host and the OpenAI-compatible host.
  'hunyuan.tencentcloudapi.com': 'tencent',
  'api.hunyuan.cloud.tencent.com': 'tencent',
  'api.writer.com': 'writer',
  'api.lambda.ai': 'lambda',
  'api.lambdalabs.com': 'lambda',
  'api.llama.com': 'meta',
  // GitHub Models (models.github.ai; older models.inference.ai.azure.com) and
  // the Copilot completions proxy.
  'models.github.ai': 'github',
  'models.inference.ai.azure.com': 'github',
  'copilot-proxy.githubusercontent.com': 'github',
  // Cloudflare AI Gateway and Vercel AI Gateway front other providers; the
  // gateway is what the flow can see.
  'gateway.ai.cloudflare.com': 'cloudflare',
  'ai-gateway.vercel.sh': 'vercel',
};

/** Slugs that only pattern rules produce (not in the tables above). */
const PATTERN_SLUGS = ['bedrock', 'google', 'anthropic', 'volcengine'] as const;

/** Every built-in provider slug, sorted. */
export const PROVIDERS: readonly string[] = Object.freeze(
  [...new Set([...Object.values(SUFFIXES), ...Object.values(EXACT_HOSTS), ...PATTERN_SLUGS])].sort(),
);

// ---------------------------------------------------------------------------
// Host names

interface TrieNode {
  children: Map<string, TrieNode> | undefined;
  /** provider for this name and every name below it */
  suffix: string | undefined;
  /** provider for exactly this name */
  exact: string | undefined;
}

function newNode(): TrieNode {
  return { children: undefined, suffix: undefined, exact: undefined };
}

/** Longest DNS name (RFC 1035 section 2.3.4: 255 octets on the wire, 253 as text). */
const MAX_NAME = 253;

/**
 * Lower-case, drop one trailing dot (absolute form) and an optional `:port`
 * (http.host carries one when it is not the default). Returns undefined for
 * what cannot be a host name.
 */
function normalizeHost(host: string): string | undefined {
  let h = host;
  const colon = h.indexOf(':');
  if (colon !== -1) {
    // Only "name:port"; an IPv6 literal (several colons) is not a name.
    if (h.indexOf(':', colon + 1) !== -1) return undefined;
    if (!/^\d{1,5}$/.test(h.slice(colon + 1))) return undefined;
    h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.length === 0 || h.length > MAX_NAME) return undefined;
  return h.toLowerCase();
}

function insert(root: TrieNode, name: string, provider: string, kind: 'suffix' | 'exact'): void {
  const n = normalizeHost(name.startsWith('*.') ? name.slice(2) : name);
  if (n === undefined || provider.length === 0) {
    throw new Error(`provider table: invalid ${kind} entry ${JSON.stringify(name)} -> ${JSON.stringify(provider)}`);
  }
  const labels = n.split('.');
  let node = root;
  for (let i = labels.length - 1; i >= 0; i--) {
    const label = labels[i]!;
    if (label.length === 0) throw new Error(`provider table: empty label in ${JSON.stringify(name)}`);
    if (node.children === undefined) node.children = new Map();
    let next = node.children.get(label);
    if (next === undefined) {
      next = newNode();
      node.children.set(label, next);
    }
    node = next;
  }
  if (kind === 'suffix') node.suffix = provider;
  else node.exact = provider;
}

/**
 * Walk the reversed labels down the trie; the deepest suffix seen wins, and an
 * exact entry wins over a suffix when the whole name is consumed.
 */
function trieLookup(root: TrieNode, labels: readonly string[]): string | undefined {
  let node: TrieNode = root;
  let best: string | undefined;
  for (let i = labels.length - 1; i >= 0; i--) {
    const next: TrieNode | undefined = node.children?.get(labels[i]!);
    if (next === undefined) return best;
    node = next;
    if (i === 0 && node.exact !== undefined) return node.exact;
    if (node.suffix !== undefined) best = node.suffix;
  }
  return best;
}

// --- Pattern providers: checked label by label, never by regex on the name.

/**
 * Bedrock service prefixes
 * (https://docs.aws.amazon.com/general/latest/gr/bedrock.html): control plane,
 * runtime, agents, data automation, each with a `-fips` twin in US regions.
 */
const BEDROCK_SERVICES: ReadonlySet<string> = new Set(
  [
    'bedrock',
    'bedrock-runtime',
    'bedrock-agent',
    'bedrock-agent-runtime',
    'bedrock-data-automation',
    'bedrock-data-automation-runtime',
  ].flatMap((s) => [s, `${s}-fips`]),
);

/**
 * An AWS region label: us-east-1, eu-central-2, us-gov-west-1, cn-north-1,
 * us-iso-east-1, ap-southeast-7... This regex sees one label only; it is
 * what keeps S3 bucket hosts out: a bucket named "bedrock-runtime" is served
 * as bedrock-runtime.s3.amazonaws.com or bedrock-runtime.s3-us-west-2.amazonaws.com,
 * whose second label is not a region
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html).
 */
const AWS_REGION = /^(?:us|eu|ap|sa|ca|me|af|il|mx|cn)-(?:gov-|iso[a-z]?-)?[a-z]+-\d{1,2}$/;

/**
 * bedrock-runtime.us-east-1.amazonaws.com, bedrock.cn-north-1.amazonaws.com.cn,
 * bedrock-runtime-fips.us-gov-west-1.amazonaws.com,
 * vpce-0abc-xyz.bedrock-runtime.us-east-1.vpce.amazonaws.com (PrivateLink),
 * bedrock-mantle.us-east-1.api.aws (the OpenAI-compatible endpoint,
 * https://docs.aws.amazon.com/bedrock/latest/userguide/endpoints.html).
 */
function awsProvider(labels: readonly string[]): string | undefined {
  const n = labels.length;
  // {service}.{region}.api.aws
  if (n === 4 && labels[3] === 'aws' && labels[2] === 'api' && AWS_REGION.test(labels[1]!)) {
    if (labels[0] === 'bedrock-mantle' || BEDROCK_SERVICES.has(labels[0]!)) return 'bedrock';
    // Claude Platform on AWS, run by Anthropic
    // (https://platform.claude.com/docs/en/api/ip-addresses, the note at the top).
    if (labels[0] === 'aws-external-anthropic') return 'anthropic';
    return undefined;
  }
  // Index of "amazonaws" in ...amazonaws.com or ...amazonaws.com.cn (China).
  let base: number;
  if (n >= 3 && labels[n - 1] === 'com' && labels[n - 2] === 'amazonaws') base = n - 2;
  else if (n >= 4 && labels[n - 1] === 'cn' && labels[n - 2] === 'com' && labels[n - 3] === 'amazonaws') base = n - 3;
  else return undefined;
  if (base === 2) {
    // {service}.{region}.amazonaws.com
    return BEDROCK_SERVICES.has(labels[0]!) && AWS_REGION.test(labels[1]!) ? 'bedrock' : undefined;
  }
  if (base === 4 && labels[3] === 'vpce' && labels[0]!.startsWith('vpce-')) {
    // {endpoint-id}.{service}.{region}.vpce.amazonaws.com
    return BEDROCK_SERVICES.has(labels[1]!) && AWS_REGION.test(labels[2]!) ? 'bedrock' : undefined;
  }
  return undefined;
}

/**
 * Vertex AI regional endpoints: {region}-aiplatform.googleapis.com
 * (https://cloud.google.com/vertex-ai/docs/general/locations). googleapis.com
 * is Google's own zone, so the prefix needs no stricter check than "a
 * location-like label"; all other googleapis.com names stay unclassified.
 */
function googleProvider(labels: readonly string[]): string | undefined {
  if (labels.length !== 3 || labels[2] !== 'com' || labels[1] !== 'googleapis') return undefined;
  const first = labels[0]!;
  const suffix = '-aiplatform';
  if (first.length <= suffix.length || !first.endsWith(suffix)) return undefined;
  for (let i = 0; i < first.length - suffix.length; i++) {
    const c = first.charCodeAt(i);
    // a-z, 0-9, '-'
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45)) return undefined;
  }
  return 'google';
}

/**
 * Volcengine Ark (ByteDance Doubao): ark.{region}.volces.com, e.g.
 * ark.cn-beijing.volces.com (https://www.volcengine.com/docs/82379).
 */
function volcengineProvider(labels: readonly string[]): string | undefined {
  return labels.length === 4 && labels[0] === 'ark' && labels[2] === 'volces' && labels[3] === 'com'
    ? 'volcengine'
    : undefined;
}

// ---------------------------------------------------------------------------
// Addresses

/**
 * Published address ranges. Deliberately few: most providers sit behind
 * shared CDNs (Cloudflare, Azure Front Door, Google Front End, CloudFront),
 * whose addresses say nothing about who is behind them, and they publish no
 * API ranges. OpenAI publishes only the egress ranges of ChatGPT actions,
 * connectors and Codex (https://developers.openai.com/api/docs/guides/ip-addresses),
 * which are Azure addresses calling *out*, so they are not listed here. Names
 * (DNS answers, SNI) are how the other providers are recognised.
 *
 * Anthropic (https://platform.claude.com/docs/en/api/ip-addresses):
 * inbound (api.anthropic.com) 160.79.104.0/23 and 2607:6bc0::/48; outbound
 * (MCP connector, web fetch: seen on accepted connections) 160.79.104.0/21,
 * which contains the /23. Ranges seen only in a translated copy of that
 * page (153.61.224.0/22, 153.61.208.0/20) are left out until the English
 * page lists them: a wrong range would label unrelated traffic. Users add
 * their own through ProviderTable's `ranges`.
 */
const RANGES: ReadonlyArray<readonly [cidr: string, provider: string]> = [
  ['160.79.104.0/21', 'anthropic'],
  ['2607:6bc0::/48', 'anthropic'],
];

interface Cidr {
  /** 4 or 6 */
  family: 4 | 6;
  /** the network as 16-bit groups (IPv4: 2 groups) */
  groups: Uint16Array;
  bits: number;
  provider: string;
}

/** Scratch buffer for parsing; the module is synchronous, so one suffices. */
const SCRATCH = new Uint16Array(8);

/** Dotted-quad into out[at], out[at+1]; strict: four decimal parts, no leading zeros. */
function parseV4Into(s: string, out: Uint16Array, at: number): boolean {
  let part = 0;
  let digits = 0;
  let count = 0;
  let hi = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46; // virtual trailing '.'
    if (c === 46) {
      if (digits === 0 || count === 4) return false;
      if (count % 2 === 0) hi = part;
      else out[at + (count >> 1)] = (hi << 8) | part;
      count++;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return false; // leading zero: octal in some parsers, so refuse
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) return false;
    } else {
      return false;
    }
  }
  return count === 4;
}

/**
 * RFC 4291 section 2.2 text forms: groups of up to four hex digits, one "::",
 * and an optional dotted-quad tail. A zone ("%eth0") is dropped.
 */
function parseV6Into(input: string, out: Uint16Array): boolean {
  let s = input;
  const pct = s.indexOf('%');
  if (pct !== -1) s = s.slice(0, pct);
  if (s.length < 2) return false;
  let gap = -1; // group index where "::" stands
  let g = 0;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
  }
  while (i < s.length) {
    if (g === 8) return false;
    // Dotted-quad tail takes the last two groups.
    const rest = s.indexOf(':', i);
    const dot = s.indexOf('.', i);
    if (dot !== -1 && (rest === -1 || dot < rest)) {
      if (g > 6 || !parseV4Into(s.slice(i), out, g)) return false;
      g += 2;
      i = s.length;
      break;
    }
    let v = 0;
    let digits = 0;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      else break;
      v = (v << 4) | d;
      if (++digits > 4) return false;
      i++;
    }
    if (digits === 0) return false;
    out[g++] = v;
    if (i === s.length) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < s.length && s.charCodeAt(i) === 58) {
      if (gap !== -1) return false;
      gap = g;
      i++;
    } else if (i === s.length) {
      return false; // trailing single ':'
    }
  }
  if (gap === -1) return g === 8;
  if (g === 8) return false; // "::" must stand for at least one group
  // Move the groups after the gap to the end and zero the hole.
  const tail = g - gap;
  for (let k = 0; k < tail; k++) out[7 - k] = out[g - 1 - k]!;
  for (let k = gap; k < 8 - tail; k++) out[k] = 0;
  return true;
}

/**
 * Parse into SCRATCH. Returns 4 (groups 0..1), 6 (groups 0..7) or 0.
 * IPv4-mapped IPv6 (::ffff:a.b.c.d, RFC 4291 section 2.5.5.2) is reported as
 * IPv4, because dual-stack sockets show IPv4 peers that way.
 */
function parseAddress(ip: string): 0 | 4 | 6 {
  if (ip.indexOf(':') === -1) return parseV4Into(ip, SCRATCH, 0) ? 4 : 0;
  if (!parseV6Into(ip, SCRATCH)) return 0;
  if (
    SCRATCH[0] === 0 && SCRATCH[1] === 0 && SCRATCH[2] === 0 &&
    SCRATCH[3] === 0 && SCRATCH[4] === 0 && SCRATCH[5] === 0xffff
  ) {
    SCRATCH[0] = SCRATCH[6]!;
    SCRATCH[1] = SCRATCH[7]!;
    return 4;
  }
  return 6;
}

function parseCidr(cidr: string, provider: string): Cidr {
  const slash = cidr.indexOf('/');
  const addr = slash === -1 ? cidr : cidr.slice(0, slash);
  const family = addr.indexOf(':') === -1 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  const bitsText = slash === -1 ? String(max) : cidr.slice(slash + 1);
  const bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
  const ok = family === 4 ? parseV4Into(addr, SCRATCH, 0) : parseV6Into(addr, SCRATCH);
  if (!ok || !(bits >= 0 && bits <= max) || provider.length === 0) {
    throw new Error(`provider table: invalid range ${JSON.stringify(cidr)} -> ${JSON.stringify(provider)}`);
  }
  const groups = SCRATCH.slice(0, family === 4 ? 2 : 8);
  // Clear host bits so "10.1.2.3/8" means 10.0.0.0/8.
  for (let k = 0; k < groups.length; k++) {
    const keep = Math.max(0, Math.min(16, bits - k * 16));
    groups[k] = keep === 0 ? 0 : groups[k]! & ((0xffff << (16 - keep)) & 0xffff);
  }
  return { family, groups, bits, provider };
}

/** Does the address in SCRATCH fall in this range? */
function inRange(r: Cidr): boolean {
  let bits = r.bits;
  for (let k = 0; bits > 0; k++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if ((SCRATCH[k]! & mask) !== r.groups[k]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------

export interface ProviderTableExtra {
  /** "gateway.corp.example": "openai" — that name and everything below it ("*." prefix allowed) */
  suffixes?: Record<string, string>;
  /** exactly that name */
  exact?: Record<string, string>;
  /** "10.20.0.0/16": "internal_llm" — addition to the brief, for gateways with fixed addresses */
  ranges?: Record<string, string>;
}

/**
 * The built-in table plus the user's own entries (internal gateways, proxies).
 * A user entry overrides a built-in one for the same name, and, as for
 * built-ins, the most specific name wins. Invalid entries throw when the
 * table is built, so a bad config is reported at load, not ignored per event.
 */
/** A name the kernel can match on its own (engine/enforce): the name itself, or it and every name below it. */
export interface NameEntry {
  name: string;
  provider: string;
  match: 'exact' | 'suffix';
}

/**
 * Regions where the pattern providers serve, so that their names can be
 * listed for the kernel, which matches names and suffixes, not patterns.
 * A region missing here is still recognised by the engine (forHost), and
 * the enforcer installs a name it recognised on the way.
 */
const AWS_REGIONS = [
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'ca-central-1', 'ca-west-1', 'mx-central-1', 'sa-east-1',
  'eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-central-1', 'eu-central-2', 'eu-north-1', 'eu-south-1', 'eu-south-2',
  'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3',
  'ap-southeast-4', 'ap-southeast-5', 'ap-southeast-7', 'ap-south-1', 'ap-south-2', 'ap-east-1', 'me-south-1',
  'me-central-1', 'il-central-1', 'af-south-1', 'us-gov-west-1', 'us-gov-east-1', 'cn-north-1', 'cn-northwest-1',
];
const GCP_REGIONS = [
  'us-central1', 'us-east1', 'us-east4', 'us-east5', 'us-south1', 'us-west1', 'us-west2', 'us-west3', 'us-west4',
  'northamerica-northeast1', 'northamerica-northeast2', 'southamerica-east1', 'southamerica-west1', 'europe-west1',
  'europe-west2', 'europe-west3', 'europe-west4', 'europe-west6', 'europe-west8', 'europe-west9', 'europe-west10',
  'europe-west12', 'europe-north1', 'europe-central2', 'europe-southwest1', 'asia-east1', 'asia-east2',
  'asia-northeast1', 'asia-northeast2', 'asia-northeast3', 'asia-south1', 'asia-south2', 'asia-southeast1',
  'asia-southeast2', 'australia-southeast1', 'australia-southeast2', 'me-central1', 'me-central2', 'me-west1',
  'africa-south1',
];
const VOLCENGINE_REGIONS = ['cn-beijing', 'cn-shanghai', 'cn-guangzhou', 'ap-southeast-1'];

function patternNames(): NameEntry[] {
  const out: NameEntry[] = [];
  const exact = (name: string, provider: string) => out.push({ name, provider, match: 'exact' });
  for (const r of AWS_REGIONS) {
    const com = r.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
    for (const svc of BEDROCK_SERVICES) {
      exact(`${svc}.${r}.${com}`, 'bedrock');
      exact(`${svc}.${r}.api.aws`, 'bedrock');
    }
    exact(`bedrock-mantle.${r}.api.aws`, 'bedrock');
    exact(`aws-external-anthropic.${r}.api.aws`, 'anthropic');
  }
  for (const r of GCP_REGIONS) exact(`${r}-aiplatform.googleapis.com`, 'google');
  for (const r of VOLCENGINE_REGIONS) exact(`ark.${r}.volces.com`, 'volcengine');
  return out;
}

/** forHost() answers kept (names, each at most 253 characters: under 1 MB). */
const HOST_MEMO_MAX = 4096;

export class ProviderTable {
  private readonly root: TrieNode = newNode();
  private readonly ranges: Cidr[];
  private readonly listed: NameEntry[] = [];

  constructor(extra?: ProviderTableExtra) {
    for (const [name, p] of Object.entries(SUFFIXES)) insert(this.root, name, p, 'suffix');
    for (const [name, p] of Object.entries(EXACT_HOSTS)) insert(this.root, name, p, 'exact');
    for (const [name, p] of Object.entries(extra?.suffixes ?? {})) insert(this.root, name, p, 'suffix');
    for (const [name, p] of Object.entries(extra?.exact ?? {})) insert(this.root, name, p, 'exact');
    for (const [table, match] of [[SUFFIXES, 'suffix'], [extra?.suffixes ?? {}, 'suffix'], [EXACT_HOSTS, 'exact'], [extra?.exact ?? {}, 'exact']] as const) {
      for (const [name, provider] of Object.entries(table)) this.listed.push({ name: normalizeHost(name.startsWith('*.') ? name.slice(2) : name)!, provider, match });
    }
    this.listed.push(...patternNames());
    // User ranges first: they win over built-ins.
    const user = Object.entries(extra?.ranges ?? {}).map(([c, p]) => parseCidr(c, p));
    const builtin = RANGES.map(([c, p]) => parseCidr(c, p));
    // Longer prefixes first, so the most specific range wins within each group.
    const bySpecificity = (a: Cidr, b: Cidr): number => b.bits - a.bits;
    this.ranges = [...user.sort(bySpecificity), ...builtin.sort(bySpecificity)];
  }

  /**
   * Answers of forHost() by the text asked (null: no provider), for the
   * names a host asks for over and over (a resolver loop, a client per
   * request); the table does not change once built. Started afresh when full.
   */
  private readonly hostMemo = new Map<string, string | null>();

  /** Provider slug for a DNS name / SNI / Host header, or undefined. */
  forHost(host: string): string | undefined {
    const memo = this.hostMemo.get(host);
    if (memo !== undefined) return memo ?? undefined;
    const p = this.lookupHost(host);
    if (this.hostMemo.size >= HOST_MEMO_MAX) this.hostMemo.clear();
    if (typeof host === 'string') this.hostMemo.set(host, p ?? null);
    return p;
  }

  private lookupHost(host: string): string | undefined {
    const h = normalizeHost(host);
    if (h === undefined) return undefined;
    const labels = h.split('.');
    for (let i = 0; i < labels.length; i++) if (labels[i]!.length === 0) return undefined;
    return trieLookup(this.root, labels) ?? awsProvider(labels) ?? googleProvider(labels) ?? volcengineProvider(labels);
  }

  /** Every name and suffix of the table, pattern providers listed over their known regions (for the kernel). */
  names(): readonly NameEntry[] {
    return this.listed;
  }

  /** The published ranges, most specific first: [family, network bytes, prefix bits, provider]. */
  rangeList(): Array<{ family: 4 | 6; bytes: Uint8Array; bits: number; provider: string }> {
    return this.ranges.map((r) => {
      const bytes = new Uint8Array(r.family === 4 ? 4 : 16);
      r.groups.forEach((g, k) => {
        bytes[2 * k] = g >> 8;
        bytes[2 * k + 1] = g & 255;
      });
      return { family: r.family, bytes, bits: r.bits, provider: r.provider };
    });
  }

  /** Provider slug for an IPv4/IPv6 address in a published range, or undefined. */
  forAddress(ip: string): string | undefined {
    const family = parseAddress(ip);
    if (family === 0) return undefined;
    for (const r of this.ranges) if (r.family === family && inRange(r)) return r.provider;
    return undefined;
  }
}

const DEFAULT_TABLE = new ProviderTable();

/** Built-in provider for a DNS name (case-insensitive, trailing dot and :port allowed). */
export function providerForHost(host: string): string | undefined {
  return DEFAULT_TABLE.forHost(host);
}

/**
 * An address as the kernel keeps it (network order): 4 bytes for IPv4
 * (IPv4-mapped IPv6 included), 16 for IPv6; undefined for what is not one.
 */
export function addressBytes(ip: string): { family: 4 | 6; bytes: Uint8Array } | undefined {
  const family = parseAddress(ip);
  if (family === 0) return undefined;
  const n = family === 4 ? 2 : 8;
  const bytes = new Uint8Array(2 * n);
  for (let k = 0; k < n; k++) {
    bytes[2 * k] = SCRATCH[k]! >> 8;
    bytes[2 * k + 1] = SCRATCH[k]! & 255;
  }
  return { family, bytes };
}

/** Built-in provider for an address in a range the provider publishes. */
export function providerForAddress(ip: string): string | undefined {
  return DEFAULT_TABLE.forAddress(ip);
}
