package busted.transport_test

import rego.v1

server_hello(provider, version) := {"type": "tls_server_hello", "provider": provider, "tls": {"version": version, "cipher": "TLS_AES_128_GCM_SHA256"}}

test_tls_1_2_to_a_provider_is_audited if {
	e := server_hello("openai", "TLS 1.2")
	data.busted.decision == "audit" with input as e
	data.busted.reasons == {"TLS 1.2 to openai negotiated below TLS 1.3"} with input as e
}

test_tls_1_3_is_fine if {
	data.busted.decision == "allow" with input as server_hello("openai", "TLS 1.3")
}

test_traffic_to_no_provider_is_not_audited if {
	data.busted.decision == "allow" with input as {"type": "tls_server_hello", "tls": {"version": "TLS 1.0"}}
}

test_a_block_hides_the_audit if {
	e := server_hello("mistral", "TLS 1.2")
	data.busted.decision == "block" with input as e
	data.busted.reasons == {"provider mistral is not approved"} with input as e
}
