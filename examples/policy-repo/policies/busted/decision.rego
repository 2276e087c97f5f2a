# The decision busted asks for on every event: "allow", "audit" or "block",
# and the reasons. The other files add reason strings to `block` and
# `audit`; any block reason blocks, otherwise any audit reason audits.
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
