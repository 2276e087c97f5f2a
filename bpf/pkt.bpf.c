// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pkt.bpf.c — what the packets of a cgroup say: DNS messages, TLS
 * ClientHello/ServerHello records, and UDP flows with their byte counts.
 *
 * cgroup_skb programs see each packet of the cgroup's sockets once per
 * direction, starting at the network header, with the owning socket known
 * (so scoping to --cgroup is the attachment itself). They only watch:
 * every path returns 1 (pass).
 *
 * Which side reports: a loopback exchange passes the sender's egress and
 * the receiver's ingress hook, so each message is reported from the
 * client's point of view only (queries and ClientHellos on egress, answers
 * and ServerHellos on ingress). The server's view is added for peers that
 * are not on loopback, where the client is not on this host.
 */
#include "common.bpf.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

/* Report the server side of DNS and TLS handshakes with remote peers. */
const volatile __u8 server_side = 1;
const volatile __u16 dns_port = 53;

/* A large record kept out of the 512-byte stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct busted_pkt_event);
} scratch SEC(".maps");

/* UDP peers each socket has exchanged datagrams with: the first datagram
 * to or from a new peer is a flow event. */
struct udp_flow_key {
	__u64 cookie;
	__u8 peer[16];
	__u16 peer_port;
	__u16 _pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct udp_flow_key);
	__type(value, __u8);
} udp_flows SEC(".maps");

/* A hello longer than its first segment: how many bytes are still to come
 * on this socket in this direction (key: cookie ^ direction). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __s32);
} hello_cont SEC(".maps");

struct pkt {
	struct busted_flow flow; /* saddr/sport = this host's end */
	__u32 dir;
	__u32 off;  /* payload offset from the network header */
	__u32 plen; /* payload length */
};

static __always_inline bool peer_is_loopback(const struct pkt *p)
{
	const __u8 *a = p->flow.daddr;

	if (p->flow.family == 4)
		return a[0] == 127;
	/* ::1, or ::ffff:127.x.x.x */
	if (a[0] | a[1] | a[2] | a[3] | a[4] | a[5] | a[6] | a[7] | a[8] | a[9])
		return false;
	if (a[10] == 0 && a[11] == 0)
		return !(a[12] | a[13] | a[14]) && a[15] == 1;
	return a[10] == 0xff && a[11] == 0xff && a[12] == 127;
}

/* Parse IP and TCP/UDP headers; fill p with this host's view. */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p, __u32 dir)
{
	__u8 *local, *peer;
	__u32 l4off;
	__u16 ports[2];
	union {
		struct iphdr v4;
		struct ipv6hdr v6;
	} ip;

	/* Protocol and where the L4 header starts: the first 20 bytes tell. */
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, 0, &ip.v4, sizeof(ip.v4)))
			return -1;
		/* Fragments carry no (or no complete) L4 header. */
		if (ip.v4.frag_off & bpf_htons(0x3fff))
			return -1;
		p->flow.family = 4;
		p->flow.protocol = ip.v4.protocol;
		l4off = ip.v4.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, 0, &ip.v6, sizeof(ip.v6)))
			return -1;
		/* Extension headers are not walked: TCP and UDP follow the fixed
		 * header in practice. */
		p->flow.family = 6;
		p->flow.protocol = ip.v6.nexthdr;
		l4off = sizeof(ip.v6);
	} else {
		return -1;
	}
	if (p->flow.protocol == IPPROTO_TCP) {
		__u8 doff;

		if (bpf_skb_load_bytes(skb, l4off + 12, &doff, 1))
			return -1;
		p->off = l4off + (doff >> 4) * 4;
	} else if (p->flow.protocol == IPPROTO_UDP) {
		p->off = l4off + 8;
	} else {
		return -1;
	}
	/* skb->len covers the whole (possibly GSO) packet from the network
	 * header, unlike the IP length field of a GSO super-packet. */
	p->plen = skb->len > p->off ? skb->len - p->off : 0;
	/* Most TCP packets (handshake, ACKs, FIN) carry nothing to look at:
	 * leave before the rest of the work. */
	if (p->flow.protocol == IPPROTO_TCP && !p->plen)
		return -1;

	p->dir = dir;
	local = dir == BUSTED_DIR_EGRESS ? p->flow.saddr : p->flow.daddr;
	peer = dir == BUSTED_DIR_EGRESS ? p->flow.daddr : p->flow.saddr;
	if (p->flow.family == 4) {
		__builtin_memcpy(local, &ip.v4.saddr, 4);
		__builtin_memcpy(peer, &ip.v4.daddr, 4);
	} else {
		__builtin_memcpy(local, &ip.v6.saddr, 16);
		__builtin_memcpy(peer, &ip.v6.daddr, 16);
	}
	if (bpf_skb_load_bytes(skb, l4off, ports, sizeof(ports)))
		return -1;
	/* Addresses went straight into our view (local/peer); ports are
	 * swapped here: on ingress the packet's source port is the peer's. */
	if (dir == BUSTED_DIR_EGRESS) {
		p->flow.sport = bpf_ntohs(ports[0]);
		p->flow.dport = bpf_ntohs(ports[1]);
	} else {
		p->flow.sport = bpf_ntohs(ports[1]);
		p->flow.dport = bpf_ntohs(ports[0]);
	}
	return 0;
}

static __always_inline void owner_task(struct busted_task *t, struct busted_owner *o, struct __sk_buff *skb)
{
	if (o) {
		*t = o->task;
		t->flags |= BUSTED_TASK_FROM_SOCKET;
	} else {
		__builtin_memset(t, 0, sizeof(*t));
		t->cgroup_id = bpf_skb_cgroup_id(skb);
		stat_inc(BUSTED_STAT_OWNER_MISS);
	}
}

/* Copy up to BUSTED_PKT_MAX payload bytes into a record and send it. */
static __always_inline void emit_pkt(struct __sk_buff *skb, struct pkt *p, __u64 cookie,
				     struct busted_owner *o, __u32 kind)
{
	struct busted_pkt_event *e;
	__u32 zero = 0;
	__u64 cap = p->plen; /* 64-bit: no zero-extended copy for the verifier to lose track of */

	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return;
	if (cap > BUSTED_PKT_MAX) {
		cap = BUSTED_PKT_MAX;
		stat_inc(BUSTED_STAT_PKT_TRUNCATED);
	}
	/* Give the verifier a bound it can see through clang's rewriting. */
	asm volatile("%[c] &= 0x1fff" : [c] "+r"(cap));
	if (cap == 0 || cap > BUSTED_PKT_MAX)
		return;
	if (bpf_skb_load_bytes(skb, p->off, e->data, cap))
		return;
	hdr_init(&e->hdr, BUSTED_KIND_PKT);
	owner_task(&e->hdr.task, o, skb);
	e->sock_id = cookie;
	e->flow = p->flow;
	e->pkt_kind = kind;
	e->dir = p->dir;
	e->len = p->plen;
	e->cap_len = cap;
	if (bpf_ringbuf_output(&events, e, offsetof(struct busted_pkt_event, data) + cap, rb_flags()))
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
	else
		stat_inc(BUSTED_STAT_EVENTS);
}

static __always_inline void udp_flow(struct __sk_buff *skb, struct pkt *p, __u64 cookie, struct busted_owner *o)
{
	struct udp_flow_key k = {};
	struct busted_udp_event *e;
	__u8 one = 1;

	k.cookie = cookie;
	__builtin_memcpy(k.peer, p->flow.daddr, 16);
	k.peer_port = p->flow.dport;
	if (bpf_map_lookup_elem(&udp_flows, &k))
		return;
	bpf_map_update_elem(&udp_flows, &k, &one, BPF_ANY);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
		return;
	}
	hdr_init(&e->hdr, BUSTED_KIND_UDP);
	owner_task(&e->hdr.task, o, skb);
	e->sock_id = cookie;
	e->flow = p->flow;
	e->phase = BUSTED_UDP_FLOW;
	e->_pad = p->dir;
	e->bytes_sent = 0;
	e->bytes_received = 0;
	e->start_ns = o ? o->start_ns : 0;
	bpf_ringbuf_submit(e, rb_flags());
	stat_inc(BUSTED_STAT_EVENTS);
}

static __always_inline bool is_dns(const struct pkt *p)
{
	/* Client's view: queries leave to port 53 and answers come from it;
	 * in our view of the flow that is the peer's port either way. */
	if (p->flow.dport == dns_port)
		return true;
	/* Server's view, for remote clients only. */
	return server_side && p->flow.sport == dns_port && !peer_is_loopback(p);
}

static __always_inline void tcp_payload(struct __sk_buff *skb, struct pkt *p, __u64 cookie)
{
	struct busted_owner *o;
	__u8 h[6];
	__u64 ck;
	__s32 *left, need;
	bool out = p->dir == BUSTED_DIR_EGRESS;

	if (is_dns(p)) {
		o = bpf_map_lookup_elem(&owners, &cookie);
		emit_pkt(skb, p, cookie, o, BUSTED_PKT_DNS);
		return;
	}
	ck = cookie ^ p->dir;
	if (p->plen < 6 || bpf_skb_load_bytes(skb, p->off, h, 6))
		return;
	/* A handshake record (RFC 8446 §5.1) of TLS 1.0-1.3 whose first message
	 * is a ClientHello (1) or ServerHello (2). */
	if (h[0] == 0x16 && h[1] == 0x03 && (h[5] == 1 || h[5] == 2)) {
		bool client = h[5] == 1;
		/* Client's view: ClientHello out, ServerHello in. */
		if (client != out && !(server_side && !peer_is_loopback(p)))
			return;
		o = bpf_map_lookup_elem(&owners, &cookie);
		emit_pkt(skb, p, cookie, o, BUSTED_PKT_TLS_HELLO);
		need = (__s32)(((__u32)h[3] << 8) | h[4]) + 5 - (__s32)p->plen;
		if (need > 0 && need < 65536)
			bpf_map_update_elem(&hello_cont, &ck, &need, BPF_ANY);
		return;
	}
	left = bpf_map_lookup_elem(&hello_cont, &ck);
	if (!left)
		return;
	o = bpf_map_lookup_elem(&owners, &cookie);
	emit_pkt(skb, p, cookie, o, BUSTED_PKT_TLS_CONT);
	need = *left - (__s32)p->plen;
	if (need > 0)
		*left = need;
	else
		bpf_map_delete_elem(&hello_cont, &ck);
}

static __always_inline int handle(struct __sk_buff *skb, __u32 dir)
{
	struct busted_owner *o;
	struct pkt p = {};
	__u64 cookie;

	stat_inc(BUSTED_STAT_PKT_SEEN);
	if (parse(skb, &p, dir))
		return 1;
	cookie = bpf_get_socket_cookie(skb);
	if (p.flow.protocol == IPPROTO_UDP) {
		o = bpf_map_lookup_elem(&owners, &cookie);
		if (o) {
			if (dir == BUSTED_DIR_EGRESS)
				__sync_fetch_and_add(&o->bytes_sent, p.plen);
			else
				__sync_fetch_and_add(&o->bytes_received, p.plen);
		}
		udp_flow(skb, &p, cookie, o);
		if (p.plen && is_dns(&p))
			emit_pkt(skb, &p, cookie, o, BUSTED_PKT_DNS);
		return 1;
	}
	tcp_payload(skb, &p, cookie);
	return 1;
}

SEC("cgroup_skb/egress")
int handle_egress(struct __sk_buff *skb)
{
	return handle(skb, BUSTED_DIR_EGRESS);
}

SEC("cgroup_skb/ingress")
int handle_ingress(struct __sk_buff *skb)
{
	return handle(skb, BUSTED_DIR_INGRESS);
}
