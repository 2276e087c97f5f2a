/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * common.bpf.h — what every busted BPF object shares: the maps that cross
 * objects (the loader creates them once and hands the same fd to every
 * object through bpf_map__reuse_fd, so their definitions must stay
 * identical here), the load-time settings, and small helpers.
 */
#ifndef BUSTED_COMMON_BPF_H
#define BUSTED_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "busted.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- hook flavour ------------------------------------------------------
 * The tracing programs are built twice: as tp_btf (typed arguments, socket
 * cookies; the default) and, with -DBUSTED_RAW_TP, as raw_tp for kernels
 * that refuse tp_btf. In the raw_tp build a socket is known by its kernel
 * address instead of its cookie, so packets (keyed by cookie in pkt.bpf.c)
 * cannot be matched to TCP owners: they carry the cgroup only. */
#ifdef BUSTED_RAW_TP
#define TRACEPOINT(name) SEC("raw_tp/" #name)
#define SOCK_ID(sk) ((__u64)(unsigned long)(sk))
#define CURRENT_TASK() ((struct task_struct *)bpf_get_current_task())
/* raw_tp arguments are plain numbers: every read is a probe-read helper. */
#define KREAD(...) BPF_CORE_READ(__VA_ARGS__)
#define KREAD_BYTES(dst, sz, src) bpf_core_read(dst, sz, src)
#define TCP_SK(sk) ((const struct tcp_sock *)(sk))
#else
#define TRACEPOINT(name) SEC("tp_btf/" #name)
#define SOCK_ID(sk) bpf_get_socket_cookie((void *)(sk))
#define CURRENT_TASK() bpf_get_current_task_btf()
/* tp_btf arguments are typed: plain loads, which the verifier turns into
 * inline fault-safe loads (no helper call: ~1 ns instead of ~30 ns each),
 * still relocated by CO-RE through vmlinux.h's preserve_access_index. */
#define KREAD(...) (___arrow(__VA_ARGS__))
#define KREAD_BYTES(dst, sz, src) __builtin_memcpy(dst, src, sz)
/* A typed tcp_sock, so its fields can be loaded directly too (the verifier
 * knows the pointer only as a struct sock). */
#define TCP_SK(sk) ((const struct tcp_sock *)bpf_skc_to_tcp_sock((void *)(sk)))
#endif

/* ---- shared maps ------------------------------------------------------ */

/* Every record for the engine. The loader sets the size (--ringbuf-mb). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

/* enum busted_stat counters, summed over CPUs by the engine. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BUSTED_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Who a socket belongs to (struct busted_owner, busted.h), learnt where the
 * kernel runs in the owner's context (connect(), listen(), socket()) and
 * read where it does not (softirq: handshake completion, close, packets).
 * Keyed by socket cookie. LRU: a socket that dies unseen (we missed its
 * close) ages out. */
enum busted_owner_conn {
	BUSTED_OWNER_ACTIVE = 1, /* opened by connect() in the scope: its traffic shape is counted */
	BUSTED_OWNER_FLOW = 2,   /* its flows entry was made (flow.bpf.h), at its first send or receive */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	/* Per-CPU LRU lists: no global lock on every connect and close. */
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, __u64);
	__type(value, struct busted_owner);
} owners SEC(".maps");

/* ---- load-time settings (.rodata, fixed before load) ------------------ */

/* Report only tasks in this cgroup v2 subtree: its id and its depth below
 * the root. 0 = the whole host. */
const volatile __u64 scope_cgid = 0;
const volatile __u32 scope_level = 0;
/* The agent's own tgid: its sinks' traffic is not reported (no feedback). */
const volatile __u32 self_tgid = 0;
/* Wake the consumer only once this many bytes wait in the ring (0: after
 * every record, libbpf's default). The engine also drains on a short timer,
 * so a lone record waits at most that long; without this, every record of
 * a quiet host costs the agent a wake-up and two context switches. */
const volatile __u64 wakeup_bytes = 0;

/* ---- helpers ---------------------------------------------------------- */

static __always_inline void stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		*v += 1; /* per-CPU slot: no atomic needed */
}

/* Is the current task inside the scope cgroup? */
static __always_inline bool current_in_scope(void)
{
	if (!scope_cgid)
		return true;
	return bpf_get_current_ancestor_cgroup_id(scope_level) == scope_cgid;
}

/* Fill what the current task tells about itself (any program type that
 * has the "current" helpers: tracing, cgroup sock and sock_addr). */
static __always_inline void task_from_current(struct busted_task *t)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	t->pid = pid_tgid >> 32;
	t->tid = (__u32)pid_tgid;
	t->uid = (__u32)uid_gid;
	t->gid = uid_gid >> 32;
	t->cgroup_id = bpf_get_current_cgroup_id();
	t->flags = BUSTED_TASK_KNOWN;
	bpf_get_current_comm(t->comm, sizeof(t->comm));
}

/* Records submitted on this CPU while the ring held wakeup_bytes or more
 * (this object's own count: see rb_flags). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} rb_lagging SEC(".maps");

/* Wake the consumer once per this many records submitted on a CPU while
 * the ring stays above wakeup_bytes. */
#define RB_WAKE_EVERY 64

/* Flags for bpf_ringbuf_submit/output: see wakeup_bytes. Once the ring
 * holds wakeup_bytes, a wake-up is forced only for every RB_WAKE_EVERY-th
 * record, not for each: a forced wake-up is an irq_work, a self-IPI (on a
 * VM, an exit to the hypervisor) costing microseconds in the program that
 * submits, and while the consumer is behind it is already awake, draining.
 * One it missed (asleep, and woken by none of the next 64) is caught by its
 * poll timer. */
static __always_inline __u64 rb_flags(void)
{
	__u32 k = 0, *n;

	if (!wakeup_bytes)
		return 0;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	n = bpf_map_lookup_elem(&rb_lagging, &k);
	if (!n)
		return BPF_RB_FORCE_WAKEUP;
	return (*n)++ % RB_WAKE_EVERY ? BPF_RB_NO_WAKEUP : BPF_RB_FORCE_WAKEUP;
}

static __always_inline void hdr_init(struct busted_hdr *h, __u32 kind)
{
	h->kind = kind;
	h->abi = BUSTED_ABI_VERSION;
	h->ts_ns = bpf_ktime_get_ns();
}

/* Copy a socket's addresses into a flow (tracing programs: CO-RE reads). */
static __always_inline void flow_from_sock(struct busted_flow *f, const struct sock *sk)
{
	__u16 family = KREAD(sk, __sk_common.skc_family);

	f->sport = KREAD(sk, __sk_common.skc_num);
	f->dport = bpf_ntohs(KREAD(sk, __sk_common.skc_dport));
	f->protocol = KREAD(sk, sk_protocol);
	/* Explicit sizes: BPF_CORE_READ_INTO would copy sizeof(*dst), one byte
	 * of the u8[16] destination. */
	if (family == AF_INET) {
		f->family = 4;
		KREAD_BYTES(f->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		KREAD_BYTES(f->daddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		f->family = 6;
		KREAD_BYTES(f->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		KREAD_BYTES(f->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* The start of a request line that can carry a body: "POST /", "PUT /",
 * "PATCH /" (or an absolute form, to a proxy: "POST http://..."). */
static __always_inline bool http_request_start(const __u8 *h)
{
	if (h[0] == 'P' && h[1] == 'O' && h[2] == 'S' && h[3] == 'T' && h[4] == ' ')
		return h[5] == '/' || h[5] == 'h';
	if (h[0] == 'P' && h[1] == 'U' && h[2] == 'T' && h[3] == ' ')
		return h[4] == '/' || h[4] == 'h';
	if (h[0] == 'P' && h[1] == 'R' && h[2] == 'I' && h[3] == ' ' && h[4] == '*' && h[5] == ' ')
		return true; /* HTTP/2 with prior knowledge (h2c: gRPC without TLS), its client preface (RFC 9113 3.4) */
	return h[0] == 'P' && h[1] == 'A' && h[2] == 'T' && h[3] == 'C' && h[4] == 'H' && h[5] == ' ';
}

/* Where a request may start, in the first N (up to 6) bytes of a segment or
 * a write: a request line that can carry a body, or what a server skips or
 * puts together before one: empty lines (RFC 9112 2.2; the engine skips
 * them too), or fewer than 6 bytes that may be a method sent on its own. */
static __always_inline bool request_start(const __u8 *h, __u64 n)
{
	if (h[0] == '\r' || h[0] == '\n')
		return true;
	if (n < 6)
		return h[0] == 'P';
	return http_request_start(h);
}

#endif /* BUSTED_COMMON_BPF_H */
