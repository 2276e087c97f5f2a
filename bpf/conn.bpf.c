// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * conn.bpf.c — connection lifecycle: TCP connect / accept / close / failure
 * from the inet_sock_set_state tracepoint, and UDP sockets' owners and end
 * from the cgroup sock hooks.
 *
 * TCP transitions (include/net/tcp_states.h), and where they run:
 *   CLOSE    -> SYN_SENT     connect(), in the caller's context: learn owner
 *   SYN_SENT -> ESTABLISHED  SYN-ACK received, softirq: "connected"
 *   SYN_SENT -> CLOSE        refused or timed out: "failed"
 *   CLOSE    -> LISTEN       listen(), in the caller's context: learn listener
 *   LISTEN   -> SYN_RECV     a child cloned from the listener: skip
 *   LISTEN   -> CLOSE        the listener closed: forget it
 *   SYN_RECV -> ESTABLISHED  our final ACK of a peer's handshake: "accepted"
 *   any      -> CLOSE        tcp_done()/tcp_close(): "closed", with counters
 *
 * The traffic shape of the connections it opens (flow.bpf.h) is part of
 * this object: its send/receive programs, and its end in this program.
 */
#include "common.bpf.h"
#include "flow.bpf.h"

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define RCV_SHUTDOWN 1

/* Listening sockets' owners, by (network namespace, family, port): an
 * accepted connection is created in softirq, so its owner is the process
 * that listens. Learnt at listen(); the engine adds those of listeners
 * older than the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct busted_listen_key);
	__type(value, struct busted_owner);
} listeners SEC(".maps");

/* Is this socket's cgroup inside the scope? For sockets whose owner we did
 * not see (they predate the agent): sk_cgrp_data names the creator's cgroup. */
static __always_inline bool sock_in_scope(const struct sock *sk, __u64 *cgid)
{
	struct cgroup *cg = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	struct cgroup *anc = NULL;
	__u32 level;

	if (!cg)
		return !scope_cgid;
	*cgid = BPF_CORE_READ(cg, kn, id);
	if (!scope_cgid)
		return true;
	level = BPF_CORE_READ(cg, level);
	if (level < scope_level || scope_level > 64)
		return false;
	bpf_probe_read_kernel(&anc, sizeof(anc), &cg->ancestors[scope_level]);
	return anc && BPF_CORE_READ(anc, kn, id) == scope_cgid;
}

/* The listeners key of SK (a listener, or a connection it accepted: the
 * same namespace and local port). Only the transitions that use it read it. */
static __always_inline void listen_key(struct busted_listen_key *lk, const struct sock *sk, __u16 family)
{
	/* 0 on a kernel built without network namespaces (the engine then reads
	 * /proc/net/tcp as the one namespace, 0 too) */
	lk->netns = bpf_core_field_exists(sk->__sk_common.skc_net.net) ? KREAD(sk, __sk_common.skc_net.net, ns.inum) : 0;
	lk->family = family;
	lk->port = KREAD(sk, __sk_common.skc_num);
}

static __always_inline void emit_tcp(const struct sock *sk, __u64 cookie, const struct busted_owner *o,
				     __u32 phase, __u32 dir)
{
	struct busted_tcp_event *e;
	const struct tcp_sock *tp = TCP_SK(sk);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
		return;
	}
	hdr_init(&e->hdr, BUSTED_KIND_TCP);
	e->hdr.task = o->task;
	e->sock_id = cookie;
	__builtin_memset(&e->flow, 0, sizeof(e->flow));
	flow_from_sock(&e->flow, sk);
	e->phase = phase;
	e->dir = dir;
	/* Payload bytes only: bytes_acked and bytes_received count the SYN and
	 * FIN sequence numbers too (RFC 4898 counters, tcp.h). */
	e->bytes_sent = tp ? KREAD(tp, bytes_sent) - KREAD(tp, bytes_retrans) : 0;
	e->bytes_received = tp ? KREAD(tp, bytes_received) : 0;
	if (e->bytes_received && (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown) & RCV_SHUTDOWN))
		e->bytes_received -= 1; /* the peer's FIN */
	e->start_ns = o->start_ns;
	bpf_ringbuf_submit(e, rb_flags());
	stat_inc(BUSTED_STAT_EVENTS);
}

/* A TCP socket's end: its traffic shape reported (when it has one), its
 * owner forgotten. */
static __always_inline void owner_closed(const struct busted_owner *o, __u64 cookie)
{
	if (o->conn & BUSTED_OWNER_FLOW)
		flow_close(cookie);
	bpf_map_delete_elem(&owners, &cookie);
}

TRACEPOINT(inet_sock_set_state)
int BPF_PROG(handle_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct busted_owner owner = {}, *o;
	struct busted_listen_key lk = {};
	__u64 cookie, cgid = 0;
	__u16 family;

	/* Most transitions (FIN_WAIT1, CLOSE_WAIT, LAST_ACK, ...) tell nothing
	 * new: leave before touching the socket. */
	if (newstate != TCP_CLOSE && newstate != TCP_SYN_SENT && newstate != TCP_LISTEN &&
	    oldstate != TCP_SYN_SENT && !(oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED))
		return 0;
	if (KREAD(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = KREAD(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	cookie = SOCK_ID(sk);

	if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT) {
		/* connect(): the caller is the owner. */
		if (!current_in_scope() || (bpf_get_current_pid_tgid() >> 32) == self_tgid)
			return 0;
		task_from_current(&owner.task);
		owner.task.ppid = KREAD(CURRENT_TASK(), real_parent, tgid);
		owner.start_ns = bpf_ktime_get_ns();
		owner.conn = BUSTED_OWNER_ACTIVE;
		if (bpf_map_update_elem(&owners, &cookie, &owner, BPF_ANY))
			stat_inc(BUSTED_STAT_OWNER_FULL);
		return 0;
	}
	if (newstate == TCP_LISTEN) {
		if (!current_in_scope())
			return 0;
		listen_key(&lk, sk, family);
		task_from_current(&owner.task);
		owner.task.ppid = KREAD(CURRENT_TASK(), real_parent, tgid);
		owner.start_ns = bpf_ktime_get_ns();
		bpf_map_update_elem(&listeners, &lk, &owner, BPF_ANY);
		return 0;
	}
	if (oldstate == TCP_LISTEN) {
		/* LISTEN -> SYN_RECV is a child being cloned from the listener
		 * (inet_csk_clone_lock), not the listener changing state. */
		if (newstate == TCP_CLOSE) {
			listen_key(&lk, sk, family);
			bpf_map_delete_elem(&listeners, &lk);
		}
		return 0;
	}
	if (oldstate == TCP_SYN_SENT) {
		o = bpf_map_lookup_elem(&owners, &cookie);
		if (!o)
			return 0; /* out of scope, or connected before we started */
		o->task.flags |= BUSTED_TASK_FROM_SOCKET;
		if (newstate == TCP_ESTABLISHED) {
			emit_tcp(sk, cookie, o, BUSTED_TCP_CONNECTED, BUSTED_DIR_EGRESS);
		} else if (newstate == TCP_CLOSE) {
			emit_tcp(sk, cookie, o, BUSTED_TCP_FAILED, BUSTED_DIR_EGRESS);
			owner_closed(o, cookie); /* a flow: data sent with the SYN (TCP fast open) */
		}
		return 0;
	}
	if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED) {
		/* A peer connected to us: credit the listener's process. */
		listen_key(&lk, sk, family);
		o = bpf_map_lookup_elem(&listeners, &lk);
		if (!o && family == AF_INET) {
			/* A dual-stack [::] listener accepts IPv4 peers too. */
			lk.family = AF_INET6;
			o = bpf_map_lookup_elem(&listeners, &lk);
		}
		if (o) {
			owner = *o;
		} else {
			/* The listener predates us: we know its cgroup only. */
			if (!sock_in_scope(sk, &cgid))
				return 0;
			owner.task.cgroup_id = cgid;
		}
		owner.task.flags |= BUSTED_TASK_FROM_SOCKET;
		owner.start_ns = bpf_ktime_get_ns();
		if (bpf_map_update_elem(&owners, &cookie, &owner, BPF_ANY))
			stat_inc(BUSTED_STAT_OWNER_FULL);
		emit_tcp(sk, cookie, &owner, BUSTED_TCP_ACCEPTED, BUSTED_DIR_INGRESS);
		return 0;
	}
	if (newstate == TCP_CLOSE) {
		o = bpf_map_lookup_elem(&owners, &cookie);
		if (!o) {
			/* Established before we started, or out of scope. */
			if (oldstate == TCP_ESTABLISHED)
				stat_inc(BUSTED_STAT_OWNER_MISS);
			return 0;
		}
		/* The direction is not kept per socket; the engine pairs the close
		 * with its connect/accept by sock_id. */
		emit_tcp(sk, cookie, o, BUSTED_TCP_CLOSED, 0);
		owner_closed(o, cookie);
	}
	return 0;
}

/* socket(): learn the owner of UDP sockets, in the creator's context.
 * (TCP owners are learnt at connect/listen, which also covers sockets
 * created before the agent started.) */
SEC("cgroup/sock_create")
int handle_sock_create(struct bpf_sock *sk)
{
	struct busted_owner owner = {};
	__u64 cookie;

	if (sk->protocol != IPPROTO_UDP || (sk->family != AF_INET && sk->family != AF_INET6))
		return 1;
	if ((bpf_get_current_pid_tgid() >> 32) == self_tgid)
		return 1;
	cookie = bpf_get_socket_cookie(sk);
	task_from_current(&owner.task);
	owner.start_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&owners, &cookie, &owner, BPF_ANY))
		stat_inc(BUSTED_STAT_OWNER_FULL);
	return 1; /* 1 = allow: this hook only watches */
}

/* close() of the last reference: report a UDP socket's totals. */
SEC("cgroup/sock_release")
int handle_sock_release(struct bpf_sock *sk)
{
	struct busted_udp_event *e;
	struct busted_owner *o;
	__u64 cookie;

	if (sk->protocol != IPPROTO_UDP)
		return 1;
	cookie = bpf_get_socket_cookie(sk);
	o = bpf_map_lookup_elem(&owners, &cookie);
	if (!o)
		return 1;
	/* A socket that never sent or received is not a flow worth reporting. */
	if (o->bytes_sent || o->bytes_received) {
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			hdr_init(&e->hdr, BUSTED_KIND_UDP);
			e->hdr.task = o->task;
			e->sock_id = cookie;
			__builtin_memset(&e->flow, 0, sizeof(e->flow));
			e->flow.family = sk->family == AF_INET ? 4 : 6;
			e->flow.protocol = IPPROTO_UDP;
			/* Addresses are not readable here: the engine has them from
			 * the socket's flow events (same sock_id). */
			e->phase = BUSTED_UDP_CLOSED;
			e->_pad = 0;
			e->bytes_sent = o->bytes_sent;
			e->bytes_received = o->bytes_received;
			e->start_ns = o->start_ns;
			bpf_ringbuf_submit(e, rb_flags());
			stat_inc(BUSTED_STAT_EVENTS);
		} else {
			stat_inc(BUSTED_STAT_RINGBUF_FULL);
		}
	}
	bpf_map_delete_elem(&owners, &cookie);
	return 1;
}
