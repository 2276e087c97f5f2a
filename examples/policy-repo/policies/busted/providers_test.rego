package busted.providers_test

import rego.v1

hello(provider, sni) := {"type": "tls_client_hello", "provider": provider, "tls": {"sni": sni}}

test_approved_providers_are_allowed if {
	every p in ["openai", "anthropic", "google"] {
		data.busted.decision == "allow" with input as {"type": "connect", "provider": p}
	}
}

test_other_providers_are_blocked if {
	e := hello("mistral", "api.mistral.ai")
	data.busted.decision == "block" with input as e
	data.busted.reasons == {"provider mistral is not approved"} with input as e
}

test_look_alikes_are_blocked if {
	e := {"type": "dns_query", "dns": {"id": 1, "questions": [{"name": "evil-openai.com", "type": "A"}]}}
	data.busted.reasons == {"evil-openai.com looks like openai but is not one of its domains"} with input as e
}

test_official_names_are_no_look_alikes if {
	every name in ["api.openai.com", "API.OpenAI.com.", "openai.com", "generativelanguage.googleapis.com", "claude.ai"] {
		data.busted.decision == "allow" with input as {"type": "tls_client_hello", "tls": {"sni": name}}
	}
}

test_the_sni_names_the_host_before_http_and_dns if {
	data.busted.host == "api.openai.com" with input as {"tls": {"sni": "API.openai.com."}, "http": {"host": "x.example"}}
	data.busted.host == "x.example" with input as {"http": {"host": "x.example"}, "dns": {"questions": [{"name": "y.example"}]}}
	data.busted.host == "" with input as {"type": "exec"}
}
