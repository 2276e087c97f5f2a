package busted.tools_test

import rego.v1

call(tool) := {"type": "mcp_message", "mcp": {"kind": "request", "method": "tools/call", "id": 1, "tool": tool}}

test_shell_tools_are_blocked if {
	every tool in ["shell", "exec", "run_command", "delete_file"] {
		data.busted.decision == "block" with input as call(tool)
	}
}

test_other_tools_and_answers_are_allowed if {
	data.busted.decision == "allow" with input as call("search_docs")
	data.busted.decision == "allow" with input as object.union(call("shell"), {"mcp": {"kind": "response"}})
}
