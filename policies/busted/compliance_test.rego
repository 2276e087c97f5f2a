# Tests of compliance.rego: minimum TLS version and weak cipher suites.
package busted.compliance_test

import rego.v1

server_hello(version, cipher) := {
	"type": "tls_server_hello",
	"tls": {"sni": "api.openai.com", "version": version, "cipher": cipher},
	"net": {"protocol": "tcp", "family": 4, "src_ip": "10.0.0.2", "src_port": 40000, "dst_ip": "10.1.2.3", "dst_port": 443},
}

test_tls_below_the_minimum_is_audited if {
	e := server_hello("TLS 1.0", "TLS_AES_128_GCM_SHA256")
	data.busted.decision == "audit" with input as e
	data.busted.reasons == {"TLS 1.0 negotiated with api.openai.com (minimum TLS 1.2)"} with input as e
}

test_the_minimum_comes_from_data if {
	e := server_hello("TLS 1.2", "TLS_AES_128_GCM_SHA256")
	data.busted.decision == "allow" with input as e
	data.busted.decision == "audit" with input as e with data.busted.min_tls_version as "TLS 1.3"
}

test_the_peer_address_names_a_connection_without_sni if {
	e := {"type": "tls_server_hello", "tls": {"version": "TLS 1.1", "cipher": "TLS_AES_128_GCM_SHA256"}, "net": {"dst_ip": "192.0.2.7"}}
	data.busted.reasons == {"TLS 1.1 negotiated with 192.0.2.7 (minimum TLS 1.2)"} with input as e
}

test_modern_tls_is_allowed if {
	data.busted.decision == "allow" with input as server_hello("TLS 1.3", "TLS_AES_256_GCM_SHA384")
	data.busted.decision == "allow" with input as server_hello("TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
}

test_weak_ciphers_are_audited if {
	e := server_hello("TLS 1.2", "TLS_RSA_WITH_3DES_EDE_CBC_SHA")
	data.busted.decision == "audit" with input as e
	data.busted.reasons == {"weak cipher TLS_RSA_WITH_3DES_EDE_CBC_SHA negotiated"} with input as e
}

test_client_hellos_are_not_audited if {
	e := object.union(server_hello("TLS 1.0", "TLS_RSA_WITH_RC4_128_SHA"), {"type": "tls_client_hello"})
	data.busted.decision == "allow" with input as e
}
