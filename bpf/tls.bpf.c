// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tls.bpf.c — TLS plaintext at the library boundary: uprobes on OpenSSL's
 * SSL_write/SSL_read (and their _ex forms), where the application hands
 * over or gets back plaintext, plus SSL_ctrl (SNI), SSL_set_fd and SSL_free.
 *
 * Reads are copied at return, when the buffer holds what was actually read;
 * writes too, counting what was actually written (a write the library asks
 * to retry returns <= 0 and is not reported; its retry is). Each call is
 * copied in BUSTED_TLS_CHUNK records up to tls_cap_bytes; connections the
 * engine marked skip in tls_verdicts are counted and not copied.
 *
 * The same programs attach to every library that exports these symbols
 * (libssl.so.3, libssl.so.1.1, binaries with OpenSSL inside such as node);
 * the attach cookie says which one, for the engine's probe table.
 */
#include "common.bpf.h"

#define SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define MAX_CHUNKS 16 /* 64 KiB: the largest cap the loader accepts */

/* Largest plaintext copied per call (load-time: --tls-capture-bytes). */
const volatile __u32 tls_cap_bytes = 16384;

/* What an entry probe saw, for its return probe: keyed by pid_tgid. */
struct tls_call {
	__u64 ssl;
	__u64 buf;
	__u64 size_ptr; /* _ex variants: where the library stores the byte count */
	__u32 op;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

/* The engine's verdicts per connection (enum busted_tls_verdict). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct busted_tls_key);
	__type(value, __u32);
} tls_verdicts SEC(".maps");

/* A per-CPU sequence for call ids. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tls_seq SEC(".maps");

static __always_inline bool wanted(void)
{
	if ((bpf_get_current_pid_tgid() >> 32) == self_tgid)
		return false;
	return current_in_scope();
}

static __always_inline int enter(__u32 op, void *ssl, const void *buf, void *size_ptr)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call c = { .ssl = (__u64)ssl, .buf = (__u64)buf, .size_ptr = (__u64)size_ptr, .op = op };
	struct busted_tls_key key = { .pid = id >> 32, .ssl = (__u64)ssl };
	__u32 *verdict;

	if (!wanted())
		return 0;
	/* a connection marked skip: nothing for the return probe to do */
	verdict = bpf_map_lookup_elem(&tls_verdicts, &key);
	if (verdict && *verdict == BUSTED_TLS_SKIP) {
		stat_inc(BUSTED_STAT_TLS_SKIPPED);
		return 0;
	}
	bpf_map_update_elem(&tls_calls, &id, &c, BPF_ANY);
	return 0;
}

static __always_inline struct busted_tls_event *reserve(__u32 op, __u64 ssl, __u32 lib)
{
	struct busted_tls_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
		return 0;
	}
	hdr_init(&e->hdr, BUSTED_KIND_TLS);
	task_from_current(&e->hdr.task);
	e->hdr.task.ppid = 0;
	e->ssl = ssl;
	e->op = op;
	e->lib = lib;
	e->_pad = 0;
	return e;
}

/* What each bpf_loop round needs: plain values (no map pointers). */
struct chunk_ctx {
	__u64 ssl;
	__u64 buf;
	__u64 call_id;
	__u32 op;
	__u32 len;
	__u32 lib;
	__u32 _pad;
};

/* Where a chunk is built before bpf_ringbuf_output copies just its used
 * part into the ring: a small call costs its size, not 4 KiB of ring. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct busted_tls_event);
} tls_scratch SEC(".maps");

static long copy_chunk(__u32 i, struct chunk_ctx *x)
{
	__u32 off = i * BUSTED_TLS_CHUNK;
	__u32 n, zero = 0;
	struct busted_tls_event *e;
	__u64 size;

	if (off >= x->len)
		return 1;
	n = x->len - off;
	if (n > BUSTED_TLS_CHUNK)
		n = BUSTED_TLS_CHUNK;
	e = bpf_map_lookup_elem(&tls_scratch, &zero);
	if (!e)
		return 1;
	hdr_init(&e->hdr, BUSTED_KIND_TLS);
	task_from_current(&e->hdr.task);
	e->hdr.task.ppid = 0;
	e->ssl = x->ssl;
	e->op = x->op;
	e->lib = x->lib;
	e->_pad = 0;
	e->call_id = x->call_id;
	e->len = x->len;
	e->offset = off;
	{
		/* a size the verifier can bound, in the register the call gets */
		__u64 sz = n;

		barrier_var(sz);
		if (sz > BUSTED_TLS_CHUNK)
			sz = BUSTED_TLS_CHUNK;
		barrier_var(sz);
		e->cap_len = bpf_probe_read_user(e->data, sz, (void *)(x->buf + off)) == 0 ? sz : 0;
	}
	size = offsetof(struct busted_tls_event, data) + e->cap_len;
	barrier_var(size);
	if (size > sizeof(*e))
		size = sizeof(*e);
	if (bpf_ringbuf_output(&events, e, size, rb_flags())) {
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
		return 1;
	}
	stat_inc(BUSTED_STAT_EVENTS);
	return 0;
}

static __always_inline int leave(void *ctx, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call *c = bpf_map_lookup_elem(&tls_calls, &id);
	struct chunk_ctx x = {};
	__u32 zero = 0;
	__u64 *seq;
	__u64 n = 0;

	if (!c)
		return 0;
	if (c->size_ptr) {
		/* SSL_read_ex / SSL_write_ex: 1 on success, the count in *size_ptr */
		if (ret == 1)
			bpf_probe_read_user(&n, sizeof(n), (void *)c->size_ptr);
	} else if (ret > 0) {
		n = ret;
	}
	if (n == 0)
		goto out;
	if (n > tls_cap_bytes) {
		stat_inc(BUSTED_STAT_TLS_TRUNCATED);
		x.len = tls_cap_bytes;
	} else {
		x.len = n;
	}
	seq = bpf_map_lookup_elem(&tls_seq, &zero);
	if (!seq)
		goto out;
	*seq += 1;
	x.ssl = c->ssl;
	x.buf = c->buf;
	x.op = c->op;
	x.lib = (__u32)bpf_get_attach_cookie(ctx);
	x.call_id = (*seq << 8) | bpf_get_smp_processor_id();
	/* len is what the call moved; the records say so even when fewer bytes were copied */
	bpf_loop(MAX_CHUNKS, copy_chunk, &x, 0);
out:
	bpf_map_delete_elem(&tls_calls, &id);
	return 0;
}

/* A note about an SSL* with a small payload (SNI) or none. */
static __always_inline int note(void *ctx, __u32 op, void *ssl, __u32 len, const char *str)
{
	struct busted_tls_event *e;
	long n;

	if (!wanted())
		return 0;
	e = reserve(op, (__u64)ssl, (__u32)bpf_get_attach_cookie(ctx));
	if (!e)
		return 0;
	e->call_id = 0;
	e->len = len;
	e->offset = 0;
	e->cap_len = 0;
	if (str) {
		n = bpf_probe_read_user_str(e->data, 256, str);
		e->cap_len = n > 0 ? n - 1 : 0;
		e->len = e->cap_len;
	}
	bpf_ringbuf_submit(e, rb_flags());
	stat_inc(BUSTED_STAT_EVENTS);
	return 0;
}

/* int SSL_write(SSL *ssl, const void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf, int num)
{
	return enter(BUSTED_TLS_WRITE, ssl, buf, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_leave, int ret)
{
	return leave(ctx, ret);
}

/* int SSL_read(SSL *ssl, void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf, int num)
{
	return enter(BUSTED_TLS_READ, ssl, buf, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_leave, int ret)
{
	return leave(ctx, ret);
}

/* int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written) */
SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, const void *buf, size_t num, size_t *written)
{
	return enter(BUSTED_TLS_WRITE, ssl, buf, written);
}

/* int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes) */
SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return enter(BUSTED_TLS_READ, ssl, buf, readbytes);
}

/* long SSL_ctrl(SSL *s, int cmd, long larg, void *parg): SNI is cmd 55 */
SEC("uprobe")
int BPF_KPROBE(ssl_ctrl_enter, void *ssl, int cmd, long larg, void *parg)
{
	if (cmd != SSL_CTRL_SET_TLSEXT_HOSTNAME || !parg)
		return 0;
	return note(ctx, BUSTED_TLS_SNI, ssl, 0, parg);
}

/* int SSL_set_fd(SSL *s, int fd) */
SEC("uprobe")
int BPF_KPROBE(ssl_set_fd_enter, void *ssl, int fd)
{
	return note(ctx, BUSTED_TLS_FD, ssl, fd, 0);
}

/* void SSL_free(SSL *ssl) */
SEC("uprobe")
int BPF_KPROBE(ssl_free_enter, void *ssl)
{
	struct busted_tls_key key = { .pid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)ssl };

	bpf_map_delete_elem(&tls_verdicts, &key);
	return note(ctx, BUSTED_TLS_FREE, ssl, 0, 0);
}
