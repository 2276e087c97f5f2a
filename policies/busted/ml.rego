# LLM traffic to destinations no provider list knows: a self-hosted model
# server, a corporate gateway, an unknown provider or a tunnel, recognised
# by busted's behavioural classifier (`input.ml`, from the shape of the
# connection's traffic alone: token-paced streaming, think-time answers;
# see models/ and `busted monitor --model`).
#
# Known providers are left to providers.rego: a high score there is what
# an approved provider looks like, not news. For any other destination a
# score of at least data.busted.ml_audit_threshold is audited; with
# data.busted.ml_block_unknown set (a locked-down host), a score of at
# least ml_block_threshold is blocked. Destinations in
# ml_allowed_destinations (host names, addresses, or address:port) are
# left alone: a gateway you run is not unknown.
package busted

import rego.v1

# where the event's connection goes: the name it was asked for, else the address and port
ml_destination := host

ml_destination := input.net.dst_host if {
	not host
	input.net.dst_host
}

ml_destination := sprintf("%s:%d", [input.net.dst_ip, input.net.dst_port]) if {
	not host
	not input.net.dst_host
	input.net.dst_ip
}

# for the reasons: a destination is always named, even when nothing is known of it
default ml_where := "(no address)"

ml_where := ml_destination

ml_unknown_destination if {
	not input.provider
	not ml_allowed
}

ml_allowed if lower(trim_suffix(ml_destination, ".")) in {lower(d) | some d in data.busted.ml_allowed_destinations}

ml_allowed if input.net.dst_ip in data.busted.ml_allowed_destinations

ml_allowed if sprintf("%s:%d", [input.net.dst_ip, input.net.dst_port]) in data.busted.ml_allowed_destinations

audit contains sprintf("LLM-like traffic to unknown destination %s (classifier: %s, score %v)", [ml_where, input.ml.label, input.ml.llm_score]) if {
	input.ml.llm_score >= data.busted.ml_audit_threshold
	ml_unknown_destination
}

block contains sprintf("unknown LLM endpoint %s (classifier score %v; data.busted.ml_block_unknown)", [ml_where, input.ml.llm_score]) if {
	data.busted.ml_block_unknown == true
	input.ml.llm_score >= data.busted.ml_block_threshold
	ml_unknown_destination
}
