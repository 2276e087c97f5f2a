// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * wire.bpf.c — not loaded: compiled only so that every type of busted.h is
 * in an object's BTF, where scripts/gen-wire.js reads the layouts from.
 */
#include "vmlinux.h"
#include "busted.h"

struct busted_wire_types {
	enum busted_abi abi;
	enum busted_kind kind;
	enum busted_tcp_phase tcp_phase;
	enum busted_udp_phase udp_phase;
	enum busted_pkt_kind pkt_kind;
	enum busted_pkt_flag pkt_flag;
	enum busted_plain_verdict plain_verdict;
	enum busted_hello_hold hello_hold;
	struct busted_plain_value plain_value;
	struct busted_owner owner;
	struct busted_listen_key listen_key;
	enum busted_dir dir;
	enum busted_task_flags task_flags;
	enum busted_stat stat;
	struct busted_exec_event exec;
	struct busted_exit_event exit;
	struct busted_tcp_event tcp;
	struct busted_udp_event udp;
	struct busted_pkt_event pkt;
	enum busted_tls_op tls_op;
	enum busted_tls_verdict tls_verdict;
	struct busted_tls_event tls;
	struct busted_tls_key tls_key;
	enum busted_tls_flags tls_flags;
	struct busted_enforce_event enforce;
	enum busted_enforce_what enforce_what;
	enum busted_verdict_source verdict_source;
	enum busted_name_flags name_flags;
	struct busted_name_value name_value;
	struct busted_dest_key dest_key;
	enum busted_dest_source dest_source;
	struct busted_dest_value dest_value;
	struct busted_lpm_key lpm_key;
	struct busted_proc_value proc_value;
	struct busted_verdict verdict;
	enum busted_cfg_flags cfg_flags;
	struct busted_enforce_cfg enforce_cfg;
	enum busted_class klass;
	struct busted_held held;
	enum busted_held_flags held_flags;
	enum busted_marks marks;
	enum busted_flow_phase flow_phase;
	struct busted_stdio_event stdio;
	enum busted_stdio_end stdio_end;
	enum busted_stdio_flags stdio_flags;
	enum busted_exec_flags exec_flags;
	struct busted_exe_key exe_key;
	struct busted_flow_event flow;
};

struct busted_wire_types *busted_wire_anchor;
