# MCP tool calls: shell-like tools are blocked.
package busted

import rego.v1

block contains sprintf("MCP tool %s is blocked", [input.mcp.tool]) if {
	input.type == "mcp_message"
	input.mcp.kind == "request"
	input.mcp.method == "tools/call"
	input.mcp.tool in data.busted.blocked_mcp_tools
}
