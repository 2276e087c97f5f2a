// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * flow.bpf.h — the shape of each TCP connection this host opens, counted in
 * the kernel from every sendmsg/recvmsg (tp_btf sock/sock_send_length and
 * sock/sock_recv_length, which net/socket.c fires after each
 * sock_sendmsg_nosec/sock_recvmsg_nosec with the bytes moved) and reported
 * as a struct busted_flow_event: now and then while the connection is busy,
 * and once at its close. No record per read or write: what the behavioural
 * classifier needs (sizes, exchanges, time to first byte, the cadence of
 * the response) is aggregated here, so a streamed completion of a thousand
 * tokens costs the ring one record a second, not a thousand.
 *
 * Part of conn.bpf.c, whose inet_sock_set_state program also ends the
 * flows (flow_close): one program on that tracepoint, not two, and one
 * owners entry read by both.
 *
 * Only connections opened by connect() in the scope are counted: their
 * owners entry is marked BUSTED_OWNER_ACTIVE at CLOSE -> SYN_SENT, and their
 * flows entry is made at the first send or receive, from it. A connection
 * that never moves a byte (a health check, a refused connect) costs the
 * flows map nothing. Every other socket's send or receive costs a lookup
 * in each map that misses or says "not counted".
 *
 * The counters of one socket are updated without atomics: two threads
 * writing the same socket at the same instant can lose an increment, which
 * is noise for a classifier, not an error.
 */
#ifndef BUSTED_FLOW_BPF_H
#define BUSTED_FLOW_BPF_H
#include "common.bpf.h"

#define MSG_PEEK 2

/* Receives closer together than this are one burst (bpf/busted.h). */
const volatile __u64 flow_burst_ns = 1000000;
/* A busy connection is reported at most this often (0: only at close). */
const volatile __u64 flow_report_ns = 1000000000;
/* A send this small while a response arrives is flow control, not a new
 * request: HTTP/2 WINDOW_UPDATE and PING acks, WebSocket pongs, TCP-level
 * keep-alives (13-17 byte frames, 35-48 bytes inside a TLS record); the
 * smallest real request line with TLS is larger. */
const volatile __u64 flow_ctrl_bytes = 64;

/* What is kept per connection: the record as it will be sent, and the
 * state of the exchange and burst in progress. */
struct flow_state {
	struct busted_flow_event ev;
	__u64 last_send_ns;
	__u64 last_recv_ns;
	__u64 resp_first_ns; /* first receive of the current response, 0: none yet */
	__u64 req_bytes;     /* bytes sent in the current exchange */
	__u64 resp_bytes;    /* bytes received in the current exchange */
	__u64 burst_bytes;   /* bytes of the burst in progress */
	__u64 reported_ns;   /* when the last record was sent */
	__u32 in_response;   /* the last operation was a receive */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, __u64);
	__type(value, struct flow_state);
} flows SEC(".maps");

/* A zeroed flow_state to create entries from (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_state);
} flow_zero SEC(".maps");

static __always_inline __u32 size_bin(__u64 b)
{
	if (b < 64) return 0;
	if (b < 256) return 1;
	if (b < 1024) return 2;
	if (b < 4096) return 3;
	if (b < 16384) return 4;
	if (b < 65536) return 5;
	if (b < 262144) return 6;
	return 7;
}

static __always_inline __u32 gap_bin(__u64 ns)
{
	if (ns < 5000000) return 0;
	if (ns < 10000000) return 1;
	if (ns < 20000000) return 2;
	if (ns < 50000000) return 3;
	if (ns < 100000000) return 4;
	if (ns < 250000000) return 5;
	if (ns < 1000000000) return 6;
	return 7;
}

/* The burst in progress is over: count its size. */
static __always_inline void end_burst(struct flow_state *s)
{
	if (s->burst_bytes) {
		s->ev.burst_hist[size_bin(s->burst_bytes) & (BUSTED_FLOW_BINS - 1)]++;
		s->burst_bytes = 0;
	}
}

/* The response in progress is over (a new request, or the close). */
static __always_inline void end_response(struct flow_state *s)
{
	__u64 d;

	end_burst(s);
	if (s->resp_first_ns) {
		d = s->last_recv_ns - s->resp_first_ns;
		if (d > s->ev.resp_ns_max)
			s->ev.resp_ns_max = d;
		if (s->resp_bytes > s->ev.resp_bytes_max)
			s->ev.resp_bytes_max = s->resp_bytes;
	}
	s->resp_first_ns = 0;
	s->resp_bytes = 0;
}

/* Copy the record out (with the burst and response in progress counted
 * as if they ended now) and send it. */
static __always_inline void report(struct flow_state *s, __u32 phase, __u64 now)
{
	struct busted_flow_event *e;
	__u64 d;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
		return;
	}
	__builtin_memcpy(e, &s->ev, sizeof(*e));
	hdr_init(&e->hdr, BUSTED_KIND_FLOW); /* the task was copied with the rest */
	e->phase = phase;
	if (s->burst_bytes)
		e->burst_hist[size_bin(s->burst_bytes) & (BUSTED_FLOW_BINS - 1)]++;
	if (s->resp_first_ns) {
		d = s->last_recv_ns - s->resp_first_ns;
		if (d > e->resp_ns_max)
			e->resp_ns_max = d;
		if (s->resp_bytes > e->resp_bytes_max)
			e->resp_bytes_max = s->resp_bytes;
	}
	if (s->req_bytes > e->req_bytes_max)
		e->req_bytes_max = s->req_bytes;
	bpf_ringbuf_submit(e, rb_flags());
	stat_inc(BUSTED_STAT_EVENTS);
	s->reported_ns = now;
}

/* The first send or receive of a connection this host opened: make its
 * entry from its owner's (who connected, and when). NULL: not counted. */
static __always_inline struct flow_state *flow_open(struct sock *sk, __u64 cookie)
{
	struct busted_owner *o;
	struct flow_state *s, *zero;
	__u32 k = 0;

	o = bpf_map_lookup_elem(&owners, &cookie);
	/* accepted, UDP, out of scope, or counted once and aged out of flows */
	if (!o || (o->conn & (BUSTED_OWNER_ACTIVE | BUSTED_OWNER_FLOW)) != BUSTED_OWNER_ACTIVE)
		return NULL;
	zero = bpf_map_lookup_elem(&flow_zero, &k);
	if (!zero || bpf_map_update_elem(&flows, &cookie, zero, BPF_NOEXIST))
		return NULL;
	s = bpf_map_lookup_elem(&flows, &cookie);
	if (!s)
		return NULL;
	o->conn |= BUSTED_OWNER_FLOW;
	s->ev.hdr.task = o->task;
	s->ev.hdr.task.flags |= BUSTED_TASK_FROM_SOCKET;
	s->ev.sock_id = cookie;
	s->ev.start_ns = o->start_ns;
	/* established by now: both ports are known (at SYN_SENT the local
	 * one is not yet chosen) */
	flow_from_sock(&s->ev.flow, sk);
	s->ev.first_ns = bpf_ktime_get_ns();
	s->reported_ns = s->ev.first_ns;
	return s;
}

/* One send or receive of `bytes` on a socket. */
static __always_inline void account(struct sock *sk, __u64 bytes, bool recv)
{
	struct flow_state *s;
	__u64 cookie, now, d;

	/* Unix sockets and the like leave here: no lookup. */
	if (KREAD(sk, sk_protocol) != IPPROTO_TCP)
		return;
	cookie = SOCK_ID(sk);
	s = bpf_map_lookup_elem(&flows, &cookie);
	if (!s) {
		s = flow_open(sk, cookie);
		if (!s)
			return;
	}
	now = bpf_ktime_get_ns();
	if (recv) {
		s->ev.recvs++;
		s->ev.recv_bytes += bytes;
		if (!s->in_response) {
			/* the first byte of a response */
			s->in_response = 1;
			s->resp_first_ns = now;
			if (s->last_send_ns) {
				d = now - s->last_send_ns;
				if (!s->ev.answered)
					s->ev.ttfb_first_ns = d;
				if (!s->ev.answered || d < s->ev.ttfb_min_ns)
					s->ev.ttfb_min_ns = d;
				if (d > s->ev.ttfb_max_ns)
					s->ev.ttfb_max_ns = d;
				s->ev.ttfb_sum_ns += d;
				s->ev.answered++;
			}
			s->ev.bursts++;
		} else if (now - s->last_recv_ns >= flow_burst_ns) {
			/* a new burst of the same response: the gap is its cadence */
			d = now - s->last_recv_ns;
			end_burst(s);
			s->ev.bursts++;
			s->ev.gaps++;
			s->ev.gap_hist[gap_bin(d) & (BUSTED_FLOW_BINS - 1)]++;
			s->ev.gap_sum_us += d / 1000;
			d /= 100000;
			if (d > 600000)
				d = 600000;
			s->ev.gap_sq += d * d;
		}
		s->burst_bytes += bytes;
		s->resp_bytes += bytes;
		s->last_recv_ns = now;
	} else if (s->in_response && bytes < flow_ctrl_bytes) {
		/* flow control inside a response: counted, the response goes on */
		s->ev.sends++;
		s->ev.send_bytes += bytes;
	} else {
		if (s->in_response || !s->ev.exchanges) {
			/* a new request; after a response, the silence before it is
			 * the client's think time (keep-alive idling) */
			if (s->in_response && now - s->last_recv_ns > s->ev.idle_ns_max)
				s->ev.idle_ns_max = now - s->last_recv_ns;
			end_response(s);
			if (s->req_bytes > s->ev.req_bytes_max)
				s->ev.req_bytes_max = s->req_bytes;
			s->req_bytes = 0;
			s->in_response = 0;
			s->ev.exchanges++;
		}
		s->ev.sends++;
		s->ev.send_bytes += bytes;
		s->req_bytes += bytes;
		s->last_send_ns = now;
	}
	s->ev.last_ns = now;
	if (flow_report_ns && now - s->reported_ns >= flow_report_ns)
		report(s, BUSTED_FLOW_UPDATE, now);
}

TRACEPOINT(sock_send_length)
int BPF_PROG(handle_send, struct sock *sk, int ret, int flags)
{
	if (ret > 0)
		account(sk, ret, false);
	return 0;
}

TRACEPOINT(sock_recv_length)
int BPF_PROG(handle_recv, struct sock *sk, int ret, int flags)
{
	/* a peek is read again by the receive that follows */
	if (ret > 0 && !(flags & MSG_PEEK))
		account(sk, ret, true);
	return 0;
}

/* The connection is closed (conn.bpf.c, for an owner marked
 * BUSTED_OWNER_FLOW): report its shape and forget it. */
static __always_inline void flow_close(__u64 cookie)
{
	struct flow_state *s = bpf_map_lookup_elem(&flows, &cookie);

	if (!s)
		return;
	report(s, BUSTED_FLOW_END, bpf_ktime_get_ns());
	bpf_map_delete_elem(&flows, &cookie);
}

#endif /* BUSTED_FLOW_BPF_H */
