# Which AI providers this host may talk to, and look-alike names.
#
# data.busted.approved_providers lists the provider slugs that are allowed;
# traffic to any other recognised provider is blocked. A team (processes
# matched by container id, cgroup path prefix or uid, in data.busted.teams)
# gets its own list instead: a team entry names the providers its members
# may use, and a process matching no team falls back to the host's list.
#
# A host name that carries a provider's brand but is none of its domains
# (evil-openai.com, openai.com.example.net) is blocked as a look-alike,
# whatever the event: the DNS answer that names it, and so the connection.
package busted

import rego.v1

# the teams a process belongs to (by container, cgroup or uid)
team_of contains t.name if {
	some t in data.busted.teams
	member(t.match)
}

member(m) if input.process.container_id == m.container_id

member(m) if startswith(input.process.cgroup_path, m.cgroup_prefix)

member(m) if input.process.uid == m.uid

# what the process may use: the union of its teams' lists, or the host's
approved contains p if {
	count(team_of) > 0
	some t in data.busted.teams
	t.name in team_of
	some p in t.providers
}

approved contains p if {
	count(team_of) == 0
	some p in data.busted.approved_providers
}

# the host name an event names: TLS SNI, HTTP host, or the DNS question
host := input.tls.sni

host := input.http.host if not input.tls.sni

host := input.dns.questions[0].name if {
	not input.tls.sni
	not input.http.host
}

block contains sprintf("provider %s is not approved%s", [input.provider, team_note]) if {
	input.provider
	not approved[input.provider]
}

team_note := sprintf(" for team %s", [concat(", ", sort([t | some t in team_of]))]) if count(team_of) > 0

else := ""

# the host names an event carries, each checked for a look-alike: the TLS
# server name and the HTTP host both (a request fronted through one name
# may ask for a look-alike in the other), else the DNS question
names contains input.tls.sni

names contains input.http.host

names contains host

block contains sprintf("%s looks like %s but is not one of its domains", [h, brand]) if {
	some h in names
	# the host name as DNS compares it: lower case, no trailing dot
	name := lower(trim_suffix(h, "."))
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

# A request whose Host names another server than the TLS connection it is
# sent on (domain fronting: a CDN or gateway routes it by its Host, whatever
# name the connection was made to) is audited. The rules above already judge
# it as the provider its Host names; this says that it hid behind another.
audit contains sprintf("request for %s sent on a TLS connection to %s", [input.http.host, input.tls.sni]) if {
	input.type in {"llm_request", "mcp_message"}
	lower(trim_suffix(input.http.host, ".")) != lower(trim_suffix(input.tls.sni, "."))
}
