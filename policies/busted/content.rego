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

system_prompt := input.llm.system_prompt

system_prompt := "" if not input.llm.system_prompt

user_message := input.llm.user_message

user_message := "" if not input.llm.user_message

# the rest of what the request sends: earlier turns, tool results (an agent
# that read a credentials file sends it back this way), tool calls' arguments
request_context := input.llm.context

request_context := "" if not input.llm.context

prompt_text := concat("\n", [system_prompt, user_message, request_context]) if {
	input.type == "llm_request"
}

block contains sprintf("prompt to %s contains %s", [llm_target, what]) if {
	regex.match(any_secret, prompt_text)
	some what, pattern in secret_patterns
	regex.match(pattern, prompt_text)
}

# where a prompt went: its provider, else the host it was sent to (a
# self-hosted model or a gateway known by the request's shape alone), else
# its address: a secret is blocked wherever it is headed
llm_target := input.provider if {
	input.provider
} else := input.http.host if {
	input.http.host
} else := input.net.dst_ip if {
	input.net.dst_ip
} else := "an unknown endpoint"

# the same secrets sent to an MCP server: a tool call's arguments (mcp.context)
block contains sprintf("MCP %s carries %s", [mcp_target, what]) if {
	input.type == "mcp_message"
	input.mcp.kind != "response"
	regex.match(any_secret, input.mcp.context)
	some what, pattern in secret_patterns
	regex.match(pattern, input.mcp.context)
}

# what an MCP message is about: its tool (or resource, or prompt), else its method
mcp_target := sprintf("call of %s", [input.mcp.tool]) if {
	input.mcp.tool
} else := sprintf("%s", [input.mcp.method])

block contains sprintf("MCP tool %s is blocked", [input.mcp.tool]) if {
	input.type == "mcp_message"
	input.mcp.kind == "request"
	input.mcp.tool in data.busted.blocked_mcp_tools
}

# A tool blocked on one server only is listed as "server/tool": the server
# by the name its answer to initialize gave (input.mcp.server, which every
# later message of the session carries), so that delete_repo on a
# scratch server stays allowed when it is blocked on github-mcp-server.
block contains sprintf("MCP tool %s of server %s is blocked", [input.mcp.tool, input.mcp.server.name]) if {
	input.type == "mcp_message"
	input.mcp.kind == "request"
	concat("/", [input.mcp.server.name, input.mcp.tool]) in data.busted.blocked_mcp_tools
}

# MCP servers this host must not use, by the same name: every request of
# their sessions after initialize is blocked (a tools/list as well as a call)
block contains sprintf("MCP server %s is blocked", [input.mcp.server.name]) if {
	input.type == "mcp_message"
	input.mcp.kind == "request"
	input.mcp.server.name in data.busted.blocked_mcp_servers
}

blocked_mcp_tool if input.mcp.tool in data.busted.blocked_mcp_tools

# Tool poisoning: a server that describes its tools with instructions to
# the model (hidden directives, "do not tell the user", reads of credential
# files) steers any agent that reads the descriptions, whatever the tools
# do. Its tools/list answer, whose descriptions are its mcp.context, is
# audited when they match data.busted.mcp_tool_poisoning.
audit contains sprintf("MCP server %s describes its tools with instructions to the model", [mcp_server]) if {
	input.type == "mcp_message"
	input.mcp.kind == "response"
	input.mcp.tools
	regex.match(data.busted.mcp_tool_poisoning, input.mcp.context)
}

# Indirect prompt injection: what a tool hands back to the agent (a web
# page it fetched, an issue, a file) that addresses the model instead
# ("ignore the previous instructions", "<system>", "do not tell the
# user"), and such text on its way to a model in an LLM request's context
# (tool results and earlier turns an agent sends back). Audited, not
# blocked: a person may quote such a phrase. The pattern is
# data.busted.prompt_injection.
audit contains sprintf("MCP %s carries instructions to the model (prompt injection?)", [mcp_answer]) if {
	input.type == "mcp_message"
	input.mcp.kind == "response"
	not input.mcp.tools
	regex.match(data.busted.prompt_injection, input.mcp.context)
}

audit contains sprintf("prompt to %s carries instructions to the model in its context (prompt injection?)", [llm_target]) if {
	input.type == "llm_request"
	regex.match(data.busted.prompt_injection, request_context)
}

# an answer, by what it answers where it was paired with its request
mcp_answer := sprintf("answer to the call of %s", [input.mcp.tool]) if {
	input.mcp.tool
} else := sprintf("answer to %s", [input.mcp.method]) if {
	input.mcp.method
} else := "answer"

# A "rug pull": the tools a server lists changed since its first tools/list
# answer this run, under the same name and version (a tool approved as
# harmless, redefined later)
audit contains sprintf("MCP server %s changed its tools since it first listed them", [mcp_server]) if {
	input.type == "mcp_message"
	input.mcp.tools_changed
}

mcp_server := input.mcp.server.name

mcp_server := "(unnamed)" if not input.mcp.server.name

blocked_mcp_tool if concat("/", [input.mcp.server.name, input.mcp.tool]) in data.busted.blocked_mcp_tools

# Tools that run commands are worth a look even when they are allowed: an
# agent's `tools/call` of a shell-like tool is audited (names matched as
# words, so "ssh_exec" and "run-shell" count, "executive_summary" does not).
audit contains sprintf("MCP call of shell-like tool %s", [input.mcp.tool]) if {
	input.type == "mcp_message"
	input.mcp.kind == "request"
	input.mcp.method == "tools/call"
	not blocked_mcp_tool
	regex.match(data.busted.shell_like_tools, lower(input.mcp.tool))
}

audit contains sprintf("model %s is not on the approved list", [input.llm.model]) if {
	input.type == "llm_request"
	count(data.busted.approved_models) > 0
	not input.llm.model in data.busted.approved_models
}

# The behavioural classifier's score (input.ml) is policed in ml.rego.

# What busted cannot read cannot be held to the rules above: a TLS
# connection to a provider from a program whose TLS library busted does not
# probe (a static BoringSSL such as Chromium's, rustls, a Go binary built
# for another architecture or by a Go before 1.17) is audited, or blocked
# where data.busted.block_unreadable_tls says so (its ClientHello is then
# held until decided, or its connection cut after it).
audit contains sprintf("TLS to %s from %s, which busted cannot read", [input.provider, input.process.comm]) if {
	unreadable_tls
	not data.busted.block_unreadable_tls
}

block contains sprintf("TLS to %s from %s, which busted cannot read", [input.provider, input.process.comm]) if {
	unreadable_tls
	data.busted.block_unreadable_tls
}

# A request busted could not read whole (a body past 4 MiB, or past what
# the kernel copied of a call it did not hold, or a compressed body that
# does not decode: BUSTED_E_CONTENT_CUT) was judged on its start only, if
# on anything, and a secret in the rest went unseen. It is
# audited, or blocked where data.busted.block_uninspected_content says so
# (a held write is then stopped before it leaves, like any content block).
audit contains sprintf("request to %s not read whole: the content rules saw only part of it, if any", [cut_target]) if {
	content_cut
	not data.busted.block_uninspected_content
}

block contains sprintf("request to %s not read whole: the content rules saw only part of it, if any", [cut_target]) if {
	content_cut
	data.busted.block_uninspected_content
}

content_cut if {
	input.type == "error"
	input.error.code == "BUSTED_E_CONTENT_CUT"
}

cut_target := input.provider if {
	input.provider
} else := input.http.host if {
	input.http.host
} else := "a TLS peer"

unreadable_tls if {
	input.type == "tls_client_hello"
	input.provider
	input.tls.plaintext == false
}
