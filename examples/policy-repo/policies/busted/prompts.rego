# Credentials must not leave in a prompt. (The agent decides on the prompt
# as it was sent; recordings keep credentials out, so these rules are
# tested with unit tests and hand-written events.)
package busted

import rego.v1

credentials := {
	"an AWS access key": `\b(AKIA|ASIA)[0-9A-Z]{16}\b`,
	"a private key": `-----BEGIN [A-Z ]*PRIVATE KEY-----`,
	"a GitHub token": `\bgh[pousr]_[A-Za-z0-9]{36,}`,
}

prompt := concat("\n", [object.get(input, ["llm", "system_prompt"], ""), object.get(input, ["llm", "user_message"], "")]) if {
	input.type == "llm_request"
}

block contains sprintf("prompt to %s carries %s", [object.get(input, "provider", "an unknown provider"), what]) if {
	some what, pattern in credentials
	regex.match(pattern, prompt)
}
