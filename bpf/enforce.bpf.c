// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * enforce.bpf.c — connection enforcement: the cgroup connect hooks refuse
 * (EPERM) a connection whose destination is in a class the engine has
 * blocked for this process, and the sendmsg hooks do the same for UDP
 * datagrams sent without connect() (QUIC to a provider, say).
 *
 * Nothing here waits for the engine: it decided ahead of time (busted.h,
 * "enforcement"). The lookups, in order:
 *   1. the destination's class: dest (the DNS answers of the program image
 *      the process runs), dest (image 0: for everyone), dest_static
 *      (published ranges); none: allow.
 *   2. the verdict: a HOST entry (the engine refused that host to this
 *      process) refuses; otherwise the image the process runs (procs -> image_verdicts)
 *      when the engine has evaluated it for the uid and cgroup the process
 *      has now; otherwise its cgroup's (cgroup_verdicts), otherwise the
 *      default (cgroup_verdicts[0]). A process the engine has not seen yet
 *      thus gets what the policy says for any process of its cgroup.
 * Every refusal is reported (BUSTED_KIND_ENFORCE) with the verdict it used.
 */
#include "common.bpf.h"
#include "enforce.bpf.h"

static __always_inline void report(__u32 what, __u32 family, const __u8 *addr, __u16 port, __u32 proto,
				   __u32 klass, __u64 image, __u32 source)
{
	struct busted_enforce_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
		return;
	}
	hdr_init(&e->hdr, BUSTED_KIND_ENFORCE);
	task_from_current(&e->hdr.task);
	e->hdr.task.ppid = 0;
	e->sock_id = 0;
	e->image = image;
	e->ssl = 0;
	__builtin_memset(&e->flow, 0, sizeof(e->flow));
	e->flow.family = family;
	e->flow.protocol = proto;
	__builtin_memcpy(e->flow.daddr, addr, 16);
	e->flow.dport = port;
	e->what = what;
	e->klass = klass;
	e->source = source;
	e->_pad = 0;
	/* a refusal is news the engine wants now, not at the next poll */
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	stat_inc(BUSTED_STAT_EVENTS);
}

/* 1: let it through; 0: EPERM. */
static __always_inline int decide(__u32 family, const __u8 *addr, __u16 port, __u32 proto, __u32 what)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct busted_enforce_cfg *c;
	struct busted_dest_value *d;
	struct busted_proc_value *p;
	__u64 image = 0, mask;
	__u32 source = 0, klass;

	if (tgid == self_tgid)
		return 1;
	p = bpf_map_lookup_elem(&procs, &tgid);
	d = dest_of(p ? p->image : 0, family, addr);
	if (!d)
		return 1; /* not a destination any policy is about: the common case */
	klass = d->klass;
	if (klass == BUSTED_CLASS_HOST) {
		/* written for this program only, after the policy blocked the
		 * host (a look-alike name, say) */
		source = BUSTED_VSRC_HOST;
		image = p ? p->image : 0;
	} else {
		if (klass == BUSTED_CLASS_NONE || klass >= BUSTED_CLASS_MAX)
			return 1;
		mask = blocked_classes(p, &image, &source);
		if (!(mask & (1ULL << klass)))
			return 1;
	}
	c = cfg();
	if (!c || !(c->flags & BUSTED_CFG_ENFORCE))
		return 1;
	report(what, family, addr, port, proto, klass, image, source);
	return 0;
}

static __always_inline int decide4(struct bpf_sock_addr *ctx, __u32 what)
{
	__u8 addr[16] = {};
	__u32 ip = ctx->user_ip4;

	__builtin_memcpy(addr, &ip, 4);
	return decide(4, addr, bpf_ntohs(ctx->user_port), ctx->protocol, what);
}

static __always_inline int decide6(struct bpf_sock_addr *ctx, __u32 what)
{
	__u8 addr[16] = {};
	__u32 w[4];

	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	/* ::ffff:a.b.c.d is an IPv4 destination reached through an IPv6 socket */
	if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff)) {
		__builtin_memcpy(addr, &w[3], 4);
		return decide(4, addr, bpf_ntohs(ctx->user_port), ctx->protocol, what);
	}
	__builtin_memcpy(addr, w, 16);
	return decide(6, addr, bpf_ntohs(ctx->user_port), ctx->protocol, what);
}

SEC("cgroup/connect4")
int enforce_connect4(struct bpf_sock_addr *ctx)
{
	return decide4(ctx, BUSTED_ENF_CONNECT_REFUSED);
}

SEC("cgroup/connect6")
int enforce_connect6(struct bpf_sock_addr *ctx)
{
	return decide6(ctx, BUSTED_ENF_CONNECT_REFUSED);
}

SEC("cgroup/sendmsg4")
int enforce_sendmsg4(struct bpf_sock_addr *ctx)
{
	return decide4(ctx, BUSTED_ENF_SENDMSG_REFUSED);
}

SEC("cgroup/sendmsg6")
int enforce_sendmsg6(struct bpf_sock_addr *ctx)
{
	return decide6(ctx, BUSTED_ENF_SENDMSG_REFUSED);
}
