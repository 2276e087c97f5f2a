# Which AI providers this host may talk to, and look-alike names.
#
# data.busted.approved_providers lists the provider slugs that are allowed;
# traffic to any other recognised provider is blocked. A host name that
# carries a provider's brand but is none of its domains (evil-openai.com,
# openai.com.example.net) is blocked as a look-alike, whatever the event.
package busted

import rego.v1

approved := {p | some p in data.busted.approved_providers}

# the host name an event names: TLS SNI, HTTP host, or the DNS question
host := input.tls.sni

host := input.http.host if not input.tls.sni

host := input.dns.questions[0].name if {
	not input.tls.sni
	not input.http.host
}

block contains sprintf("provider %s is not approved", [input.provider]) if {
	input.provider
	not approved[input.provider]
}

# the host name as DNS compares it: lower case, no trailing dot
name := lower(trim_suffix(host, "."))

block contains sprintf("%s looks like %s but is not one of its domains", [host, brand]) if {
	some brand, domains in data.busted.brands
	contains(name, brand)
	not official(name, domains)
}

official(name, domains) if {
	some d in domains
	name == d
}

official(name, domains) if {
	some d in domains
	endswith(name, concat("", [".", d]))
}
