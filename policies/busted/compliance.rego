# Transport compliance, as a network telemetry agent reports it: TLS below
# the minimum version, and cipher suites on the weak list, are audited.
package busted

import rego.v1

tls_versions := {"TLS 1.0": 10, "TLS 1.1": 11, "TLS 1.2": 12, "TLS 1.3": 13}

# who the handshake was with: its SNI, else the address
peer := input.tls.sni

peer := input.net.dst_ip if not input.tls.sni

audit contains sprintf("%s negotiated with %s (minimum %s)", [input.tls.version, peer, data.busted.min_tls_version]) if {
	input.type == "tls_server_hello"
	tls_versions[input.tls.version] < tls_versions[data.busted.min_tls_version]
}

audit contains sprintf("weak cipher %s negotiated", [input.tls.cipher]) if {
	input.type == "tls_server_hello"
	some weak in data.busted.weak_cipher_patterns
	contains(input.tls.cipher, weak)
}
