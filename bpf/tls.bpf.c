// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tls.bpf.c — TLS plaintext at the library boundary: uprobes on OpenSSL's
 * SSL_write/SSL_read (and their _ex forms), where the application hands
 * over or gets back plaintext, plus SSL_ctrl (SNI), SSL_set_fd and SSL_free;
 * and on GnuTLS's calls of the same shapes (at the end of this file).
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
 *
 * Read and write come in two forms. Where the kernel has uprobe sessions
 * (BPF_TRACE_UPROBE_SESSION, 6.12+), one program runs at entry and, only
 * when its entry run returned 0, at return: a call that stored nothing
 * (a skipped connection, a process out of scope) costs no return trap
 * (~4 us here). Elsewhere the entry uprobe and the uretprobe pair does the
 * same work, the uretprobe firing for every call. The loader loads one
 * form or the other.
 */
#include "common.bpf.h"
#include "enforce.bpf.h"

#define SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define MAX_CHUNKS 16 /* 64 KiB: the largest cap the loader accepts */

/* Largest plaintext copied per call (load-time: --tls-capture-bytes). */
const volatile __u32 tls_cap_bytes = 16384;
/* Enforcement: gate connections whose SNI is in a gated class, hold their writes. */
const volatile __u8 enforce_on = 0;

/* What an entry probe saw, for its return probe: keyed by pid_tgid. */
struct tls_call {
	__u64 ssl;
	__u64 buf;
	__u64 size_ptr; /* _ex variants: where the library stores the byte count */
	__u32 op;
	__u32 gated;    /* copied at entry (gated): the return only reports how much was written */
	__u64 call_id;
	__u32 flags;    /* busted_tls_event.flags of its records (BUSTED_TLS_F_RESTART) */
	__u32 h2_num;   /* a watched HTTP/2 write: its length, */
	__u32 h2_next;  /* the connection's verdict once it is written whole (0: not watched), */
	__u32 h2_prev;  /* and the verdict it was walked from */
};

/* Frame headers a watched write is walked through; more, and its connection is lost (every write held). */
#define H2_MAX_FRAMES 128

/* A watched HTTP/2 write's walk through its frames (bpf_loop state). */
struct h2_walk {
	__u64 buf;
	__u32 num;  /* bytes of the write */
	__u32 off;  /* where the next frame header starts */
	__u32 left; /* payload bytes of the last frame past the write's end */
	__u32 data; /* the last frame is DATA */
	__u32 hold; /* it carries DATA payload (or a header block, with `headers`) */
	__u32 lost; /* a frame header past its end, or too many frames */
	__u32 headers; /* a header block is held too (BUSTED_TLS_WATCH_HEADERS) */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

/* The engine's verdicts per connection (enum busted_tls_verdict); GATE is
 * also set here, at SNI time, for names in the engine's gated classes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct busted_tls_key);
	__type(value, __u32);
} tls_verdicts SEC(".maps");


/*
 * Watched HTTP/2 connections (BUSTED_TLS_WATCH without its READS bit) whose
 * reads are copied for now: a write carried a request body, and the answer
 * may be an LLM's. The value is the call id of the last such write (0 until
 * its records are made); the engine deletes the entry once it has read that
 * write's request and found no AI traffic in it (only if it is still that
 * write's: a later one keeps it), or sets the READS bit for good when it
 * found some. Without this, the engine turning the reads on after reading
 * the request came too late for a server that answers at once.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct busted_tls_key);
	__type(value, __u64);
} watch_reads SEC(".maps");

/* Runs of the return half (uretprobe or session return), all CPUs summed
 * by the engine: with sessions, calls that stored nothing have none. Kept
 * out of the shared stats map, whose size a pinned agent's successor must
 * match. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tls_returns SEC(".maps");

/* Uprobe session kfuncs (kernel/trace/bpf_trace.c); weak, so the object
 * still loads where they are absent (the session programs are then not loaded). */
extern bool bpf_session_is_return(void) __ksym __weak;

static __always_inline bool wanted(void)
{
	if ((bpf_get_current_pid_tgid() >> 32) == self_tgid)
		return false;
	return current_in_scope();
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
	e->flags = 0;
	return e;
}

/* What each bpf_loop round needs: plain values (no map pointers). */
struct chunk_ctx {
	__u64 ssl;
	__u64 buf;
	__u64 call_id;
	__u32 op;
	__u32 len; /* bytes the call moves: what every record of it says */
	__u32 cap; /* bytes of it copied: min(len, tls_cap_bytes) */
	__u32 lib;
	__u32 flags;
	__u64 sock_id; /* BUSTED_TLS_F_PKT_HELD: the socket held */
	__u32 hold_n;  /* and the hold's number on it */
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

/* A call of n bytes: len what every record of it says (the engine skips
 * what was not copied, and so stays in step with the stream), cap what is
 * copied of it; a call longer than the cap is counted. */
static __always_inline void call_sizes(struct chunk_ctx *x, __u64 n)
{
	x->len = n > 0xffffffffULL ? 0xffffffffU : (__u32)n;
	x->cap = n > tls_cap_bytes ? tls_cap_bytes : (__u32)n;
	if (n > tls_cap_bytes)
		stat_inc(BUSTED_STAT_TLS_TRUNCATED);
}

static long copy_chunk(__u32 i, struct chunk_ctx *x)
{
	__u32 off = i * BUSTED_TLS_CHUNK;
	__u32 n, zero = 0;
	struct busted_tls_event *e;
	__u64 size;

	if (off >= x->cap)
		return 1;
	n = x->cap - off;
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
	e->flags = x->flags;
	e->call_id = x->call_id;
	e->buf = x->buf;
	e->len = x->len;
	e->offset = off;
	e->sock_id = x->sock_id;
	e->hold_n = x->hold_n;
	e->_pad2 = 0;
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
	/* a held process waits for the engine: wake it now */
	if (bpf_ringbuf_output(&events, e, size, x->flags & BUSTED_TLS_F_GATED ? BPF_RB_FORCE_WAKEUP : rb_flags())) {
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
		return 1;
	}
	stat_inc(BUSTED_STAT_EVENTS);
	return 0;
}

/* The engine's sign of life is recent and gating is on. */
static __always_inline bool may_hold(void)
{
	struct busted_enforce_cfg *c = cfg();

	return c && (c->flags & BUSTED_CFG_GATE) && engine_heard(c);
}

/* This thread's next ClientHello belongs to this SSL* (pkt.bpf.c tie_ssl). */
static __always_inline void note_last_ssl(void *ssl)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct busted_tls_key key = { .pid = id >> 32, .ssl = (__u64)ssl };

	bpf_map_update_elem(&last_ssl, &tid, &key, BPF_ANY);
}

/*
 * Is this write held? A connection marked gate or block is; so is one the
 * engine has said nothing about yet (no verdict: its first request, to a
 * host that is no provider), when gating is on: until the engine has seen
 * what the connection carries (an MCP server, a gateway), its writes are
 * held; it then marks the connection skip or capture, or keeps it gated.
 */
static __always_inline bool is_gated(struct busted_tls_key *key, __u32 *verdict)
{
	__u32 gate = BUSTED_TLS_GATE;
	struct busted_enforce_cfg *c;

	if (verdict)
		return *verdict == BUSTED_TLS_GATE || *verdict == BUSTED_TLS_BLOCK;
	c = cfg();
	if (!c || !(c->flags & BUSTED_CFG_GATE))
		return false;
	bpf_map_update_elem(&tls_verdicts, key, &gate, BPF_NOEXIST);
	return true;
}

static long h2_frame(__u64 i, void *arg)
{
	struct h2_walk *w = arg;
	__u8 h[9];
	__u32 len, rest;

	if (w->off >= w->num)
		return 1;
	rest = w->num - w->off;
	/* a header cut by the write's end: where the frames go next is not known */
	if (rest < 9 || bpf_probe_read_user(h, sizeof(h), (void *)(w->buf + w->off))) {
		w->lost = 1;
		return 1;
	}
	len = ((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2];
	w->data = h[3] == 0;
	if ((w->data && len) || (w->headers && (h[3] == 1 || h[3] == 9)))
		w->hold = 1;
	rest -= 9;
	if (len > rest) {
		w->left = len - rest;
		w->off = w->num;
	} else {
		w->left = 0;
		w->off += 9 + len;
	}
	return 0;
}

/*
 * A write on a watched HTTP/2 connection (BUSTED_TLS_WATCH, verdict V):
 * does it carry request body (DATA payload)? Its frames are walked from
 * where the last write left them, and *NEXT is the verdict once it is
 * written whole. Lost (a header cut by a write's end, a write of more than
 * H2_MAX_FRAMES frames): held, and every later write too.
 */
static __always_inline bool h2_holds(__u32 v, const void *buf, __u32 num, __u32 *next)
{
	struct h2_walk w = { .buf = (__u64)buf, .num = num };
	__u32 keep = v & (BUSTED_TLS_WATCH_READS | BUSTED_TLS_WATCH_HEADERS), take;

	w.headers = (v & BUSTED_TLS_WATCH_HEADERS) != 0;
	w.left = v >> BUSTED_TLS_WATCH_LEFT_SHIFT;
	w.data = (v & BUSTED_TLS_WATCH_DATA) != 0;
	if (v & BUSTED_TLS_WATCH_LOST) {
		*next = v;
		return true;
	}
	if (w.left) {
		take = w.left < w.num ? w.left : w.num;
		if (w.data && take)
			w.hold = 1;
		w.off = take;
		w.left -= take;
	}
	if (w.off < w.num)
		bpf_loop(H2_MAX_FRAMES, h2_frame, &w, 0);
	if (w.off < w.num)
		w.lost = 1;
	if (w.lost) {
		*next = BUSTED_TLS_WATCH | BUSTED_TLS_WATCH_LOST | keep;
		return true;
	}
	*next = BUSTED_TLS_WATCH | keep | (w.data ? BUSTED_TLS_WATCH_DATA : 0) | ((w.left & 0xffffff) << BUSTED_TLS_WATCH_LEFT_SHIFT);
	return w.hold;
}

/* N bytes at BUF of a call (OP on SSL) copied into the records of call
 * CALL_ID, with FLAGS (each record says N: the engine skips what was not
 * copied). */
static __always_inline void copy_call(void *ctx, __u64 ssl, __u64 buf, __u32 op, __u64 n, __u32 flags, __u64 call_id, __u64 sock_id, __u32 hold_n)
{
	struct chunk_ctx x = {};

	if (flags & BUSTED_TLS_F_READS_ON) {
		/* the write that turned its connection's reads on: named by its call id, for the engine */
		struct busted_tls_key key = { .pid = bpf_get_current_pid_tgid() >> 32, .ssl = ssl };

		bpf_map_update_elem(&watch_reads, &key, &call_id, BPF_ANY);
	}
	call_sizes(&x, n);
	x.ssl = ssl;
	x.buf = buf;
	x.op = op;
	x.lib = (__u32)bpf_get_attach_cookie(ctx);
	x.flags = flags;
	x.call_id = call_id;
	x.sock_id = sock_id;
	x.hold_n = hold_n;
	bpf_loop(MAX_CHUNKS, copy_chunk, &x, 0);
}

/* What became of a gated write (call CALL_ID on SSL, copied at entry): N
 * bytes written (a failed write that the library will retry is not data;
 * its retry is gated again). */
static __always_inline void write_done(void *ctx, __u64 ssl, __u64 call_id, __u64 n)
{
	struct busted_tls_event *e = reserve(BUSTED_TLS_WRITE_DONE, ssl, (__u32)bpf_get_attach_cookie(ctx));

	if (!e)
		return;
	e->call_id = call_id;
	e->len = n;
	e->offset = 0;
	e->cap_len = 0;
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	stat_inc(BUSTED_STAT_EVENTS);
}

/* A watched HTTP/2 write (C, on KEY's connection) wrote N bytes: its
 * frames' place moves on when it went whole; written in part, where they
 * stand is not known (lost). A place the engine wrote while the write was
 * held (it read the frames, and puts a lost walk right) is kept. */
static __always_inline void h2_written(struct busted_tls_key *key, const struct tls_call *c, __u64 n)
{
	__u32 *v = bpf_map_lookup_elem(&tls_verdicts, key);

	if (!v || (*v & BUSTED_TLS_VERDICT_MASK) != BUSTED_TLS_WATCH)
		return;
	if (n != c->h2_num)
		*v = BUSTED_TLS_WATCH | BUSTED_TLS_WATCH_LOST | (*v & (BUSTED_TLS_WATCH_READS | BUSTED_TLS_WATCH_HEADERS));
	else if (*v == c->h2_prev)
		*v = c->h2_next;
}

/* Whether the NUM bytes at BUF (the caller's memory) start a request that
 * can carry a body (request_start, on their first 6 bytes or fewer): where
 * a connection marked skip is followed again. */
static __always_inline bool starts_request(const void *buf, __u64 num)
{
	__u8 h[6] = {};
	__u64 n = num < 6 ? num : 6;

	asm volatile("%[n] &= 7" : [n] "+r"(n));
	return n > 0 && n <= 6 && !bpf_probe_read_user(h, n, buf) && request_start(h, n);
}

/* Does the current process have a controlling terminal? Its stop is then
 * a job's stop to the shell that runs it: one with job control takes the
 * terminal back and says the job stopped (bash: `[1]+ Stopped`). */
static __always_inline bool in_terminal(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(t, signal, tty) != NULL;
}

/*
 * Hold a gated write of NUM bytes on connection KEY in the packet hook
 * instead of stopping its thread (pkt.bpf.c pkt_held drops what the
 * socket sends until the engine lets it go, and its sender's TCP tries
 * again): for a terminal's process, whose stop its shell would see (for
 * every process with BUSTED_CFG_HOLD_PACKETS; none with HOLD_STOP), when
 * the write is copied whole (nothing is left to read from the process)
 * and the connection's socket is known (its ClientHello was seen). The
 * hold is in place before the library encrypts and sends. Returns the
 * socket's cookie (0: stop the thread instead), and in *N the hold's
 * number on that socket, which the engine lets go by.
 */
static __always_inline __u64 hold_in_packets(struct busted_tls_key *key, __u64 num, __u32 *n)
{
	struct busted_enforce_cfg *c = cfg();
	__u64 *sock, cookie;
	__u32 zero = 0, *held;

	if (num > tls_cap_bytes || !c || (c->flags & BUSTED_CFG_HOLD_STOP))
		return 0;
	if (!(c->flags & BUSTED_CFG_HOLD_PACKETS) && !in_terminal())
		return 0;
	sock = bpf_map_lookup_elem(&ssl_socks, key);
	if (!sock)
		return 0;
	cookie = *sock;
	held = bpf_map_lookup_elem(&pkt_holds, &cookie);
	if (!held) {
		/* counted from 0 again: an old engine count goes too */
		bpf_map_delete_elem(&pkt_released, &cookie);
		bpf_map_update_elem(&pkt_holds, &cookie, &zero, BPF_NOEXIST);
		held = bpf_map_lookup_elem(&pkt_holds, &cookie);
		if (!held)
			return 0;
	}
	/* (clang's BPF target before v3 has no fetching add: the count read
	 * back, which only another write on the same SSL* at once could move,
	 * and OpenSSL's SSL objects take one writer at a time) */
	__sync_fetch_and_add(held, 1);
	*n = *held;
	return cookie;
}

/* Returns whether the call was stored for the return half (which then has
 * something to do: copy what was read or written, or say what became of a
 * gated write), in CALLS under CALL_KEY: tls_calls by thread, or go_calls
 * by goroutine. WHOLE (Go's Write): a write goes whole or its connection
 * fails, so it is copied at entry and nothing waits for its return. */
static __always_inline bool enter_in(void *ctx, __u32 op, void *ssl, const void *buf, __u64 num, void *size_ptr,
				     void *calls, const void *call_key, bool whole)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call c = { .ssl = (__u64)ssl, .buf = (__u64)buf, .size_ptr = (__u64)size_ptr, .op = op };
	struct busted_tls_key key = { .pid = id >> 32, .ssl = (__u64)ssl };
	__u32 *verdict;
	bool gate;

	if (!wanted())
		return false;
	verdict = bpf_map_lookup_elem(&tls_verdicts, &key);
	if (verdict && *verdict == BUSTED_TLS_SKIP_SERVER) {
		/* a server's: its reads are looked at when they return (leave_in),
		 * for the start of a request; its writes are answers */
		if (op == BUSTED_TLS_WRITE) {
			stat_inc(BUSTED_STAT_TLS_SKIPPED);
			return false;
		}
		return bpf_map_update_elem(calls, call_key, &c, BPF_ANY) == 0;
	}
	/* A connection marked skip: nothing for the return probe to do, but
	 * for a write that starts a request that can carry a body (HTTP/1.1):
	 * it is followed again from there, as a connection the engine has not
	 * seen yet (held when gating is on), so that a prompt after a request
	 * that was no LLM call (a model list, a health check) is read and
	 * held all the same. */
	if (verdict && *verdict == BUSTED_TLS_SKIP) {
		if (op != BUSTED_TLS_WRITE || !starts_request(buf, num)) {
			stat_inc(BUSTED_STAT_TLS_SKIPPED);
			return false;
		}
		bpf_map_delete_elem(&tls_verdicts, &key);
		verdict = NULL;
		c.flags = BUSTED_TLS_F_RESTART;
	}
	if (verdict && (*verdict & BUSTED_TLS_VERDICT_MASK) == BUSTED_TLS_WATCH) {
		/* a watched HTTP/2 connection: its writes are copied, its reads only
		 * when it is a gated one; with gating on, a write is held when it
		 * carries request body (or, gated, a header block) */
		gate = false;
		if (op != BUSTED_TLS_WRITE) {
			if (!(*verdict & BUSTED_TLS_WATCH_READS) && !bpf_map_lookup_elem(&watch_reads, &key)) {
				stat_inc(BUSTED_STAT_TLS_SKIPPED);
				return false;
			}
		} else if (num > 0) {
			/* walked under monitor too: a write with a request body turns the reads on */
			__u64 none = 0;
			bool body;

			c.h2_num = num > (1U << 30) ? (1U << 30) : (__u32)num;
			c.h2_prev = *verdict;
			body = h2_holds(*verdict, buf, c.h2_num, &c.h2_next);
			gate = enforce_on && body;
			if (body && !(*verdict & BUSTED_TLS_WATCH_READS)) {
				c.flags |= BUSTED_TLS_F_READS_ON;
				bpf_map_update_elem(&watch_reads, &key, &none, BPF_ANY);
			}
		}
	} else {
		gate = op == BUSTED_TLS_WRITE && num > 0 && enforce_on && is_gated(&key, verdict);
	}
	if (whole && op == BUSTED_TLS_WRITE) {
		bool hold = enforce_on && num > 0 && gate && may_hold();
		__u64 call_id;

		/* a watched connection's frames move on now (a place the engine
		 * writes while the write is held comes after this, and stays) */
		if (c.h2_next)
			h2_written(&key, &c, c.h2_num);
		if (num == 0)
			return false;
		__u32 n = 0;
		__u64 sock = hold ? hold_in_packets(&key, num, &n) : 0;

		call_id = next_call_id();
		copy_call(ctx, (__u64)ssl, (__u64)buf, op, num, (hold ? BUSTED_TLS_F_GATED : 0) | (sock ? BUSTED_TLS_F_PKT_HELD : 0) | c.flags,
			  call_id, sock, n);
		if (hold) {
			/* what became of it, said now: all of it, or the connection fails */
			write_done(ctx, (__u64)ssl, call_id, num);
			if (!sock)
				hold_this_thread(key.pid, key.ssl, call_id);
		}
		return false;
	}
	if (enforce_on && op == BUSTED_TLS_WRITE && num > 0 && gate && may_hold()) {
		/* Gated: the plaintext is copied now, before the library encrypts
		 * and sends it, and the process is stopped until the engine has
		 * decided (it sends SIGCONT; a block destroys the socket first).
		 * The signal takes effect on the way back to user space, before
		 * the function's first instruction runs. */
		/* the records say the whole length: the engine reads the rest
		 * from the held process (interpret/tls-data.ts) */
		__u32 n = 0;
		__u64 sock = hold_in_packets(&key, num, &n);

		c.call_id = next_call_id();
		copy_call(ctx, (__u64)ssl, (__u64)buf, op, num, BUSTED_TLS_F_GATED | (sock ? BUSTED_TLS_F_PKT_HELD : 0) | c.flags, c.call_id, sock, n);
		c.gated = 1;
		/* the held write's WRITE_DONE needs the return: stored or not, it runs */
		bpf_map_update_elem(calls, call_key, &c, BPF_ANY);
		if (!sock)
			hold_this_thread(key.pid, key.ssl, c.call_id);
		return true;
	}
	return bpf_map_update_elem(calls, call_key, &c, BPF_ANY) == 0;
}

static __always_inline bool enter(void *ctx, __u32 op, void *ssl, const void *buf, __u64 num, void *size_ptr)
{
	__u64 id = bpf_get_current_pid_tgid();

	return enter_in(ctx, op, ssl, buf, num, size_ptr, &tls_calls, &id, false);
}

/* The return half of the call stored in CALLS under CALL_KEY, which returned RET. */
static __always_inline int leave_in(void *ctx, long ret, void *calls, const void *call_key)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call *c = bpf_map_lookup_elem(calls, call_key);
	__u32 zero = 0;
	__u64 n = 0, *runs, call_id;

	runs = bpf_map_lookup_elem(&tls_returns, &zero);
	if (runs)
		*runs += 1;
	if (!c)
		return 0;
	if (c->size_ptr) {
		/* SSL_read_ex / SSL_write_ex: 1 on success, the count in *size_ptr */
		if (ret == 1)
			bpf_probe_read_user(&n, sizeof(n), (void *)c->size_ptr);
	} else if (ret > 0) {
		n = ret;
	}
	if (c->h2_next && n > 0) {
		struct busted_tls_key key = { .pid = id >> 32, .ssl = c->ssl };

		h2_written(&key, c, n);
	}
	if (c->gated) {
		/* copied at entry: say what became of it */
		write_done(ctx, c->ssl, c->call_id, n);
		goto out;
	}
	if (n == 0)
		goto out;
	if (c->op == BUSTED_TLS_READ) {
		/* a server's skipped connection: followed again from a read that
		 * starts a request that can carry a body (a prompt after a health
		 * check on a kept-alive connection), as a client's is from such a
		 * write. Asked at the return: a server waits in its next read as
		 * it is marked. */
		struct busted_tls_key key = { .pid = id >> 32, .ssl = c->ssl };
		__u32 *verdict = bpf_map_lookup_elem(&tls_verdicts, &key);

		if (verdict && *verdict == BUSTED_TLS_SKIP_SERVER) {
			if (!starts_request((void *)c->buf, n)) {
				stat_inc(BUSTED_STAT_TLS_SKIPPED);
				goto out;
			}
			bpf_map_delete_elem(&tls_verdicts, &key);
			c->flags |= BUSTED_TLS_F_RESTART;
		}
	}
	call_id = next_call_id();
	if (call_id)
		copy_call(ctx, c->ssl, c->buf, c->op, n, c->flags, call_id, 0, 0);
out:
	bpf_map_delete_elem(calls, call_key);
	return 0;
}

static __always_inline int leave(void *ctx, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();

	return leave_in(ctx, ret, &tls_calls, &id);
}

/* A note about an SSL* with a small payload (SNI) or none. STR is read up
 * to its NUL, and to at most MAX - 1 bytes (MAX 1..256). */
static __always_inline int note(void *ctx, __u32 op, void *ssl, __u32 len, const char *str, __u32 max)
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
		if (max == 0 || max > 256)
			max = 256;
		n = bpf_probe_read_user_str(e->data, max, str);
		e->cap_len = n > 0 ? n - 1 : 0;
		e->len = e->cap_len;
	}
	bpf_ringbuf_submit(e, rb_flags());
	stat_inc(BUSTED_STAT_EVENTS);
	return 0;
}

/* A connection to a name in a gated class is gated before its first write:
 * the SNI is set before the handshake, the request comes after it. */
static __always_inline void sni_gate(void *ssl, const char *parg, __u32 max)
{
	struct busted_tls_key key = { .pid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)ssl };
	struct busted_enforce_cfg *c = cfg();
	__u32 klass, known, gate = BUSTED_TLS_GATE;
	char *name;
	long n;

	if (!c || !c->gate_classes)
		return;
	name = name_scratch();
	if (!name)
		return;
	if (max == 0 || max > NAME_BUF)
		max = NAME_BUF;
	n = bpf_probe_read_user_str(name, max, parg);
	if (n <= 1)
		return;
	klass = name_class(n - 1, &known);
	if (klass && klass < BUSTED_CLASS_MAX && (c->gate_classes & (1ULL << klass)))
		bpf_map_update_elem(&tls_verdicts, &key, &gate, BPF_NOEXIST);
}

/* A connection's SNI, NAME (read to its NUL, and to at most MAX - 1
 * bytes): reported, gated when its class is, and the ClientHello this
 * thread sends next is this connection's (its plaintext is read). */
static __always_inline int sni_seen(void *ctx, void *ssl, const char *name, __u32 max)
{
	if (wanted()) {
		note_last_ssl(ssl);
		if (enforce_on)
			sni_gate(ssl, name, max);
	}
	return note(ctx, BUSTED_TLS_SNI, ssl, 0, name, max);
}

/* int SSL_write(SSL *ssl, const void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf, int num)
{
	enter(ctx, BUSTED_TLS_WRITE, ssl, buf, num > 0 ? num : 0, 0);
	return 0;
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
	enter(ctx, BUSTED_TLS_READ, ssl, buf, 0, 0);
	return 0;
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
	enter(ctx, BUSTED_TLS_WRITE, ssl, buf, num, written);
	return 0;
}

/* int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes) */
SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	enter(ctx, BUSTED_TLS_READ, ssl, buf, 0, readbytes);
	return 0;
}

/*
 * The same four as uprobe sessions (loaded with expected_attach_type
 * BPF_TRACE_UPROBE_SESSION, attached through BPF_LINK_CREATE's
 * uprobe_multi): the entry run returns 0 to have the return run, non-zero
 * to skip it (kernel/trace/bpf_trace.c uprobe_multi_link_handler). The
 * arguments are read at entry only; the return value at return only.
 */
#define SESSION_RET(ctx) ((long)(int)PT_REGS_RC(ctx))

SEC("uprobe")
int BPF_KPROBE(ssl_write_session, void *ssl, const void *buf, int num)
{
	if (bpf_session_is_return())
		return leave(ctx, SESSION_RET(ctx));
	return enter(ctx, BUSTED_TLS_WRITE, ssl, buf, num > 0 ? num : 0, 0) ? 0 : 1;
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_session, void *ssl, void *buf, int num)
{
	if (bpf_session_is_return())
		return leave(ctx, SESSION_RET(ctx));
	return enter(ctx, BUSTED_TLS_READ, ssl, buf, 0, 0) ? 0 : 1;
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_session, void *ssl, const void *buf, size_t num, size_t *written)
{
	if (bpf_session_is_return())
		return leave(ctx, SESSION_RET(ctx));
	return enter(ctx, BUSTED_TLS_WRITE, ssl, buf, num, written) ? 0 : 1;
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_session, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	if (bpf_session_is_return())
		return leave(ctx, SESSION_RET(ctx));
	return enter(ctx, BUSTED_TLS_READ, ssl, buf, 0, readbytes) ? 0 : 1;
}

/* long SSL_ctrl(SSL *s, int cmd, long larg, void *parg): SNI is cmd 55 */
SEC("uprobe")
int BPF_KPROBE(ssl_ctrl_enter, void *ssl, int cmd, long larg, void *parg)
{
	if (cmd != SSL_CTRL_SET_TLSEXT_HOSTNAME || !parg)
		return 0;
	return sni_seen(ctx, ssl, parg, NAME_BUF);
}

/*
 * GnuTLS (libgnutls.so.30: wget, libcurl-gnutls, git's https): its calls
 * have OpenSSL's shapes, so the programs above serve it too (loader.ts
 * GNUTLS_PROBES): gnutls_record_send/recv(session, buf, size_t) return
 * ssize_t (the bytes moved, < 0 an error such as GNUTLS_E_AGAIN);
 * gnutls_handshake(session), gnutls_transport_set_int2(session, recv_fd,
 * send_fd) and gnutls_deinit(session) those of SSL_do_handshake,
 * SSL_set_fd and SSL_free. Only the SNI differs: a name and its length,
 * not a C string.
 */
#define GNUTLS_NAME_DNS 1

/* int gnutls_server_name_set(gnutls_session_t session, gnutls_server_name_type_t type, const void *name, size_t name_length) */
SEC("uprobe")
int BPF_KPROBE(gnutls_sni_enter, void *session, int type, const char *name, size_t len)
{
	if (type != GNUTLS_NAME_DNS || !name || len == 0 || len >= NAME_BUF)
		return 0;
	return sni_seen(ctx, session, name, len + 1);
}

/* int SSL_do_handshake(SSL *s), int SSL_connect(SSL *s): the ClientHello
 * this thread sends next is this SSL*'s (when no SNI was set to say so). */
SEC("uprobe")
int BPF_KPROBE(ssl_handshake_enter, void *ssl)
{
	if (wanted())
		note_last_ssl(ssl);
	return 0;
}

/* int SSL_set_fd(SSL *s, int fd) */
SEC("uprobe")
int BPF_KPROBE(ssl_set_fd_enter, void *ssl, int fd)
{
	return note(ctx, BUSTED_TLS_FD, ssl, fd, 0, 0);
}

/* A connection's end (KEY: this process's SSL): its verdict goes, and the engine is told. */
static __always_inline int conn_end(void *ctx, struct busted_tls_key *key)
{
	bpf_map_delete_elem(&tls_verdicts, key);
	bpf_map_delete_elem(&watch_reads, key);
	/* an SSL* made again at the same address is another connection's: not held on this one's socket */
	bpf_map_delete_elem(&ssl_socks, key);
	return note(ctx, BUSTED_TLS_FREE, (void *)key->ssl, 0, 0, 0);
}

/* void SSL_free(SSL *ssl) */
SEC("uprobe")
int BPF_KPROBE(ssl_free_enter, void *ssl)
{
	struct busted_tls_key key = { .pid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)ssl };

	return conn_end(ctx, &key);
}

/*
 * NSS (libssl3.so over NSPR's libnspr4.so: libcurl-nss, Thunderbird,
 * LibreOffice, RHEL 7's curl). Its plaintext goes through NSPR's generic
 * I/O calls, PR_Write/PR_Read/PR_Send/PR_Recv(fd, buf, amount[, flags,
 * timeout]) -> PRInt32, on the PRFileDesc that SSL_ImportFD returned (the
 * SSL layer on top of the socket): files and plain sockets go through the
 * same calls, so only the descriptors SSL_ImportFD made are followed, and
 * the PRFileDesc* stands for the SSL*. SSL_SetURL(fd, url) sets the SNI;
 * SSL_ResetHandshake/SSL_ForceHandshake come before the ClientHello (NSS
 * also starts the handshake at the first I/O: SSL_SetURL marks the thread
 * before that); PR_Close ends it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct busted_tls_key);
	__type(value, __u8);
} nss_fds SEC(".maps");

static __always_inline bool nss_fd(void *fd)
{
	struct busted_tls_key key = { .pid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)fd };

	return fd && bpf_map_lookup_elem(&nss_fds, &key);
}

/* PRFileDesc *SSL_ImportFD(PRFileDesc *model, PRFileDesc *fd): the SSL layer */
SEC("uretprobe")
int BPF_KRETPROBE(nss_import_leave, void *fd)
{
	struct busted_tls_key key = { .pid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)fd };
	__u8 one = 1;

	if (fd && wanted())
		bpf_map_update_elem(&nss_fds, &key, &one, BPF_ANY);
	return 0;
}

/* PRInt32 PR_Write(PRFileDesc *fd, const void *buf, PRInt32 amount), and PR_Send's first three */
SEC("uprobe")
int BPF_KPROBE(pr_write_enter, void *fd, const void *buf, int amount)
{
	if (nss_fd(fd))
		enter(ctx, BUSTED_TLS_WRITE, fd, buf, amount > 0 ? amount : 0, 0);
	return 0;
}

/* PRInt32 PR_Read(PRFileDesc *fd, void *buf, PRInt32 amount), and PR_Recv's first three */
SEC("uprobe")
int BPF_KPROBE(pr_read_enter, void *fd, void *buf, int amount)
{
	if (nss_fd(fd))
		enter(ctx, BUSTED_TLS_READ, fd, buf, 0, 0);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(pr_write_session, void *fd, const void *buf, int amount)
{
	if (bpf_session_is_return())
		return leave(ctx, SESSION_RET(ctx));
	return nss_fd(fd) && enter(ctx, BUSTED_TLS_WRITE, fd, buf, amount > 0 ? amount : 0, 0) ? 0 : 1;
}

SEC("uprobe")
int BPF_KPROBE(pr_read_session, void *fd, void *buf, int amount)
{
	if (bpf_session_is_return())
		return leave(ctx, SESSION_RET(ctx));
	return nss_fd(fd) && enter(ctx, BUSTED_TLS_READ, fd, buf, 0, 0) ? 0 : 1;
}

/* SECStatus SSL_SetURL(PRFileDesc *fd, const char *url): the SNI */
SEC("uprobe")
int BPF_KPROBE(nss_set_url_enter, void *fd, const char *url)
{
	if (!url)
		return 0;
	return sni_seen(ctx, fd, url, NAME_BUF);
}

/* PRStatus PR_Close(PRFileDesc *fd) */
SEC("uprobe")
int BPF_KPROBE(pr_close_enter, void *fd)
{
	struct busted_tls_key key = { .pid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)fd };

	if (!fd || !bpf_map_lookup_elem(&nss_fds, &key))
		return 0;
	bpf_map_delete_elem(&nss_fds, &key);
	return conn_end(ctx, &key);
}

/*
 * Go's crypto/tls, in Go binaries (statically linked; Go 1.17+ on amd64,
 * the register ABI: arguments in RAX, RBX, RCX, ..., results in RAX, RBX,
 * ..., and R14 the running goroutine, its g). The *tls.Conn stands for the
 * SSL*:
 *   func (c *Conn) Write(b []byte) (int, error)  RAX c, RBX b's data, RCX its length
 *   func (c *Conn) Read(b []byte) (int, error)   the same; n in RAX at return
 *   func (c *Conn) clientHandshake(ctx) error    before the ClientHello
 *   func (c *Conn) Close() error                 the connection's end
 * A Write goes whole or its connection fails: it is copied at entry.
 * Read's return is seen by uprobes at each of the function's RET instructions
 * (host/elf.ts retSites), never by a uretprobe: Go moves a goroutine's
 * stack when it grows it, and a return address the kernel swapped would
 * be copied as garbage. A goroutine can block in Read and go on on another
 * thread, and its thread runs other goroutines meanwhile, so a call is
 * kept by (process, goroutine), not by thread. The SNI is the one the
 * wire's ClientHello carried (pkt.bpf.c tie_ssl: this thread's next hello).
 */
struct go_call_key {
	__u32 pid;
	__u32 _pad;
	__u64 g;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_call_key);
	__type(value, struct tls_call);
} go_calls SEC(".maps");

static __always_inline void go_key(struct go_call_key *k, struct pt_regs *regs)
{
	k->pid = bpf_get_current_pid_tgid() >> 32;
	k->_pad = 0;
	k->g = regs->r14;
}

/*
 * Attached at the `jbe` of the function's stack check (GO_AT_STACK_CHECK in
 * the cookie) rather than at its first instruction: the kernel emulates a
 * conditional jump, where the `cmp` or `lea` before it must be stepped out
 * of line, about three times the cost (elf.ts goEntrySite). The arguments
 * are still in their registers there. When the jump is taken (CF or ZF:
 * the stack must grow first), the function runs again from its start
 * after runtime.morestack, and this run is not counted.
 */
#define GO_AT_STACK_CHECK (1ULL << 32)
#define X86_CF 0x1
#define X86_ZF 0x40

static __always_inline bool go_again(struct pt_regs *ctx)
{
	return (bpf_get_attach_cookie(ctx) & GO_AT_STACK_CHECK) && (ctx->flags & (X86_CF | X86_ZF));
}

/* Write's or Read's entry (OP): the *Conn in RAX, the buffer in RBX, its length in RCX */
static __always_inline int go_enter(struct pt_regs *ctx, __u32 op)
{
	struct go_call_key k;
	__s64 n = (__s64)ctx->cx;

	if (go_again(ctx))
		return 0;
	go_key(&k, ctx);
	enter_in(ctx, op, (void *)ctx->ax, (const void *)ctx->bx, op == BUSTED_TLS_WRITE && n > 0 ? n : 0, 0, &go_calls, &k,
		 op == BUSTED_TLS_WRITE);
	return 0;
}

/* crypto/tls.(*Conn).Write: copied whole here, no return probe */
SEC("uprobe")
int go_write_enter(struct pt_regs *ctx)
{
	return go_enter(ctx, BUSTED_TLS_WRITE);
}

/* crypto/tls.(*Conn).Read, at entry */
SEC("uprobe")
int go_read_enter(struct pt_regs *ctx)
{
	return go_enter(ctx, BUSTED_TLS_READ);
}

/*
 * With GO_KEEPS_ARGS in the cookie, Read keeps its receiver and buffer in
 * their spill slots to the end (elf.ts goKeepsArgs): at its RET they are
 * at 8(%rsp) and 16(%rsp), and the call is seen whole there, one trap
 * where an entry probe would make two.
 */
#define GO_KEEPS_ARGS (1ULL << 33)

/* At each RET of Read: n in RAX (0 with an error) */
SEC("uprobe")
int go_read_ret(struct pt_regs *ctx)
{
	struct go_call_key k;
	__u64 args[2];
	__s64 n = (__s64)ctx->ax;

	go_key(&k, ctx);
	if (bpf_get_attach_cookie(ctx) & GO_KEEPS_ARGS) {
		if (n <= 0 || bpf_probe_read_user(args, sizeof(args), (void *)(ctx->sp + 8)))
			return 0;
		if (!enter_in(ctx, BUSTED_TLS_READ, (void *)args[0], (const void *)args[1], 0, 0, &go_calls, &k, false))
			return 0;
	}
	return leave_in(ctx, n, &go_calls, &k);
}

/* crypto/tls.(*Conn).clientHandshake, at entry: this thread's next ClientHello is this connection's */
SEC("uprobe")
int go_handshake_enter(struct pt_regs *ctx)
{
	if (wanted())
		note_last_ssl((void *)ctx->ax);
	return 0;
}

/* crypto/tls.(*Conn).Close, at entry */
SEC("uprobe")
int go_close_enter(struct pt_regs *ctx)
{
	struct busted_tls_key key = { .pid = bpf_get_current_pid_tgid() >> 32, .ssl = ctx->ax };

	return conn_end(ctx, &key);
}
