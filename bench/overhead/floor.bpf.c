// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * floor.bpf.c — the hooks `busted monitor` attaches on a connection's path,
 * the system libssl's functions it probes, each program returning at once
 * (BENCH_OVERHEAD_AGENT=floor, floor-agent.js).
 * What a workload loses to these programs is the price of the hooks
 * themselves on this kernel and machine: no agent can cost less with them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tp_btf/inet_sock_set_state")
int floor_set_state(void *ctx) { return 0; }

SEC("tp_btf/sock_send_length")
int floor_send(void *ctx) { return 0; }

SEC("tp_btf/sock_recv_length")
int floor_recv(void *ctx) { return 0; }

SEC("tp_btf/sched_process_exec")
int floor_exec(void *ctx) { return 0; }

SEC("tp_btf/sched_process_exit")
int floor_exit(void *ctx) { return 0; }

/* At each libssl function the monitor probes (its entry: a uprobe session
 * traps there too, and returns only when its entry asks). */
SEC("uprobe")
int floor_uprobe(void *ctx) { return 0; }

SEC("cgroup/sock_create")
int floor_sock_create(struct bpf_sock *sk) { return 1; }

SEC("cgroup/sock_release")
int floor_sock_release(struct bpf_sock *sk) { return 1; }

SEC("cgroup_skb/egress")
int floor_egress(struct __sk_buff *skb) { return 1; }

SEC("cgroup_skb/ingress")
int floor_ingress(struct __sk_buff *skb) { return 1; }

/* busted enforce's hooks besides (floor-agent.js --enforce): allow all. */
SEC("cgroup/connect4")
int floor_connect4(struct bpf_sock_addr *ctx) { return 1; }

SEC("cgroup/connect6")
int floor_connect6(struct bpf_sock_addr *ctx) { return 1; }

SEC("cgroup/sendmsg4")
int floor_sendmsg4(struct bpf_sock_addr *ctx) { return 1; }

SEC("cgroup/sendmsg6")
int floor_sendmsg6(struct bpf_sock_addr *ctx) { return 1; }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
