# Provider traffic should negotiate TLS 1.3: anything older is audited.
package busted

import rego.v1

tls_versions := {"TLS 1.0": 10, "TLS 1.1": 11, "TLS 1.2": 12, "TLS 1.3": 13}

audit contains sprintf("%s to %s negotiated below %s", [input.tls.version, input.provider, data.busted.provider_min_tls]) if {
	input.type == "tls_server_hello"
	input.provider
	tls_versions[input.tls.version] < tls_versions[data.busted.provider_min_tls]
}
