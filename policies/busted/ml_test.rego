# Tests of ml.rego (run by `busted test-policy --policies policies`, and by
# test/policy/ml-policy.test.ts): what the classifier's score does to the
# decision for known and unknown destinations, and in a locked-down profile.
package busted

import rego.v1

# a streamed completion from a model server no provider list knows, scored as LLM traffic
stream_to_gateway := {
	"type": "flow",
	"net": {"protocol": "tcp", "dst_ip": "10.1.2.3", "dst_port": 8000, "dst_host": "inference.corp.example", "direction": "egress"},
	"ml": {"llm_score": 0.99, "label": "llm"},
}

test_high_score_to_unknown_destination_is_audited if {
	decision == "audit" with input as stream_to_gateway
	reasons == {"LLM-like traffic to unknown destination inference.corp.example (classifier: llm, score 0.99)"} with input as stream_to_gateway
}

test_high_score_to_known_provider_is_left_to_provider_policy if {
	decision == "allow" with input as object.union(stream_to_gateway, {"provider": "openai"})
}

test_low_score_is_allowed if {
	decision == "allow" with input as object.union(stream_to_gateway, {"ml": {"llm_score": 0.12, "label": "other"}})
}

test_no_score_is_allowed if {
	decision == "allow" with input as object.remove(stream_to_gateway, ["ml"])
}

test_unnamed_destination_is_named_by_address_and_port if {
	# (object.union merges nested objects: replace net whole)
	ev := object.union(object.remove(stream_to_gateway, ["net"]), {"net": {"protocol": "tcp", "dst_ip": "10.1.2.3", "dst_port": 8000}})
	reasons == {"LLM-like traffic to unknown destination 10.1.2.3:8000 (classifier: llm, score 0.99)"} with input as ev
}

test_tls_server_name_names_the_destination if {
	ev := object.union(stream_to_gateway, {"type": "tls_data", "tls": {"sni": "llm.tunnel.example"}})
	reasons == {"LLM-like traffic to unknown destination llm.tunnel.example (classifier: llm, score 0.99)"} with input as ev
}

test_allowed_destination_by_name if {
	decision == "allow" with input as stream_to_gateway with data.busted.ml_allowed_destinations as ["Inference.corp.example"]
}

test_allowed_destination_by_address_and_port if {
	decision == "allow" with input as stream_to_gateway with data.busted.ml_allowed_destinations as ["10.1.2.3:8000"]
}

test_locked_down_blocks_a_very_high_score if {
	decision == "block" with input as stream_to_gateway with data.busted.ml_block_unknown as true
	reasons == {"unknown LLM endpoint inference.corp.example (classifier score 0.99; data.busted.ml_block_unknown)"} with input as stream_to_gateway with data.busted.ml_block_unknown as true
}

test_locked_down_audits_a_score_below_the_block_threshold if {
	ev := object.union(stream_to_gateway, {"ml": {"llm_score": 0.93, "label": "llm"}})
	decision == "audit" with input as ev with data.busted.ml_block_unknown as true
}

test_locked_down_still_allows_an_allowed_destination if {
	decision == "allow" with input as stream_to_gateway with data.busted.ml_block_unknown as true with data.busted.ml_allowed_destinations as ["10.1.2.3"]
}
