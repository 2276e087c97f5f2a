// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * probe.bpf.c — one trivial program per hook type, for `busted doctor`.
 * The doctor loads (and where it matters attaches) each one alone: what
 * the kernel accepts is the only reliable answer, since a hook can be
 * compiled in yet refused (BPF LSM without "bpf" in lsm=, fentry under
 * some lockdown setups, kprobes not built).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ring SEC(".maps");

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(probe_tp_btf, const struct sock *sk, int oldstate, int newstate)
{
	return 0;
}

SEC("raw_tp/sched_process_exec")
int probe_raw_tp(void *ctx)
{
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("kprobe/tcp_v4_connect")
int probe_kprobe(void *ctx)
{
	return 0;
}

SEC("fentry/tcp_v4_connect")
int BPF_PROG(probe_fentry, struct sock *sk)
{
	return 0;
}

SEC("lsm/socket_connect")
int BPF_PROG(probe_lsm, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	return ret;
}

SEC("cgroup/connect4")
int probe_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/connect6")
int probe_connect6(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup_skb/egress")
int probe_cgroup_skb(struct __sk_buff *skb)
{
	return 1;
}

SEC("uprobe")
int probe_uprobe(void *ctx)
{
	return 0;
}

/* Refused at load under lockdown (LOCKDOWN_BPF_WRITE_USER). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(probe_write_user, struct task_struct *p)
{
	char c = 0;

	bpf_probe_write_user((void *)8, &c, 1);
	return 0;
}

/* Ring buffer output from a tracing program. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(probe_ringbuf, struct task_struct *p)
{
	bpf_ringbuf_output(&probe_ring, &p, 1, 0);
	return 0;
}

/* Stopping the calling thread from a uprobe (the TLS gate, tls.bpf.c). */
SEC("uprobe")
int probe_send_signal(void *ctx)
{
	bpf_send_signal_thread(0); /* signal 0: nothing is sent, the helper is what is probed */
	return 0;
}
