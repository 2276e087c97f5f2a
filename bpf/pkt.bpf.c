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
#include "enforce.bpf.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

/* Report the server side of DNS and TLS handshakes with remote peers. */
const volatile __u8 server_side = 1;
const volatile __u16 dns_port = 53;
/* Enforcement: learn provider addresses from DNS answers, drop blocked
 * sockets' packets, tie TLS connections to their sockets. */
const volatile __u8 enforce_on = 0;

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

/* Plain-text HTTP connections (no TLS: a local Ollama or vLLM, an MCP
 * server on http://localhost) followed by copying their TCP payload both
 * ways; the engine reassembles it by sequence number and reads it as it
 * reads TLS plaintext. A socket enters when a segment it sends starts with
 * the request line of a POST, PUT or PATCH (the methods that carry a
 * prompt or a JSON-RPC call), whenever that is: a kept-alive connection
 * opened before the agent is followed from its next such request. A socket
 * that receives such a segment from a peer not on this host is followed
 * too (the server's view, with server_side). The engine marks a connection
 * whose first request was no LLM or MCP call BUSTED_PLAIN_SKIP, as it
 * does a TLS connection (tls_verdicts). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* socket cookie */
	__type(value, struct busted_plain_value);
} plain_socks SEC(".maps");

/* ClientHellos held because busted cannot read their connection's TLS
 * (socket cookie -> enum busted_hello_hold; see hello_hold), and TLS
 * connections whose request the engine holds (sock_held). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} hello_holds SEC(".maps");

/* QUIC connections held (quic_hold), by their client's socket cookie: the
 * peer a hold is for, since one unconnected socket may hold connections to
 * several (quinn's endpoint does). The engine sets `state` (the first
 * member) to BUSTED_HELLO_RELEASED, or deletes the entry. */
struct quic_hold {
	__u32 state; /* enum busted_hello_hold */
	__u16 dport;
	__u16 _pad;
	__u8 daddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct quic_hold);
} quic_holds SEC(".maps");

/* Follow plain-text HTTP (the engine clears it for --no-plain-http). */
const volatile __u8 plain_http = 1;

struct pkt {
	struct busted_flow flow; /* saddr/sport = this host's end */
	__u32 dir;
	__u32 off;  /* payload offset from the network header */
	__u32 plen; /* payload length */
	__u32 seq;  /* TCP: the sequence number of the payload's first byte */
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

/* A TCP segment with no payload (handshake, ACK, FIN): most packets, and
 * nothing here looks at them (parse() would say so too, after two helper
 * calls and zeroing a struct pkt). Read from the linear data the program
 * can load directly; false (go on to parse()) when the headers are not
 * there or the packet is anything else. */
static __always_inline bool tcp_bare(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 l4off;
	__u8 *doff;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP)
			return false;
		l4off = (ip->ihl & 0xf) * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return false;
		l4off = sizeof(*ip6);
	} else {
		return false;
	}
	doff = data + l4off + 12;
	if ((void *)(doff + 1) > end)
		return false;
	return skb->len <= l4off + (*doff >> 4) * 4;
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
		/* ports, sequence number, ack, data offset: one load */
		__u8 th[13];

		if (bpf_skb_load_bytes(skb, l4off, th, sizeof(th)))
			return -1;
		__builtin_memcpy(ports, th, sizeof(ports));
		p->seq = ((__u32)th[4] << 24) | ((__u32)th[5] << 16) | ((__u32)th[6] << 8) | th[7];
		p->off = l4off + (th[12] >> 4) * 4;
	} else if (p->flow.protocol == IPPROTO_UDP) {
		if (bpf_skb_load_bytes(skb, l4off, ports, sizeof(ports)))
			return -1;
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

/* The per-CPU record, its fixed part filled in for a packet of this socket
 * (len, cap_len and seq are the caller's); NULL if the scratch map fails. */
static __always_inline struct busted_pkt_event *pkt_record(struct __sk_buff *skb, struct pkt *p, __u64 cookie,
							   struct busted_owner *o, __u32 kind)
{
	struct busted_pkt_event *e;
	__u32 zero = 0;

	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return NULL;
	hdr_init(&e->hdr, BUSTED_KIND_PKT);
	owner_task(&e->hdr.task, o, skb);
	e->sock_id = cookie;
	e->flow = p->flow;
	e->pkt_kind = kind;
	e->dir = p->dir;
	e->seq = 0;
	e->flags = 0;
	return e;
}

/* Send the record with `cap` bytes of data, counting it or its loss; true when it went. */
static __always_inline bool send_pkt(struct busted_pkt_event *e, __u64 cap, __u64 flags)
{
	if (bpf_ringbuf_output(&events, e, offsetof(struct busted_pkt_event, data) + cap, flags)) {
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
		return false;
	}
	stat_inc(BUSTED_STAT_EVENTS);
	return true;
}

/* Copy up to BUSTED_PKT_MAX payload bytes into a record and send it; WAKE:
 * wake the engine now (a held answer or hello keeps a process waiting).
 * True when the record went. */
static __always_inline bool emit_pkt(struct __sk_buff *skb, struct pkt *p, __u64 cookie,
				     struct busted_owner *o, __u32 kind, __u32 flags, bool wake)
{
	struct busted_pkt_event *e;
	__u64 cap = p->plen; /* 64-bit: no zero-extended copy for the verifier to lose track of */

	e = pkt_record(skb, p, cookie, o, kind);
	if (!e)
		return false;
	if (cap > BUSTED_PKT_MAX) {
		cap = BUSTED_PKT_MAX;
		stat_inc(BUSTED_STAT_PKT_TRUNCATED);
	}
	/* Give the verifier a bound it can see through clang's rewriting. */
	asm volatile("%[c] &= 0x1fff" : [c] "+r"(cap));
	if (cap == 0 || cap > BUSTED_PKT_MAX)
		return false;
	if (bpf_skb_load_bytes(skb, p->off, e->data, cap))
		return false;
	e->hdr.task.flags |= flags;
	e->len = p->plen;
	e->cap_len = cap;
	return send_pkt(e, cap, wake ? BPF_RB_FORCE_WAKEUP : rb_flags());
}

/* A plain-text HTTP segment, whole: in records of up to BUSTED_PKT_MAX
 * bytes, each at its own sequence number. A segment longer than 128 of
 * them (512 KiB: loopback's TSO packets reach 512 KiB less 8 bytes) ends
 * with a record that says how many bytes were not copied (cap_len 0): the
 * engine sees the gap. */
#define STREAM_RECORDS 128

struct stream_walk {
	struct __sk_buff *skb;
	struct busted_pkt_event *e;
	__u64 flags; /* ring buffer output flags */
	__u32 first; /* busted_pkt_event.flags of the segment's first record */
	__u32 off;  /* the payload's offset in the packet */
	__u32 plen; /* its length */
	__u32 seq;
	__u32 done; /* bytes sent so far */
};

/* One record of a plain-text segment: the next BUSTED_PKT_MAX bytes or fewer. */
static long stream_step(__u32 i, struct stream_walk *w)
{
	struct busted_pkt_event *e = w->e;
	__u64 cap;

	if (w->done >= w->plen)
		return 1;
	cap = w->plen - w->done;
	if (cap > BUSTED_PKT_MAX)
		cap = BUSTED_PKT_MAX;
	asm volatile("%[c] &= 0x1fff" : [c] "+r"(cap));
	if (cap == 0 || cap > BUSTED_PKT_MAX)
		return 1;
	if (bpf_skb_load_bytes(w->skb, w->off + w->done, e->data, cap))
		return 1;
	e->len = cap;
	e->cap_len = cap;
	e->seq = w->seq + w->done;
	/* (no branch on `done`: the verifier would walk every iteration apart) */
	e->flags = w->first;
	w->first = 0;
	send_pkt(e, cap, w->flags);
	w->done += cap;
	return 0;
}

/* `flags`: BPF_RB_FORCE_WAKEUP for a held segment (its sender waits on the engine), else rb_flags();
 * `first`: the first record's busted_pkt_event.flags. */
static __always_inline void emit_stream(struct __sk_buff *skb, struct pkt *p, __u64 cookie, struct busted_owner *o, __u64 flags,
					__u32 first)
{
	struct stream_walk w = { .skb = skb, .off = p->off, .plen = p->plen, .seq = p->seq, .flags = flags, .first = first };
	struct busted_pkt_event *e = pkt_record(skb, p, cookie, o, BUSTED_PKT_HTTP);

	if (!e)
		return;
	w.e = e;
	bpf_loop(STREAM_RECORDS, stream_step, &w, 0);
	if (w.done < p->plen) {
		stat_inc(BUSTED_STAT_PKT_TRUNCATED);
		e->len = p->plen - w.done;
		e->cap_len = 0;
		e->seq = p->seq + w.done;
		e->flags = w.first;
		send_pkt(e, 0, flags);
	}
}

/* A held segment's IP and TCP headers (KIND: a plain-text segment, whose
 * payload goes as records; or an unreadable ClientHello), for the engine
 * to have it sent again once it has decided. False: not in the ring. */
static __always_inline bool emit_headers(struct __sk_buff *skb, struct pkt *p, __u64 cookie, struct busted_owner *o, __u32 kind,
					 __u32 flags)
{
	struct busted_pkt_event *e = pkt_record(skb, p, cookie, o, kind);
	__u64 hl = p->off;

	if (!e)
		return false;
	asm volatile("%[h] &= 0xff" : [h] "+r"(hl));
	if (hl < 40 || hl > 120 || bpf_skb_load_bytes(skb, 0, e->data, hl))
		return false;
	e->len = p->plen;
	e->cap_len = hl;
	e->seq = p->seq;
	e->flags = flags;
	if (bpf_ringbuf_output(&events, e, offsetof(struct busted_pkt_event, data) + hl, rb_flags())) {
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
		return false;
	}
	stat_inc(BUSTED_STAT_EVENTS);
	return true;
}

/* Plain-text requests are held while an engine that gates content runs
 * (its heartbeat is fresh): with none, a held segment would never go. */
static __always_inline bool plain_gate(void)
{
	struct busted_enforce_cfg *c;

	if (!enforce_on)
		return false;
	c = cfg();
	return c && (c->flags & BUSTED_CFG_GATE) && engine_heard(c);
}

/* A segment whose requests this host reads: going out (the client's view)
 * or, for a client not on this host, coming in (the server's: read only,
 * what arrives cannot be held here; a loopback exchange is read once, from
 * its client). Never the agent's own (a webhook output): it would hold
 * itself (conn.bpf.c keeps no owner for the agent's sockets, so the sender
 * is asked: a request leaves in its writer's context). */
static __always_inline bool plain_view(struct pkt *p, bool out)
{
	if (!out && !(server_side && !peer_is_loopback(p)))
		return false;
	return (bpf_get_current_pid_tgid() >> 32) != self_tgid;
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

/* What an egress program returns to drop a datagram without failing its
 * sendmsg (kernel/bpf/cgroup.c: 2 is "drop, congestion notified", which
 * UDP takes for ENOBUFS and does not report to a socket without
 * IP_RECVERR; 0 would fail the send with EPERM, and a QUIC client takes a
 * failed write for a dead connection). */
#define DROP_QUIETLY 2

#define QUIC_LONG 1    /* a long-header packet of QUIC version 1 or 2 */
#define QUIC_INITIAL 2 /* ... and an Initial */

/* Whether a datagram starts with a QUIC long-header packet, version 1 or 2
 * (RFC 9000 17.2, RFC 9369 3.2: the form and fixed bits, the version), and
 * whether that is an Initial (the version's Initial type). Only the first
 * packets of a connection have long headers, so a QUIC connection costs a
 * few copies, not one per packet. */
static __always_inline __u32 quic_long(struct __sk_buff *skb, const struct pkt *p)
{
	__u8 h[5];

	if (p->plen < 64 || bpf_skb_load_bytes(skb, p->off, h, 5) || (h[0] & 0xc0) != 0xc0)
		return 0;
	if (h[1] == 0 && h[2] == 0 && h[3] == 0 && h[4] == 1)
		return (h[0] & 0xf0) == 0xc0 ? QUIC_INITIAL : QUIC_LONG;
	if (h[1] == 0x6b && h[2] == 0x33 && h[3] == 0x43 && h[4] == 0xcf)
		return (h[0] & 0xf0) == 0xd0 ? QUIC_INITIAL : QUIC_LONG;
	return 0;
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

/* ---- enforcement ---------------------------------------------------------- */

/* A DNS message under study (the question's name goes to name_buf). */
#define DNS_BUF 1024
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[DNS_BUF]);
} dns_msg SEC(".maps");

static __always_inline __u8 *dns_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&dns_msg, &zero);
}

#define DNS_AT(m, i) ((m)[(i) & (DNS_BUF - 1)])
#define MAX_ANSWERS 16

struct qname_walk {
	__u32 len;  /* bytes of the message */
	__u32 left; /* bytes left in the current label */
	__u32 end;  /* offset after the name's final zero; 0 until found */
	__u32 bad;
};

/* One byte of the question's name: labels to dots,
 * "\3api\6openai\3com\0" -> "api.openai.com" in name_buf. */
static long qname_step(__u32 k, struct qname_walk *w)
{
	__u8 *m = dns_scratch();
	char *name = name_scratch();
	__u8 b;

	if (!m || !name || 12 + k >= w->len) {
		w->bad = 1;
		return 1;
	}
	b = DNS_AT(m, 12 + k);
	if (w->left == 0) {
		if (b == 0) {
			w->end = 12 + k + 1;
			return 1;
		}
		if (b > 63) { /* a compression pointer or garbage: not in a question */
			w->bad = 1;
			return 1;
		}
		w->left = b;
		if (k > 0)
			name[(k - 1) & (NAME_BUF - 1)] = '.';
	} else {
		if (k > 0)
			name[(k - 1) & (NAME_BUF - 1)] = b;
		w->left--;
	}
	return 0;
}

struct answer_walk {
	__u32 len;
	__u32 pos;
	__u32 an;
	__u32 klass;
	__u64 image;
	__u64 now;
};

/* One resource record of the answer section: A and AAAA become dest entries. */
static long answer_step(__u32 i, struct answer_walk *w)
{
	struct busted_dest_value dv = { .klass = w->klass, .source = BUSTED_DEST_DNS, .learnt_ns = w->now };
	struct busted_dest_key dk = { .image = w->image };
	__u8 *m = dns_scratch();
	__u32 pos = w->pos, rtype, rdlen;

	if (!m || i >= w->an || pos + 12 > w->len)
		return 1;
	/* owner name: resolvers point back at the question (RFC 1035 4.1.4) */
	if ((DNS_AT(m, pos) & 0xc0) != 0xc0)
		return 1;
	pos += 2;
	rtype = ((__u32)DNS_AT(m, pos) << 8) | DNS_AT(m, pos + 1);
	rdlen = ((__u32)DNS_AT(m, pos + 8) << 8) | DNS_AT(m, pos + 9);
	pos += 10;
	if (pos + rdlen > w->len)
		return 1;
	if (DNS_AT(m, pos - 8) == 0 && DNS_AT(m, pos - 7) == 1) { /* class IN */
		if (rtype == 1 && rdlen == 4) {
			dk.family = 4;
			for (int j = 0; j < 4; j++)
				dk.addr[j] = DNS_AT(m, pos + j);
			bpf_map_update_elem(&dest, &dk, &dv, BPF_ANY);
		} else if (rtype == 28 && rdlen == 16) {
			dk.family = 6;
			for (int j = 0; j < 16; j++)
				dk.addr[j] = DNS_AT(m, pos + j);
			bpf_map_update_elem(&dest, &dk, &dv, BPF_ANY);
		}
	}
	w->pos = pos + rdlen;
	return 0;
}

/*
 * An answer to a name the engine classified (a provider's domain): every
 * A/AAAA record in it becomes a dest entry for the process the answer is
 * for, before that process can read it (this hook runs before the datagram
 * is queued on its socket), so its first connect() is already decided.
 * CNAME chains need nothing special: the addresses at the end of the chain
 * are what the question's name leads to. Only uncompressed questions and
 * compressed answer owner names are read (what resolvers send); anything
 * else stops the walk.
 */
/*
 * Hold the answer instead (the caller drops it; the engine sends it on
 * once it has decided)
 * - when the policy decides on host names and the engine has not decided
 *   on this one yet (the first lookup of a look-alike name must already
 *   lead to a refused connect);
 * - when verdicts are per program image and this process runs one the
 *   engine has not evaluated yet: it has just executed, and its first
 *   connection to the provider must already meet its own verdict, not its
 *   cgroup's.
 */
static __always_inline bool must_hold(__u32 tgid, struct busted_proc_value *pv, __u32 klass, __u32 known)
{
	struct busted_enforce_cfg *c = cfg();

	if (!tgid || !c)
		return false;
	if (bpf_ktime_get_ns() - c->heartbeat_ns > HEARTBEAT_MAX_NS)
		return false; /* no engine to send it on */
	/* a name the policy may decide on that the engine has not seen yet */
	if (!known)
		return c->flags & BUSTED_CFG_HOLD_NAMES;
	if (klass == BUSTED_CLASS_NONE || klass == BUSTED_CLASS_HOST || !(c->flags & BUSTED_CFG_PER_IMAGE))
		return false;
	return pv && !bpf_map_lookup_elem(&image_verdicts, &pv->image);
}

/* Returns true when the answer is to be held (dropped and sent on by the engine). */
static __always_inline bool dns_learn(struct __sk_buff *skb, struct pkt *p, __u32 off, __u32 tgid, bool may_hold)
{
	struct busted_proc_value *pv = tgid ? bpf_map_lookup_elem(&procs, &tgid) : NULL;
	struct answer_walk a = { .image = pv ? pv->image : 0 };
	struct qname_walk q = {};
	__u8 *m = dns_scratch();
	__u64 len = p->plen; /* 64-bit, as in emit_pkt: a bound the verifier keeps */
	__u32 known = 0;

	if (!m || len < 12 + 5)
		return false;
	if (len > DNS_BUF)
		len = DNS_BUF;
	asm volatile("%[l] &= 0x7ff" : [l] "+r"(len));
	if (len < 17 || len > DNS_BUF)
		return false;
	if (bpf_skb_load_bytes(skb, off, m, len))
		return false;
	/* a response (QR), no error, one question, some answers */
	if (!(m[2] & 0x80) || (m[3] & 0x0f) || m[4] || m[5] != 1)
		return false;
	a.an = ((__u32)m[6] << 8) | m[7];
	if (a.an == 0)
		return false;
	if (a.an > MAX_ANSWERS)
		a.an = MAX_ANSWERS;
	q.len = len;
	bpf_loop(NAME_BUF, qname_step, &q, 0);
	if (q.bad || q.end < 14)
		return false;
	a.klass = name_class(q.end - 14, &known);
	/* a refused host is refused to the program that looked it up, never to everyone */
	if (a.klass != BUSTED_CLASS_NONE && !(a.klass == BUSTED_CLASS_HOST && !a.image)) {
		a.len = len;
		a.pos = q.end + 4; /* QTYPE, QCLASS */
		a.now = bpf_ktime_get_ns();
		bpf_loop(MAX_ANSWERS, answer_step, &a, 0);
	}
	return may_hold && must_hold(tgid, pv, a.klass, known);
}

/* Egress of a blocked socket: drop (TCP retransmits into the same wall
 * until the engine destroys the socket). Reported once per socket. A
 * packet sent by a thread in blocked_tids blocks its socket first. */
static __always_inline bool blocked(struct __sk_buff *skb, struct pkt *p, __u64 cookie)
{
	struct busted_enforce_event *e;
	__u32 *seen = bpf_map_lookup_elem(&blocked_socks, &cookie);

	if (!seen) {
		__u64 id = bpf_get_current_pid_tgid();
		__u32 tid = (__u32)id, zero = 0;
		__u32 *pid = bpf_map_lookup_elem(&blocked_tids, &tid);

		if (!pid || *pid != (id >> 32))
			return false;
		bpf_map_delete_elem(&blocked_tids, &tid);
		bpf_map_update_elem(&blocked_socks, &cookie, &zero, BPF_ANY);
		seen = bpf_map_lookup_elem(&blocked_socks, &cookie);
		if (!seen)
			return true;
	}
	if (*seen == 0) {
		*seen = 1;
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			hdr_init(&e->hdr, BUSTED_KIND_ENFORCE);
			__builtin_memset(&e->hdr.task, 0, sizeof(e->hdr.task));
			e->hdr.task.cgroup_id = bpf_skb_cgroup_id(skb);
			e->sock_id = cookie;
			e->image = 0;
			e->ssl = 0;
			e->flow = p->flow;
			e->what = BUSTED_ENF_PACKET_DROPPED;
			e->klass = 0;
			e->source = 0;
			e->_pad = 0;
			bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
		}
	}
	return true;
}

/* A ClientHello leaves in the context of the thread doing the handshake:
 * the SSL* that thread last handed to a probed TLS library (tls.bpf.c), if
 * it did; none means its TLS library is not one busted reads. */
static __always_inline struct busted_tls_key *handshake_ssl(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct busted_tls_key *k = bpf_map_lookup_elem(&last_ssl, &tid);

	return k && k->pid == (id >> 32) ? k : NULL;
}

/* That SSL* is this socket's: the engine is told (enforcement needs the
 * socket to block the connection; a library that names no SNI, Go's, has
 * its connection's from this hello); the thread's note is used up either way. */
static __always_inline void tie_ssl(struct pkt *p, __u64 cookie, struct busted_tls_key *k)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct busted_enforce_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
		goto out;
	}
	hdr_init(&e->hdr, BUSTED_KIND_ENFORCE);
	task_from_current(&e->hdr.task);
	e->hdr.task.ppid = 0;
	e->sock_id = cookie;
	e->image = 0;
	e->ssl = k->ssl;
	e->flow = p->flow;
	e->what = BUSTED_ENF_SSL_SOCKET;
	e->klass = 0;
	e->source = 0;
	e->_pad = 0;
	bpf_ringbuf_submit(e, rb_flags());
	stat_inc(BUSTED_STAT_EVENTS);
	/* for a write of it held here rather than by stopping its thread
	 * (tls.bpf.c hold_in_packets): the engine, told above, can let it go */
	if (enforce_on)
		bpf_map_update_elem(&ssl_socks, k, &cookie, BPF_ANY);
out:
	bpf_map_delete_elem(&last_ssl, &tid);
}

/* A ClientHello under study (its server name goes to name_buf). Chrome's,
 * with a post-quantum key share, is near 2 KiB, and it puts its
 * extensions in random order: the server name may come late. */
#define HELLO_BUF 4096
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[HELLO_BUF]);
} hello_buf SEC(".maps");

#define HELLO_AT(m, i) ((__u32)(m)[(i) & (HELLO_BUF - 1)])

struct sni_walk {
	__u32 pos;     /* the next extension's start */
	__u32 end;     /* the extensions' end */
	__u32 name_at; /* the host name's start, once found */
	__u32 name_len;
};

/* One extension of a ClientHello: stops at server_name (RFC 6066 3: a list
 * of entries, the first a host_name, type 0, with a 2-byte length). */
static long sni_step(__u32 i, struct sni_walk *w)
{
	__u32 zero = 0, pos = w->pos, type, elen, n;
	__u8 *m = bpf_map_lookup_elem(&hello_buf, &zero);

	if (!m || pos + 4 > w->end)
		return 1;
	type = (HELLO_AT(m, pos) << 8) | HELLO_AT(m, pos + 1);
	elen = (HELLO_AT(m, pos + 2) << 8) | HELLO_AT(m, pos + 3);
	if (type == 0) {
		n = (HELLO_AT(m, pos + 7) << 8) | HELLO_AT(m, pos + 8);
		if (elen >= 5 && HELLO_AT(m, pos + 6) == 0 && n > 0 && n < NAME_BUF && pos + 9 + n <= w->end) {
			w->name_at = pos + 9;
			w->name_len = n;
		}
		return 1;
	}
	w->pos = pos + 4 + elen;
	return 0;
}

/* The server name of the ClientHello record at OFF (PLEN bytes of it in
 * this segment) into name_buf: its length, 0 when it names none (or what
 * it is cut off in the first HELLO_BUF bytes). */
static __always_inline __u32 hello_sni(struct __sk_buff *skb, __u32 off, __u32 plen)
{
	__u32 zero = 0, pos;
	__u8 *m = bpf_map_lookup_elem(&hello_buf, &zero);
	char *name = name_scratch();
	struct sni_walk w = {};
	__u64 len = plen, n;

	if (!m || !name)
		return 0;
	if (len > HELLO_BUF)
		len = HELLO_BUF;
	asm volatile("%[l] &= 0x1fff" : [l] "+r"(len));
	if (len < 46 || len > HELLO_BUF || bpf_skb_load_bytes(skb, off, m, len))
		return 0;
	/* record (5) and handshake (4) headers, version (2), random (32); then
	 * the session id, cipher suites and compression methods, each after
	 * its length; then the extensions' length */
	pos = 44 + HELLO_AT(m, 43);
	pos += 2 + ((HELLO_AT(m, pos) << 8) | HELLO_AT(m, pos + 1));
	pos += 1 + HELLO_AT(m, pos);
	if (pos + 2 > len)
		return 0;
	w.end = pos + 2 + ((HELLO_AT(m, pos) << 8) | HELLO_AT(m, pos + 1));
	if (w.end > len)
		w.end = len;
	w.pos = pos + 2;
	bpf_loop(64, sni_step, &w, 0);
	n = w.name_len;
	asm volatile("%[n] &= 0xff" : [n] "+r"(n));
	if (n == 0 || bpf_skb_load_bytes(skb, off + w.name_at, name, n))
		return 0;
	return n;
}

/* What a hold of a hello going to P's destination is decided on: the
 * engine's settings C, the sending process PV (NULL if unknown) and where
 * the kernel knows that address to lead for it, D (NULL: nowhere it
 * learnt). False when no engine that gates runs, or for the agent itself. */
static __always_inline bool hold_target(struct pkt *p, __u32 tgid, struct busted_enforce_cfg **c, struct busted_proc_value **pv,
					struct busted_dest_value **d)
{
	if (!plain_gate() || tgid == self_tgid)
		return false;
	*c = cfg();
	if (!*c)
		return false;
	*pv = bpf_map_lookup_elem(&procs, &tgid);
	*d = dest_of(*pv ? (*pv)->image : 0, p->flow.family, p->flow.daddr);
	return true;
}

/* A class whose content the engine judges (gate_classes). */
static __always_inline bool class_judged(const struct busted_enforce_cfg *c, __u32 klass)
{
	return klass < 64 && (c->gate_classes & (1ULL << klass));
}

/*
 * An egress ClientHello whose thread went through no probed TLS library
 * (Chromium's BoringSSL, rustls, a Go binary busted does not probe): what that connection
 * sends cannot be read, so a policy can only judge it by its hello (TLS
 * busted cannot read). When it goes to a destination in a class whose
 * content the engine judges (gate_classes) and an engine that gates runs,
 * it is held, as a gated TLS write is: dropped, with its IP and TCP headers
 * copied (BUSTED_PKT_HELLO_HELD, before the hello's own record, which
 * wakes the engine), until the engine has decided. Its retries
 * are dropped too; the engine then destroys the socket, or marks it
 * released and has the server acknowledge (kernel/reinject.ts tcpProbe), so
 * the retry that follows passes at once. A retry is never reported again.
 *
 * PROBED: the hello of a probed library, whose writes are gated (tls.bpf.c),
 * so what it sends is judged before it leaves. Its hello is held only where
 * its connect() could not be refused, not knowing where it went: to an
 * address the kernel did not learn (a proxy's CONNECT tunnel, an address
 * the program was given), asking for a name this process may not reach at
 * all or a host the policy refused. Then no handshake with it completes.
 * Returns 1: drop, 0: send on and report, -1: send on unreported.
 */
static __always_inline int hello_hold(struct __sk_buff *skb, struct pkt *p, __u64 cookie, struct busted_owner *o, bool whole, bool probed)
{
	__u32 *st = bpf_map_lookup_elem(&hello_holds, &cookie);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, held = BUSTED_HELLO_HELD;
	struct busted_enforce_cfg *c;
	struct busted_proc_value *pv;
	struct busted_dest_value *d;

	if (st) {
		if (*st == BUSTED_HELLO_HELD && plain_gate())
			return 1;
		/* released, or no engine to decide any more */
		bpf_map_delete_elem(&hello_holds, &cookie);
		return -1;
	}
	/* a hello whose rest comes in later segments is not held: while its
	 * first is held the sender sends none of them, and the engine would
	 * wait for the rest (a sender without segmentation offload; with it,
	 * the hello is one packet here however long) */
	if (!whole || !hold_target(p, tgid, &c, &pv, &d))
		return 0;
	if (d) {
		if (probed || !class_judged(c, d->klass))
			return 0;
	} else {
		/* An address the kernel did not learn (the program resolved the name
		 * itself, over DNS over HTTPS, or was given the address): the name
		 * the hello asks for decides, as the SNI probe's does for a probed
		 * library. Held when that name is in a class the engine judges, one
		 * this process may not reach at all (its connect() could not be
		 * refused, not knowing where it went), or a host the policy refused. */
		__u32 n, known, klass, source;
		__u64 image;

		/* a probed library's, with nothing this process may not reach and no
		 * names decided on: not held whatever it asks for (its writes are gated),
		 * so not read either */
		if (probed && !(c->flags & BUSTED_CFG_HOLD_NAMES) && !blocked_classes(pv, &image, &source))
			return 0;
		n = hello_sni(skb, p->off, p->plen);
		if (!n)
			return 0;
		klass = name_class(n, &known);
		if (klass == BUSTED_CLASS_NONE || klass >= 64)
			return 0;
		if (klass != BUSTED_CLASS_HOST && (probed || !class_judged(c, klass)) && !(blocked_classes(pv, &image, &source) & (1ULL << klass)))
			return 0;
	}
	/* held only when the engine will know: a hold it never heard of would
	 * keep the connection from going anywhere while the engine lives */
	if (!emit_headers(skb, p, cookie, o, BUSTED_PKT_HELLO_HELD, 0))
		return 0;
	bpf_map_update_elem(&hello_holds, &cookie, &held, BPF_ANY);
	return 1;
}

/* Whether a QUIC hold is for P's peer. */
static __always_inline bool same_peer(const struct quic_hold *h, const struct pkt *p)
{
	const __u32 *a = (const __u32 *)h->daddr, *b = (const __u32 *)p->flow.daddr;

	/* (word by word: a memcmp would be a call to a function BPF lacks) */
	return h->dport == p->flow.dport && a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

/*
 * A QUIC client's datagram (long header, egress, no probed TLS library on
 * its thread): what a QUIC connection carries busted never reads, and its
 * ClientHello is encrypted (with keys anyone can derive, but not here), so
 * the name it asks for is the engine's to read. So its connection is held
 * as an unreadable TCP hello is (hello_hold), from its first Initial:
 * - to an address the kernel learnt, when that address's class is one whose
 *   content the engine judges;
 * - to one it did not learn (the program resolved the name itself, over DNS
 *   over HTTPS), whenever the policy can refuse anything by name: a class
 *   judged, or blocked for this process, or names decided on.
 * Every long-header datagram of the socket to that peer is then dropped and copied whole
 * (BUSTED_PKT_QUIC_HELD) until the engine has decided on the hello: it
 * sends them on itself (a QUIC client would wait a probe timeout to send
 * them again), or destroys the socket.
 * Returns 0: send on; 1: held (hold going on); 2: held, a new hold (the
 * caller records it once the engine has the datagram).
 */
static __always_inline int quic_hold(struct pkt *p, __u64 cookie, bool initial)
{
	struct quic_hold *h = bpf_map_lookup_elem(&quic_holds, &cookie);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, source;
	struct busted_enforce_cfg *c;
	struct busted_proc_value *pv;
	struct busted_dest_value *d;
	__u64 image;

	if (h && same_peer(h, p))
		/* released: the rest of the connection goes; a hold with no engine left goes too */
		return h->state == BUSTED_HELLO_HELD && plain_gate() ? 1 : 0;
	/* another peer of an unconnected socket: held as its own connection
	 * unless one is held now (then decided after the fact) */
	if (h && h->state == BUSTED_HELLO_HELD && plain_gate())
		return 0;
	if (!initial || !hold_target(p, tgid, &c, &pv, &d))
		return 0;
	if (d)
		return class_judged(c, d->klass) ? 2 : 0;
	return c->gate_classes || (c->flags & BUSTED_CFG_HOLD_NAMES) || blocked_classes(pv, &image, &source) ? 2 : 0;
}

/*
 * A TLS connection whose request the engine let go in part (a prompt
 * written in pieces, each judged as it came): what it sends is held here
 * until the request is decided whole, so that nothing of a request later
 * blocked reaches the server (half a secret cut between two writes
 * included). Its sender's TCP takes each drop for a failed transmission
 * and tries again; the engine then deletes the entry and has the server
 * acknowledge (tcpProbe, from the headers of the first held segment), or
 * destroys the socket. True: drop.
 */
static __always_inline bool sock_held(struct __sk_buff *skb, struct pkt *p, __u64 cookie)
{
	__u32 *st = bpf_map_lookup_elem(&hello_holds, &cookie);

	if (!st || (*st != BUSTED_SOCK_HOLD && *st != BUSTED_SOCK_HOLD_SEEN))
		return false;
	if (!plain_gate()) {
		/* no engine to let it go */
		bpf_map_delete_elem(&hello_holds, &cookie);
		return false;
	}
	if (*st == BUSTED_SOCK_HOLD && emit_headers(skb, p, cookie, bpf_map_lookup_elem(&owners, &cookie), BUSTED_PKT_SOCK_HELD, 0))
		*st = BUSTED_SOCK_HOLD_SEEN;
	return true;
}

/*
 * A TLS connection with a write held here rather than by stopping its
 * thread (tls.bpf.c hold_in_packets) that the engine has not let go: what
 * it sends is dropped and stays first in its sender's queue, and once the
 * engine lets the writes go it moves the sender on (pushes its socket, or
 * has the server acknowledge: engine/kernel/push.ts), the socket named by
 * the headers told here. True: drop.
 */
static __always_inline bool pkt_held(struct __sk_buff *skb, struct pkt *p, __u64 cookie)
{
	__u32 *held = bpf_map_lookup_elem(&pkt_holds, &cookie), *let;

	if (!held)
		return false;
	let = bpf_map_lookup_elem(&pkt_released, &cookie);
	if ((__s32)(*held - (let ? *let : 0)) <= 0 || !plain_gate())
		return false; /* all let go, or no engine to let them go */
	emit_headers(skb, p, cookie, bpf_map_lookup_elem(&owners, &cookie), BUSTED_PKT_SOCK_HELD, 0);
	return true;
}

static __always_inline int tcp_payload(struct __sk_buff *skb, struct pkt *p, __u64 cookie)
{
	struct busted_owner *o;
	__u8 h[6] = {};
	__u64 ck, n;
	__s32 *left, need;
	bool out = p->dir == BUSTED_DIR_EGRESS;

	if (is_dns(p)) {
		o = bpf_map_lookup_elem(&owners, &cookie);
		emit_pkt(skb, p, cookie, o, BUSTED_PKT_DNS, 0, false);
		/* DNS over TCP: a 2-byte length, then the message (never held:
		 * a dropped segment would only come back as a retransmission) */
		if (enforce_on && !out)
			dns_learn(skb, p, p->off + 2, o ? o->task.pid : 0, false);
		return 1;
	}
	if (out && enforce_on && (sock_held(skb, p, cookie) || pkt_held(skb, p, cookie)))
		return 0;
	ck = cookie ^ p->dir;
	/* the first 6 bytes, or all of a shorter segment (the rest of h zero) */
	n = p->plen < 6 ? p->plen : 6;
	asm volatile("%[n] &= 7" : [n] "+r"(n));
	if (n == 0 || n > 6 || bpf_skb_load_bytes(skb, p->off, h, n))
		return 1;
	/* A handshake record (RFC 8446 §5.1) of TLS 1.0-1.3 whose first message
	 * is a ClientHello (1) or ServerHello (2). */
	if (h[0] == 0x16 && h[1] == 0x03 && (h[5] == 1 || h[5] == 2)) {
		bool client = h[5] == 1;
		/* a ServerHello going out is written by the server's handshaking
		 * thread: the SSL* it last handed a probed library is this
		 * socket's (a server's TLS events then say which connection) */
		if (!client && out) {
			struct busted_tls_key *sk = handshake_ssl();

			if (sk)
				tie_ssl(p, cookie, sk);
		}
		/* Client's view: ClientHello out, ServerHello in. */
		if (client != out && !(server_side && !peer_is_loopback(p)))
			return 1;
		struct busted_tls_key *k = client && out ? handshake_ssl() : NULL;
		int hold = 0;

		o = bpf_map_lookup_elem(&owners, &cookie);
		need = (__s32)(((__u32)h[3] << 8) | h[4]) + 5 - (__s32)p->plen;
		if (client && out && enforce_on) {
			hold = hello_hold(skb, p, cookie, o, need <= 0, k != NULL);
			if (hold < 0)
				return 1;
		}
		emit_pkt(skb, p, cookie, o, BUSTED_PKT_TLS_HELLO, k ? BUSTED_TASK_TLS_PROBED : 0, hold > 0);
		if (k)
			tie_ssl(p, cookie, k);
		if (need > 0 && need < 65536)
			bpf_map_update_elem(&hello_cont, &ck, &need, BPF_ANY);
		return hold ? 0 : 1;
	}
	left = bpf_map_lookup_elem(&hello_cont, &ck);
	if (!left) {
		struct busted_plain_value *pv;
		__u32 restart = 0;
		bool gated;

		if (!plain_http)
			return 1;
		pv = bpf_map_lookup_elem(&plain_socks, &cookie);
		if (pv && pv->verdict == BUSTED_PLAIN_SKIP) {
			/* A connection marked skip (its first request was no LLM or
			 * MCP call: a model list, a health check) is followed again
			 * from its next request that can carry a body, so that a
			 * prompt after such a request is read, and held, all the
			 * same. `released` is how far the engine had read: a segment
			 * before it is a retry of what was read (skipped), and one
			 * that runs past it carries what was written since, which is
			 * looked at where it starts (fewer than 6 bytes of it: followed,
			 * for they may begin a request line written in pieces). */
			__s32 at = (__s32)(pv->released - p->seq);
			__u8 r[6];

			/* only its requests' way: the answers' sequence numbers count otherwise */
			if (p->dir != pv->dir || !plain_view(p, out))
				return 1;
			if (at > 0 && at < (1 << 30)) {
				if (at >= (__s32)p->plen)
					return 1;
				if (at <= (__s32)p->plen - 6 &&
				    (bpf_skb_load_bytes(skb, p->off + (__u32)at, r, 6) || !request_start(r, 6))) {
					pv->released = p->seq + p->plen;
					return 1;
				}
			} else {
				/* what passes unread moves `released` on with it, so that
				 * it stays within reach of the next request (a sequence
				 * number 3 GB on would pass for a retry) */
				if (!request_start(h, n)) {
					pv->released = p->seq + p->plen;
					return 1;
				}
				pv->released = p->seq;
			}
			pv->verdict = out && plain_gate() ? BUSTED_PLAIN_GATE : BUSTED_PLAIN_CAPTURE;
			restart = BUSTED_PKT_F_RESTART;
		} else if (!pv) {
			struct busted_plain_value nv = { .verdict = BUSTED_PLAIN_CAPTURE, .released = p->seq, .dir = p->dir };

			if (!request_start(h, n) || !plain_view(p, out))
				return 1;
			if (out && plain_gate())
				nv.verdict = BUSTED_PLAIN_GATE;
			bpf_map_update_elem(&plain_socks, &cookie, &nv, BPF_ANY);
			pv = bpf_map_lookup_elem(&plain_socks, &cookie);
			if (!pv)
				return 1;
		}
		/* On a gated connection, what the engine has not let go yet
		 * (from `released` on) is dropped and copied, with its headers.
		 * The sender's TCP takes the drop for a failed transmission: the
		 * segment stays first in its queue, later writes are appended to
		 * it, and it is tried again when an ACK comes (the engine makes
		 * the server send one) or its probe timer runs out. So the engine
		 * sees the request grow until it is whole, decides, moves
		 * `released` past it, and asks for the retry that now passes.
		 * A segment is held when any of its bytes is past `released`:
		 * a retry may carry more than the engine read (what was written
		 * since is appended to it), and none of that may pass unread. */
		gated = out && pv->verdict == BUSTED_PLAIN_GATE && (__s32)(p->seq + p->plen - pv->released) > 0 && plain_gate();
		o = bpf_map_lookup_elem(&owners, &cookie);
		/* a restart is said by the segment's first record: the held one, or its first piece */
		if (gated)
			emit_headers(skb, p, cookie, o, BUSTED_PKT_HTTP_HELD, restart);
		emit_stream(skb, p, cookie, o, gated ? BPF_RB_FORCE_WAKEUP : rb_flags(), gated ? 0 : restart);
		return gated ? 0 : 1;
	}
	o = bpf_map_lookup_elem(&owners, &cookie);
	emit_pkt(skb, p, cookie, o, BUSTED_PKT_TLS_CONT, 0, false);
	need = *left - (__s32)p->plen;
	if (need > 0)
		*left = need;
	else
		bpf_map_delete_elem(&hello_cont, &ck);
	return 1;
}

static __always_inline int handle(struct __sk_buff *skb, __u32 dir)
{
	struct busted_owner *o;
	struct pkt p = {};
	__u64 cookie;

	stat_inc(BUSTED_STAT_PKT_SEEN);
	if (tcp_bare(skb) || parse(skb, &p, dir))
		return 1;
	cookie = bpf_get_socket_cookie(skb);
	/* the engine's own probe for a held plain-text request (reinject.ts tcpProbe): no client's */
	if (enforce_on && p.flow.protocol == IPPROTO_TCP && skb->mark == BUSTED_REINJECT_MARK)
		return 1;
	if (enforce_on && dir == BUSTED_DIR_EGRESS && blocked(skb, &p, cookie))
		return 0;
	if (p.flow.protocol == IPPROTO_UDP) {
		/* a held QUIC datagram the engine sends on (reinject.ts): seen and reported already */
		if (enforce_on && dir == BUSTED_DIR_EGRESS && skb->mark == BUSTED_REINJECT_MARK)
			return 1;
		o = bpf_map_lookup_elem(&owners, &cookie);
		if (o) {
			if (dir == BUSTED_DIR_EGRESS)
				__sync_fetch_and_add(&o->bytes_sent, p.plen);
			else
				__sync_fetch_and_add(&o->bytes_received, p.plen);
		}
		udp_flow(skb, &p, cookie, o);
		if (p.plen && is_dns(&p)) {
			if (enforce_on && dir == BUSTED_DIR_INGRESS) {
				/* the engine's copy of an answer it held: reported then already */
				if (skb->mark == BUSTED_REINJECT_MARK) {
					dns_learn(skb, &p, p.off, o ? o->task.pid : 0, false);
					return 1;
				}
				if (dns_learn(skb, &p, p.off, o ? o->task.pid : 0, true)) {
					emit_pkt(skb, &p, cookie, o, BUSTED_PKT_DNS_HELD, 0, true);
					return 0;
				}
			}
			emit_pkt(skb, &p, cookie, o, BUSTED_PKT_DNS, 0, false);
		} else {
			__u32 q = quic_long(skb, &p);
			/* marked as a TCP ClientHello is: did its thread go through a probed TLS library */
			struct busted_tls_key *k = q && dir == BUSTED_DIR_EGRESS ? handshake_ssl() : NULL;
			int hold = q && !k && enforce_on && dir == BUSTED_DIR_EGRESS ? quic_hold(&p, cookie, q == QUIC_INITIAL) : 0;

			if (hold) {
				/* held only when the engine will know: it sends the datagram on itself */
				if (emit_pkt(skb, &p, cookie, o, BUSTED_PKT_QUIC_HELD, 0, true)) {
					if (hold > 1) {
						struct quic_hold h = { .state = BUSTED_HELLO_HELD, .dport = p.flow.dport };

						__builtin_memcpy(h.daddr, p.flow.daddr, 16);
						bpf_map_update_elem(&quic_holds, &cookie, &h, BPF_ANY);
					}
					return DROP_QUIETLY;
				}
				if (hold == 1)
					return DROP_QUIETLY; /* the engine has the first: the client sends this one again */
			}
			if (q == QUIC_INITIAL)
				emit_pkt(skb, &p, cookie, o, BUSTED_PKT_QUIC, k ? BUSTED_TASK_TLS_PROBED : 0, false);
		}
		return 1;
	}
	return tcp_payload(skb, &p, cookie);
}

SEC("cgroup_skb/egress")
int handle_egress(struct __sk_buff *skb)
{
	return handle(skb, BUSTED_DIR_EGRESS);
}

SEC("cgroup_skb/ingress")
int handle_ingress(struct __sk_buff *skb)
{
	/* (an ingress program may only pass or drop) */
	return handle(skb, BUSTED_DIR_INGRESS) & 1;
}
