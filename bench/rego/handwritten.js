// The shipped policies (policies/busted/*.rego with policies/data.json),
// written by hand in JavaScript: the baseline the compiled Rego is
// measured against in bench/rego/run.js. It must decide every event the
// bench uses exactly as the Rego does (run.js checks).

const SECRET_PATTERNS = [
  ['an AWS access key', /AKIA[0-9A-Z]{16}/],
  ['a private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['an API key', /\b(sk|pk|rk)-[A-Za-z0-9_-]{20,}/],
  ['a GitHub token', /\bgh[pousr]_[A-Za-z0-9]{36,}/],
];
const TLS = { 'TLS 1.0': 10, 'TLS 1.1': 11, 'TLS 1.2': 12, 'TLS 1.3': 13 };

export function makeHandWritten(data) {
  const d = data.busted;
  const approved = new Set(d.approved_providers);
  const blockedTools = new Set(d.blocked_mcp_tools);
  const approvedModels = new Set(d.approved_models);
  const brands = Object.entries(d.brands);
  return function decide(e) {
    const block = [];
    const audit = [];
    if (e.provider && !approved.has(e.provider)) block.push(`provider ${e.provider} is not approved`);
    const host = e.tls?.sni ?? e.http?.host ?? e.dns?.questions?.[0]?.name;
    if (host !== undefined) {
      const name = host.replace(/\.$/, '').toLowerCase();
      for (const [brand, domains] of brands) {
        if (name.includes(brand) && !domains.some((dm) => name === dm || name.endsWith(`.${dm}`))) block.push(`${host} looks like ${brand} but is not one of its domains`);
      }
    }
    if (e.type === 'llm_request') {
      const text = `${e.llm?.system_prompt ?? ''}\n${e.llm?.user_message ?? ''}`;
      for (const [what, re] of SECRET_PATTERNS) if (re.test(text)) block.push(`prompt to ${e.provider} contains ${what}`);
      if (approvedModels.size > 0 && !approvedModels.has(e.llm?.model)) audit.push(`model ${e.llm?.model} is not on the approved list`);
    }
    if (e.type === 'mcp_message' && e.mcp?.kind === 'request' && blockedTools.has(e.mcp.tool)) block.push(`MCP tool ${e.mcp.tool} is blocked`);
    if (e.ml?.llm_score >= d.ml_audit_threshold) audit.push(`behavioural classifier: ${e.ml.label} (score ${e.ml.llm_score.toFixed(2)})`);
    if (e.type === 'tls_server_hello' && TLS[e.tls?.version] < TLS[d.min_tls_version]) audit.push(`${e.tls.version} negotiated with ${e.tls.sni ?? e.net.dst_ip} (minimum ${d.min_tls_version})`);
    if (e.type === 'tls_server_hello' && d.weak_cipher_patterns.some((w) => e.tls?.cipher?.includes(w))) audit.push(`weak cipher ${e.tls.cipher} negotiated`);
    if (block.length) return { action: 'block', reasons: [...new Set(block)].sort() };
    if (audit.length) return { action: 'audit', reasons: [...new Set(audit)].sort() };
    return { action: 'allow', reasons: [] };
  };
}
