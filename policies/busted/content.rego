# What must not leave the host inside an AI request: credentials in prompts,
# and MCP tool calls that this host does not allow.
package busted

import rego.v1

# Patterns of secrets that have no business in a prompt (RE2 syntax).
secret_patterns := {
	"an AWS access key": `AKIA[0-9A-Z]{16}`,
	"a private key": `-----BEGIN [A-Z ]*PRIVATE KEY-----`,
	"an API key": `\b(sk|pk|rk)-[A-Za-z0-9_-]{20,}`,
	"a GitHub token": `\bgh[pousr]_[A-Za-z0-9]{36,}`,
}

# one pass over the prompt with all patterns at once; which one matched
# is only worked out when one did
any_secret := concat("|", [p | some p in secret_patterns])

prompt_text := concat("\n", [object.get(input.llm, "system_prompt", ""), object.get(input.llm, "user_message", "")]) if {
	input.type == "llm_request"
}

block contains sprintf("prompt to %s contains %s", [input.provider, what]) if {
	regex.match(any_secret, prompt_text)
	some what, pattern in secret_patterns
	regex.match(pattern, prompt_text)
}

block contains sprintf("MCP tool %s is blocked", [input.mcp.tool]) if {
	input.type == "mcp_message"
	input.mcp.kind == "request"
	input.mcp.tool in data.busted.blocked_mcp_tools
}

audit contains sprintf("model %s is not on the approved list", [input.llm.model]) if {
	input.type == "llm_request"
	count(data.busted.approved_models) > 0
	not input.llm.model in data.busted.approved_models
}

# The behavioural classifier's score (input.ml) is policed in ml.rego.
