package busted.decision_test

import rego.v1

test_block_reasons_win if {
	data.busted.decision == "block" with data.busted.block as {"b"} with data.busted.audit as {"a"}
	data.busted.reasons == {"b"} with data.busted.block as {"b"} with data.busted.audit as {"a"}
}

test_audit_reasons_alone_audit if {
	data.busted.decision == "audit" with data.busted.block as set() with data.busted.audit as {"a"}
}

test_nothing_is_allow if {
	data.busted.decision == "allow" with input as {"type": "exec"}
	count(data.busted.reasons) == 0 with input as {"type": "exec"}
}
