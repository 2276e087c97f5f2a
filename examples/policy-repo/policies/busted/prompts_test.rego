package busted.prompts_test

import rego.v1

prompt(text) := {"type": "llm_request", "provider": "openai", "llm": {"model": "gpt-4o-mini", "user_message": text}}

test_aws_keys_are_blocked if {
	data.busted.reasons == {"prompt to openai carries an AWS access key"} with input as prompt("key AKIAIOSFODNN7EXAMPLE")
}

test_private_keys_in_the_system_prompt_are_blocked if {
	e := {"type": "llm_request", "provider": "anthropic", "llm": {"system_prompt": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl", "user_message": "hi"}}
	data.busted.reasons == {"prompt to anthropic carries a private key"} with input as e
}

test_ordinary_prompts_are_allowed if {
	data.busted.decision == "allow" with input as prompt("Summarise the release notes")
}

test_responses_are_not_searched if {
	data.busted.decision == "allow" with input as {"type": "llm_response", "provider": "openai", "llm": {"user_message": "AKIAIOSFODNN7EXAMPLE"}}
}
