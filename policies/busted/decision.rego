# The decision busted asks for every event (CONTRACT.md, Policies):
# `decision` is "allow", "audit" or "block"; `reasons` says why.
#
# The rules that find something live beside this file, each adding to
# `block` or `audit`, a set of reason strings; this file only combines
# them: any block reason blocks, otherwise any audit reason audits.
package busted

import rego.v1

default decision := "allow"

decision := "block" if count(block) > 0

decision := "audit" if {
	count(block) == 0
	count(audit) > 0
}

reasons contains r if some r in block

reasons contains r if {
	count(block) == 0
	some r in audit
}
