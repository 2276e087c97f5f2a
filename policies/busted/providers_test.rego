# Tests of providers.rego: approved providers and look-alike host names.
package busted.providers_test

import rego.v1

connect(provider, host) := {
	"type": "tls_client_hello",
	"provider": provider,
	"tls": {"sni": host},
	"net": {"protocol": "tcp", "family": 4, "src_ip": "10.0.0.2", "src_port": 40000, "dst_ip": "10.1.2.3", "dst_port": 443},
}

test_approved_provider_is_allowed if {
	data.busted.decision == "allow" with input as connect("openai", "api.openai.com")
}

test_unapproved_provider_is_blocked if {
	e := connect("mistral", "api.mistral.ai")
	data.busted.decision == "block" with input as e
	"provider mistral is not approved" in data.busted.reasons with input as e
}

test_the_approved_list_comes_from_data if {
	e := connect("mistral", "api.mistral.ai")
	data.busted.decision == "allow" with input as e with data.busted.approved_providers as ["mistral"]
	data.busted.decision == "block" with input as connect("openai", "api.openai.com")
		with data.busted.approved_providers as ["mistral"]
}

# a name the provider table does not know: no provider
hello(host) := {"type": "tls_client_hello", "tls": {"sni": host}}

test_look_alike_host_is_blocked if {
	e := hello("evil-openai.com")
	data.busted.decision == "block" with input as e
	data.busted.reasons == {"evil-openai.com looks like openai but is not one of its domains"} with input as e
}

test_brand_as_subdomain_of_another_domain_is_blocked if {
	data.busted.decision == "block" with input as hello("openai.com.example.net")
}

test_official_domains_and_subdomains_are_not_look_alikes if {
	every host in ["openai.com", "api.openai.com", "API.OpenAI.com.", "myco.openai.azure.com", "claude.ai", "api.anthropic.com"] {
		count(data.busted.block) == 0 with input as {"type": "tls_client_hello", "tls": {"sni": host}}
	}
}

test_host_from_http_when_there_is_no_sni if {
	e := {"type": "llm_request", "http": {"host": "openai-proxy.example.com", "method": "POST", "path": "/v1/chat/completions"}}
	data.busted.host == "openai-proxy.example.com" with input as e
	data.busted.decision == "block" with input as e
}

test_host_from_the_dns_question if {
	e := {"type": "dns_query", "dns": {"id": 7, "questions": [{"name": "deepseek.com.evil.example", "type": "A"}]}}
	data.busted.decision == "block" with input as e
	data.busted.reasons == {"deepseek.com.evil.example looks like deepseek but is not one of its domains"} with input as e
}

test_sni_wins_over_http_host if {
	data.busted.host == "api.openai.com" with input as {"tls": {"sni": "api.openai.com"}, "http": {"host": "other.example"}}
}

test_traffic_to_no_provider_is_allowed if {
	data.busted.decision == "allow" with input as {"type": "connect", "net": {"dst_ip": "192.0.2.1", "dst_port": 443}}
}

# teams (data.busted.teams): their own provider lists, by cgroup, uid or container
in_team(provider, process) := {"type": "connect", "provider": provider, "process": process}

test_a_team_by_cgroup_gets_its_own_list if {
	p := {"pid": 10, "uid": 1000, "cgroup_path": "/research/alice"}
	data.busted.decision == "allow" with input as in_team("mistral", p)
	data.busted.decision == "allow" with input as in_team("openai", p)
	data.busted.decision == "block" with input as in_team("cohere", p)
	data.busted.reasons == {"provider cohere is not approved for team research"} with input as in_team("cohere", p)
}

test_a_team_by_uid_may_use_only_its_providers if {
	p := {"pid": 11, "uid": 2000, "cgroup_path": "/system.slice/batch.service"}
	data.busted.decision == "allow" with input as in_team("ollama", p)
	data.busted.reasons == {"provider openai is not approved for team batch-jobs"} with input as in_team("openai", p)
}

test_a_team_by_container if {
	teams := [{"name": "ci", "match": {"container_id": "c0ffee"}, "providers": ["groq"]}]
	data.busted.decision == "allow" with input as in_team("groq", {"pid": 1, "container_id": "c0ffee"}) with data.busted.teams as teams
	data.busted.decision == "block" with input as in_team("groq", {"pid": 1, "container_id": "other"}) with data.busted.teams as teams
}

test_a_process_in_two_teams_gets_both_lists if {
	p := {"pid": 12, "uid": 2000, "cgroup_path": "/research/batch"}
	data.busted.decision == "allow" with input as in_team("mistral", p)
	data.busted.decision == "allow" with input as in_team("ollama", p)
	data.busted.reasons == {"provider cohere is not approved for team batch-jobs, research"} with input as in_team("cohere", p)
}

test_a_process_in_no_team_gets_the_host_list if {
	p := {"pid": 13, "uid": 1000, "cgroup_path": "/user.slice"}
	data.busted.decision == "block" with input as in_team("mistral", p)
	data.busted.reasons == {"provider mistral is not approved"} with input as in_team("mistral", p)
}

# a request fronted through another name: judged by its Host's provider (the
# engine's), and audited even when that provider is approved
fronted(provider, host, sni) := {
	"type": "llm_request",
	"provider": provider,
	"http": {"method": "POST", "path": "/v1/chat/completions", "host": host},
	"tls": {"sni": sni},
}

test_fronted_request_is_audited if {
	e := fronted("openai", "api.openai.com", "cdn.example.net")
	data.busted.decision == "audit" with input as e
	data.busted.reasons == {"request for api.openai.com sent on a TLS connection to cdn.example.net"} with input as e
}

test_fronted_request_to_an_unapproved_provider_is_blocked if {
	e := fronted("mistral", "api.mistral.ai", "api.openai.com")
	data.busted.decision == "block" with input as e
	data.busted.reasons == {"provider mistral is not approved"} with input as e
}

test_host_differing_only_in_case_or_final_dot_is_no_fronting if {
	data.busted.decision == "allow" with input as fronted("openai", "API.OpenAI.com", "api.openai.com.")
}

test_fronting_needs_both_names if {
	data.busted.decision == "allow" with input as {"type": "llm_request", "provider": "openai", "http": {"host": "api.openai.com"}}
	data.busted.decision == "allow" with input as {"type": "mcp_message", "mcp": {"kind": "request", "method": "tools/list"}, "tls": {"sni": "mcp.example.net"}}
}

test_look_alike_host_fronted_through_another_name_is_blocked if {
	e := fronted("openai", "evil-openai.com", "cdn.example.net")
	data.busted.decision == "block" with input as e
	"evil-openai.com looks like openai but is not one of its domains" in data.busted.reasons with input as e
}
