// The shipped policies (policies/busted/*.rego with policies/data.json),
// written by hand in JavaScript: the baseline the compiled Rego is
// measured against in bench/rego/run.js. It must decide every event the
// bench uses exactly as the Rego does (run.js checks, over a corpus of
// events that reaches every rule), so it does all the Rego does for an
// event: teams by container, cgroup prefix and uid, their providers,
// look-alike host names, requests fronted through another name, secrets in
// prompts, blocked and shell-like MCP tools, approved models, TLS busted
// cannot read, the classifier's score for unknown destinations, TLS
// version and ciphers. What the Rego computes
// once per policy (the data's sets, the regular expressions) is computed
// once here too.

const SECRET_PATTERNS = [
  ['a GitHub token', /\bgh[pousr]_[A-Za-z0-9]{36,}/],
  ['a private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['an API key', /\b(sk|pk|rk)-[A-Za-z0-9_-]{20,}/],
  ['an AWS access key', /AKIA[0-9A-Z]{16}/],
];
const ANY_SECRET = new RegExp(SECRET_PATTERNS.map(([, re]) => re.source).join('|'));
const TLS = { 'TLS 1.0': 10, 'TLS 1.1': 11, 'TLS 1.2': 12, 'TLS 1.3': 13 };

/** H, when it carries a brand of BRANDS but is none of its domains: a block reason. */
function lookAlike(h, brands, block) {
  if (typeof h !== 'string') return;
  const name = (h.endsWith('.') ? h.slice(0, -1) : h).toLowerCase();
  for (const [brand, domains] of brands) {
    if (name.includes(brand) && !domains.some((dm) => name === dm || name.endsWith(`.${dm}`))) block.push(`${h} looks like ${brand} but is not one of its domains`);
  }
}

export function makeHandWritten(data) {
  const d = data.busted;
  const approved = new Set(d.approved_providers);
  const blockedTools = new Set(d.blocked_mcp_tools);
  const blockedServers = new Set(Array.isArray(d.blocked_mcp_servers) ? d.blocked_mcp_servers : []);
  // RE2's (?i) prefix is JavaScript's i flag
  const poisoning = typeof d.mcp_tool_poisoning === 'string' ? new RegExp(d.mcp_tool_poisoning.replace(/^\(\?i\)/, ''), d.mcp_tool_poisoning.startsWith('(?i)') ? 'i' : '') : undefined;
  const injection = typeof d.prompt_injection === 'string' ? new RegExp(d.prompt_injection.replace(/^\(\?i\)/, ''), d.prompt_injection.startsWith('(?i)') ? 'i' : '') : undefined;
  const approvedModels = new Set(d.approved_models);
  const shellLike = new RegExp(d.shell_like_tools);
  const mlAllowed = d.ml_allowed_destinations ?? [];
  const mlAllowedLower = new Set(mlAllowed.filter((x) => typeof x === 'string').map((x) => x.toLowerCase()));
  const brands = Object.entries(d.brands);
  const teams = d.teams ?? [];
  const member = (m, p) =>
    p !== undefined &&
    ((p.container_id !== undefined && p.container_id === m.container_id) ||
      (typeof p.cgroup_path === 'string' && typeof m.cgroup_prefix === 'string' && p.cgroup_path.startsWith(m.cgroup_prefix)) ||
      (p.uid !== undefined && p.uid === m.uid));
  const str = (v) => (typeof v === 'string' ? v : undefined);
  // a Rego ref that holds: defined and not false
  const set = (v) => v !== undefined && v !== false;
  // content.rego's llm_target: where a prompt went
  const llmTarget = (e) => (set(e.provider) ? e.provider : set(e.http?.host) ? e.http.host : set(e.net?.dst_ip) ? e.net.dst_ip : 'an unknown endpoint');

  return function decide(e) {
    const block = [];
    const audit = [];
    // providers.rego: the process's teams and what they may use
    const teamOf = [];
    for (const t of teams) if (member(t.match, e.process)) teamOf.push(t.name);
    if (e.provider !== undefined && e.provider !== false) {
      let ok;
      if (teamOf.length > 0) ok = teams.some((t) => teamOf.includes(t.name) && t.providers.includes(e.provider));
      else ok = approved.has(e.provider);
      if (!ok) block.push(`provider ${e.provider} is not approved${teamOf.length ? ` for team ${[...new Set(teamOf)].sort().join(', ')}` : ''}`);
    }
    const sni = e.tls?.sni;
    const host = sni !== undefined ? sni : e.http?.host !== undefined ? e.http.host : e.dns?.questions?.[0]?.name;
    // every name the event carries: the server name and the HTTP host both, else the DNS question
    const httpHost = e.http?.host;
    lookAlike(sni, brands, block);
    if (httpHost !== sni) lookAlike(httpHost, brands, block);
    if (host !== sni && host !== httpHost) lookAlike(host, brands, block);
    // a request whose Host is not the connection's server name (domain fronting)
    if ((e.type === 'llm_request' || e.type === 'mcp_message') && typeof e.http?.host === 'string' && typeof e.tls?.sni === 'string') {
      const bare = (s) => (s.endsWith('.') ? s.slice(0, -1) : s).toLowerCase();
      if (bare(e.http.host) !== bare(e.tls.sni)) audit.push(`request for ${e.http.host} sent on a TLS connection to ${e.tls.sni}`);
    }
    // content.rego
    if (e.type === 'llm_request') {
      const sys = e.llm?.system_prompt;
      const user = e.llm?.user_message;
      const s = sys === undefined || sys === false ? '' : str(sys);
      const u = user === undefined || user === false ? '' : str(user);
      const ctx = e.llm?.context;
      const c = ctx === undefined || ctx === false ? '' : str(ctx);
      if (s !== undefined && u !== undefined && c !== undefined) {
        const text = `${s}\n${u}\n${c}`;
        if (ANY_SECRET.test(text)) {
          const target = llmTarget(e);
          for (const [what, re] of SECRET_PATTERNS) if (re.test(text)) block.push(`prompt to ${target} contains ${what}`);
        }
      }
      if (approvedModels.size > 0 && e.llm?.model !== undefined && !approvedModels.has(e.llm.model)) audit.push(`model ${e.llm.model} is not on the approved list`);
      if (injection && c !== undefined && injection.test(c)) audit.push(`prompt to ${llmTarget(e)} carries instructions to the model in its context (prompt injection?)`);
    }
    if (e.type === 'mcp_message' && e.mcp?.kind !== undefined && e.mcp.kind !== 'response' && typeof e.mcp.context === 'string' && ANY_SECRET.test(e.mcp.context)) {
      const m = e.mcp;
      const target = m.tool !== undefined && m.tool !== false ? `call of ${m.tool}` : m.method !== undefined ? `${m.method}` : undefined;
      if (target !== undefined) for (const [what, re] of SECRET_PATTERNS) if (re.test(m.context)) block.push(`MCP ${target} carries ${what}`);
    }
    if (e.type === 'mcp_message' && e.mcp?.kind === 'request') {
      const tool = e.mcp.tool;
      const server = e.mcp.server?.name;
      const onServer = typeof server === 'string' && typeof tool === 'string' && blockedTools.has(`${server}/${tool}`);
      if (blockedTools.has(tool)) block.push(`MCP tool ${tool} is blocked`);
      if (onServer) block.push(`MCP tool ${tool} of server ${server} is blocked`);
      if (!blockedTools.has(tool) && !onServer && e.mcp.method === 'tools/call' && typeof tool === 'string' && shellLike.test(tool.toLowerCase())) audit.push(`MCP call of shell-like tool ${tool}`);
      if (typeof server === 'string' && blockedServers.has(server)) block.push(`MCP server ${server} is blocked`);
    }
    if (e.type === 'mcp_message' && e.mcp !== undefined) {
      const name = typeof e.mcp.server?.name === 'string' ? e.mcp.server.name : '(unnamed)';
      if (e.mcp.kind === 'response' && e.mcp.tools !== undefined && e.mcp.tools !== false && e.mcp.tools !== null && poisoning && typeof e.mcp.context === 'string' && poisoning.test(e.mcp.context)) audit.push(`MCP server ${name} describes its tools with instructions to the model`);
      if (e.mcp.tools_changed !== undefined && e.mcp.tools_changed !== false && e.mcp.tools_changed !== null) audit.push(`MCP server ${name} changed its tools since it first listed them`);
      if (e.mcp.kind === 'response' && !set(e.mcp.tools) && injection && typeof e.mcp.context === 'string' && injection.test(e.mcp.context)) {
        const what = set(e.mcp.tool) ? `answer to the call of ${e.mcp.tool}` : set(e.mcp.method) ? `answer to ${e.mcp.method}` : 'answer';
        audit.push(`MCP ${what} carries instructions to the model (prompt injection?)`);
      }
    }
    if (e.type === 'tls_client_hello' && e.provider !== undefined && e.provider !== false && e.tls?.plaintext === false && e.process?.comm !== undefined) {
      (d.block_unreadable_tls ? block : audit).push(`TLS to ${e.provider} from ${e.process.comm}, which busted cannot read`);
    }
    if (e.type === 'error' && e.error?.code === 'BUSTED_E_CONTENT_CUT') {
      const target = e.provider !== undefined && e.provider !== false ? e.provider : e.http?.host !== undefined && e.http.host !== false ? e.http.host : 'a TLS peer';
      (d.block_uninspected_content ? block : audit).push(`request to ${target} not read whole: the content rules saw only part of it, if any`);
    }
    // ml.rego: the classifier's score, for destinations no provider list knows
    const score = e.ml?.llm_score;
    if (typeof score === 'number' && (e.provider === undefined || e.provider === false)) {
      const net = e.net;
      const ipPort = net?.dst_ip !== undefined && Number.isInteger(net?.dst_port) ? `${net.dst_ip}:${net.dst_port}` : undefined;
      let dest = host;
      if (dest === undefined) {
        if (net?.dst_host !== undefined && net.dst_host !== false) dest = net.dst_host;
        else if (net?.dst_ip !== undefined && net.dst_ip !== false) dest = ipPort;
      }
      const allowed =
        (typeof dest === 'string' && mlAllowedLower.has((dest.endsWith('.') ? dest.slice(0, -1) : dest).toLowerCase())) ||
        (net?.dst_ip !== undefined && mlAllowed.includes(net.dst_ip)) ||
        (ipPort !== undefined && mlAllowed.includes(ipPort));
      if (!allowed) {
        const where = dest ?? '(no address)';
        // %v of a float64: these scores print as JavaScript prints them
        if (score >= d.ml_audit_threshold && e.ml.label !== undefined) audit.push(`LLM-like traffic to unknown destination ${where} (classifier: ${e.ml.label}, score ${score})`);
        if (d.ml_block_unknown === true && score >= d.ml_block_threshold) block.push(`unknown LLM endpoint ${where} (classifier score ${score}; data.busted.ml_block_unknown)`);
      }
    }
    // compliance.rego
    if (e.type === 'tls_server_hello') {
      const v = e.tls?.version;
      const peer = sni !== undefined && sni !== false ? sni : e.net?.dst_ip;
      if (TLS[v] < TLS[d.min_tls_version] && peer !== undefined) audit.push(`${v} negotiated with ${peer} (minimum ${d.min_tls_version})`);
      const cipher = e.tls?.cipher;
      if (typeof cipher === 'string' && d.weak_cipher_patterns.some((w) => cipher.includes(w))) audit.push(`weak cipher ${cipher} negotiated`);
    }
    if (block.length) return { action: 'block', reasons: [...new Set(block)].sort() };
    if (audit.length) return { action: 'audit', reasons: [...new Set(audit)].sort() };
    return { action: 'allow', reasons: [] };
  };
}
