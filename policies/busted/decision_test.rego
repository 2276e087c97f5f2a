# Tests of decision.rego: how block and audit reasons combine.
# Run them with `busted test-policy --policies policies`.
package busted.decision_test

import rego.v1

test_nothing_found_is_allow if {
	data.busted.decision == "allow" with data.busted.block as set()
		with data.busted.audit as set()
	count(data.busted.reasons) == 0 with data.busted.block as set()
		with data.busted.audit as set()
}

test_any_block_reason_blocks if {
	data.busted.decision == "block" with data.busted.block as {"b"}
		with data.busted.audit as set()
}

test_block_wins_over_audit_and_reports_only_block_reasons if {
	data.busted.decision == "block" with data.busted.block as {"b1", "b2"}
		with data.busted.audit as {"a"}
	data.busted.reasons == {"b1", "b2"} with data.busted.block as {"b1", "b2"}
		with data.busted.audit as {"a"}
}

test_audit_reasons_alone_audit if {
	data.busted.decision == "audit" with data.busted.block as set()
		with data.busted.audit as {"a1", "a2"}
	data.busted.reasons == {"a1", "a2"} with data.busted.block as set()
		with data.busted.audit as {"a1", "a2"}
}

test_an_event_nothing_applies_to_is_allowed if {
	data.busted.decision == "allow" with input as {"type": "exec", "process": {"pid": 1, "comm": "sh"}}
}
