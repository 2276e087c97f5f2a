// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * producer.bpf.c — the ring buffer benchmark's record source.
 *
 * One raw_tp program, run on demand with BPF_PROG_TEST_RUN by
 * ringbuf-producer (producer.c), writes `args[0]` records into a
 * BPF_MAP_TYPE_RINGBUF with bpf_loop. The records use the real wire layout
 * of bpf/busted.h, reserved and submitted one by one the way the agent's
 * own programs do (bpf_ringbuf_reserve + submit, flags 0: the kernel's
 * adaptive wake-up), so a consumer sees exactly what it would see from
 * conn.bpf.c / pkt.bpf.c / proc.bpf.c, only faster than any real host
 * produces it.
 *
 * ctx args: [0] records to write, [1] sequence number of the first one,
 * [2] mix (0: TCP only, 1: mixed), [3] the producer's parent pid,
 * [4] wake-up mode: 0 submits every record with flags 0 (the kernel's
 * adaptive wake-up, as the agent's programs do); 1 submits with
 * BPF_RB_NO_WAKEUP and wakes the consumer once per run, with the last
 * record (BPF_RB_FORCE_WAKEUP).
 * Returns how many records were reserved; the rest (ring full) were lost.
 *
 * Mixes. "tcp": alternating CONNECTED / CLOSED records; a close names the
 * connection opened 1024 connections earlier, so an interpreter holds ~1k
 * live connections. A quarter of the peers are 162.159.140.245, which
 * the DNS answers below name api.openai.com. "mixed": the same, with in
 * every 32 records one DNS query, one DNS response (PKT, 192-byte records),
 * one UDP flow and one UDP close, and in every 256 one EXEC (848 bytes)
 * and one EXIT.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "busted.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The size is set by the loader (--ring-bytes). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

#define MIX_MIXED 1
#define DNS_CAP 64
#define LOCAL_IP 0x0A000002u    /* 10.0.0.2 */
#define RESOLVER_IP 0x0A000035u /* 10.0.0.53 */
#define OPENAI_IP 0xA29F8CF5u   /* 162.159.140.245 */

/* api.openai.com IN A, id 0x1234, RD (32 bytes). */
const __u8 dns_query[DNS_CAP] = {
	0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	3, 'a', 'p', 'i', 6, 'o', 'p', 'e', 'n', 'a', 'i', 3, 'c', 'o', 'm', 0,
	0x00, 0x01, 0x00, 0x01,
};
#define DNS_QUERY_LEN 32

/* Its answer: api.openai.com A 162.159.140.245, TTL 300 (48 bytes). */
const __u8 dns_response[DNS_CAP] = {
	0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	3, 'a', 'p', 'i', 6, 'o', 'p', 'e', 'n', 'a', 'i', 3, 'c', 'o', 'm', 0,
	0x00, 0x01, 0x00, 0x01,
	0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x04,
	162, 159, 140, 245,
};
#define DNS_RESPONSE_LEN 48

#define EXE "/usr/bin/curl"
#define ARGS "curl\0-sS\0https://api.openai.com/v1/models"
const char exe_path[32] = EXE;
const char exe_args[64] = ARGS;

struct gen {
	struct busted_task task; /* the producer's own task, filled once per run */
	__u64 seq;               /* sequence number of loop index 0 */
	__u64 last;              /* loop index of the run's last record */
	__u64 wake;              /* submit flags: 0, or per-run wake-up (below) */
	__u32 mix;
	__u32 ok;                /* records reserved */
};

static __always_inline void hdr_fill(struct busted_hdr *h, __u32 kind, const struct gen *g, __u32 extra_flags)
{
	h->kind = kind;
	h->abi = BUSTED_ABI_VERSION;
	h->ts_ns = bpf_ktime_get_ns();
	h->task = g->task;
	h->task.flags |= extra_flags;
}

static __always_inline void flow_v4(struct busted_flow *f, __u32 saddr, __u32 daddr, __u16 sport, __u16 dport, __u8 proto)
{
	__builtin_memset(f, 0, sizeof(*f));
	*(__u32 *)f->saddr = bpf_htonl(saddr);
	*(__u32 *)f->daddr = bpf_htonl(daddr);
	f->sport = sport;
	f->dport = dport;
	f->family = 4;
	f->protocol = proto;
}

static __always_inline __u32 peer_of(__u64 conn)
{
	if ((conn & 3) == 0)
		return OPENAI_IP;
	return 0x0A020000u | (__u32)(conn & 0x3ff); /* 10.2.0.0/22 */
}

static __always_inline int emit_tcp(const struct gen *g, __u64 s)
{
	struct busted_tcp_event *e;
	bool closed = s & 1;
	/* A close reports the connection opened 1024 connections earlier. */
	__u64 conn = (s >> 1) - (closed ? 1024 : 0);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	hdr_fill(&e->hdr, BUSTED_KIND_TCP, g, closed ? BUSTED_TASK_FROM_SOCKET : 0);
	e->sock_id = 0x10000 + conn;
	flow_v4(&e->flow, LOCAL_IP, peer_of(conn), 32768 + (__u16)(conn % 28232), (conn & 7) == 7 ? 80 : 443, 6);
	e->phase = closed ? BUSTED_TCP_CLOSED : BUSTED_TCP_CONNECTED;
	e->dir = BUSTED_DIR_EGRESS;
	e->bytes_sent = closed ? 1200 + (conn & 0xfff) : 0;
	e->bytes_received = closed ? 40000 + (conn & 0xffff) : 0;
	e->start_ns = closed ? e->hdr.ts_ns - 250000000 : e->hdr.ts_ns;
	bpf_ringbuf_submit(e, g->wake);
	return 1;
}

static __always_inline int emit_udp(const struct gen *g, __u64 s, bool closed)
{
	struct busted_udp_event *e;
	__u64 conn = s >> 5;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	hdr_fill(&e->hdr, BUSTED_KIND_UDP, g, closed ? BUSTED_TASK_FROM_SOCKET : 0);
	e->sock_id = 0x80000000ull + conn;
	flow_v4(&e->flow, LOCAL_IP, RESOLVER_IP, 40000 + (__u16)(conn % 20000), 53, 17);
	e->phase = closed ? BUSTED_UDP_CLOSED : BUSTED_UDP_FLOW;
	e->_pad = closed ? 0 : BUSTED_DIR_EGRESS; /* the flow record's direction */
	e->bytes_sent = closed ? DNS_QUERY_LEN : 0;
	e->bytes_received = closed ? DNS_RESPONSE_LEN : 0;
	e->start_ns = e->hdr.ts_ns;
	bpf_ringbuf_submit(e, g->wake);
	return 1;
}

static __always_inline int emit_dns(const struct gen *g, __u64 s, bool response)
{
	struct busted_pkt_event *e;
	__u64 conn = s >> 5;
	__u32 len = response ? DNS_RESPONSE_LEN : DNS_QUERY_LEN;

	e = bpf_ringbuf_reserve(&events, __builtin_offsetof(struct busted_pkt_event, data) + DNS_CAP, 0);
	if (!e)
		return 0;
	hdr_fill(&e->hdr, BUSTED_KIND_PKT, g, BUSTED_TASK_FROM_SOCKET);
	e->sock_id = 0x80000000ull + conn;
	flow_v4(&e->flow, LOCAL_IP, RESOLVER_IP, 40000 + (__u16)(conn % 20000), 53, 17);
	e->pkt_kind = BUSTED_PKT_DNS;
	e->dir = response ? BUSTED_DIR_INGRESS : BUSTED_DIR_EGRESS;
	e->len = len;
	e->cap_len = len;
	if (response)
		__builtin_memcpy(e->data, dns_response, DNS_CAP);
	else
		__builtin_memcpy(e->data, dns_query, DNS_CAP);
	bpf_ringbuf_submit(e, g->wake);
	return 1;
}

static __always_inline int emit_exec(const struct gen *g)
{
	struct busted_exec_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	hdr_fill(&e->hdr, BUSTED_KIND_EXEC, g, 0);
	e->filename_len = sizeof(EXE) - 1;
	e->args_len = sizeof(ARGS); /* NUL-separated, the last NUL included */
	e->args_truncated = 0;
	e->flags = 0;
	e->image = 0;
	e->call_id = 0;
	__builtin_memset(&e->exe, 0, sizeof(e->exe));
	__builtin_memcpy(e->filename, exe_path, sizeof(exe_path));
	__builtin_memcpy(e->args, exe_args, sizeof(exe_args));
	bpf_ringbuf_submit(e, g->wake);
	return 1;
}

static __always_inline int emit_exit(const struct gen *g)
{
	struct busted_exit_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	hdr_fill(&e->hdr, BUSTED_KIND_EXIT, g, 0);
	e->exit_code = 0;
	e->_pad = 0;
	e->start_ns = e->hdr.ts_ns - 5000000;
	bpf_ringbuf_submit(e, g->wake);
	return 1;
}

static long gen_one(__u64 i, void *data)
{
	struct gen *g = data;
	__u64 s = g->seq + i;
	int ok;

	if (g->wake)
		g->wake = i == g->last ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;

	if (g->mix == MIX_MIXED) {
		__u32 slot = s & 255;

		if (slot == 0)
			ok = emit_exec(g);
		else if (slot == 128)
			ok = emit_exit(g);
		else if ((slot & 31) == 1)
			ok = emit_dns(g, s, false);
		else if ((slot & 31) == 2)
			ok = emit_dns(g, s, true);
		else if ((slot & 31) == 3)
			ok = emit_udp(g, s, false);
		else if ((slot & 31) == 4)
			ok = emit_udp(g, s, true);
		else
			ok = emit_tcp(g, s);
	} else {
		ok = emit_tcp(g, s);
	}
	g->ok += ok;
	return 0;
}

SEC("raw_tp")
int produce(struct bpf_raw_tracepoint_args *ctx)
{
	struct gen g = {};
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	__u32 n = ctx->args[0];

	g.task.cgroup_id = bpf_get_current_cgroup_id();
	g.task.pid = pid_tgid >> 32;
	g.task.tid = (__u32)pid_tgid;
	g.task.ppid = ctx->args[3];
	g.task.uid = (__u32)uid_gid;
	g.task.gid = uid_gid >> 32;
	g.task.flags = BUSTED_TASK_KNOWN;
	bpf_get_current_comm(g.task.comm, sizeof(g.task.comm));
	g.seq = ctx->args[1];
	g.mix = ctx->args[2];
	g.wake = ctx->args[4] ? BPF_RB_NO_WAKEUP : 0;
	g.last = n - 1;
	bpf_loop(n, gen_one, &g, 0);
	return g.ok;
}
