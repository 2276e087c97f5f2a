# Which AI providers our hosts may use, and host names that only pretend
# to be one of them.
package busted

import rego.v1

block contains sprintf("provider %s is not approved", [input.provider]) if {
	input.provider
	not input.provider in data.busted.approved_providers
}

# the host an event names: TLS SNI, else the HTTP host, else the DNS question
host := lower(trim_suffix(names[0], ".")) if {
	names := [n |
		some n in [object.get(input, ["tls", "sni"], ""), object.get(input, ["http", "host"], ""), object.get(input, ["dns", "questions", 0, "name"], "")]
		n != ""
	]
	count(names) > 0
} else := ""

block contains sprintf("%s looks like %s but is not one of its domains", [host, brand]) if {
	some brand, domains in data.busted.brands
	contains(host, brand)
	not official(host, domains)
}

official(name, domains) if name in domains

official(name, domains) if {
	some d in domains
	endswith(name, concat("", [".", d]))
}
