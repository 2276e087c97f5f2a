// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * stdio.bpf.c — MCP over stdio: the JSON-RPC a client writes to the server
 * it spawned (the server's stdin) and the server's answers (its stdout),
 * read at write() entry, where the bytes are still the writer's.
 *
 * Opt-in (`--mcp-stdio`): the only hook that sees a pipe's bytes here is the
 * syscall entry tracepoint, and any program on it sends every system call
 * of every process through the kernel's slow syscall entry (about 0.17 µs
 * each on this guest: dd bs=1, 1-byte reads and writes, ran 14 % slower). kprobes
 * and fentry on pipe_write would be cheaper; this kernel has neither.
 *
 * A write (or each iovec of a writev) is copied when its fd is a pipe or a UNIX socket (Node's child
 * stdio is a socketpair) and it starts a JSON-RPC message (`{"jsonrpc"`,
 * `{"method"`, `{"id"`, `{"result"`, `{"error"`); from then on every write
 * to that fd by that process is, so a message written in parts stays whole.
 *
 * Under enforce (hold_reads) the other end is held too: a write cannot be
 * stopped before its bytes are in the pipe (a signal sent at syscall entry
 * is taken after the call), but its reader can, between its read() and its
 * next instruction. A read of an end a JSON-RPC write went to is copied at
 * syscall exit and its thread stopped (SIGSTOP, recorded in `held` like a
 * gated TLS write, so the guard lets it go if the agent dies) until the
 * engine has judged the messages the read completes: a server that would
 * run a refused tool call is killed before it has read it.
 */
#include "common.bpf.h"
#include "enforce.bpf.h"

#define NR_READ 0  /* x86_64 */
#define NR_WRITE 1
#define NR_WRITEV 20
/* iovecs of a writev() copied (each as a write of its own): libuv writes a
 * stream's queued messages with one writev when the pipe was full */
#define STDIO_IOV_MAX 8
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFIFO 0010000
#define AF_UNIX 1

/* enforce: hold the reads of ends JSON-RPC was written to */
const volatile __u8 hold_reads = 0;

/* (tgid << 32 | fd) -> the struct file seen carrying JSON-RPC */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} stdio_fds SEC(".maps");

/* reading ends (busted_stdio_event.peer) JSON-RPC was written to (hold_reads) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} stdio_readers SEC(".maps");

/* a read of such an end, between its entry and its exit, by thread */
struct read_call {
	__u64 buf;
	__u64 peer;
	__u64 file;
	__u32 fd;
	__u32 end;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct read_call);
} stdio_reading SEC(".maps");

/* the record, built here (too big for the stack) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct busted_stdio_event);
} stdio_scratch SEC(".maps");

/* Does a write starting with P (12 bytes) start a JSON-RPC message? */
static __always_inline bool jsonrpc_start(const char *p)
{
	if (p[0] != '{' || p[1] != '"')
		return false;
	switch (p[2]) {
	case 'j':
		return p[3] == 's' && p[4] == 'o' && p[5] == 'n' && p[6] == 'r' && p[7] == 'p' && p[8] == 'c' && p[9] == '"';
	case 'm':
		return p[3] == 'e' && p[4] == 't' && p[5] == 'h' && p[6] == 'o' && p[7] == 'd' && p[8] == '"';
	case 'i':
		return p[3] == 'd' && p[4] == '"';
	case 'r':
		return p[3] == 'e' && p[4] == 's' && p[5] == 'u' && p[6] == 'l' && p[7] == 't' && p[8] == '"';
	case 'e':
		return p[3] == 'r' && p[4] == 'r' && p[5] == 'o' && p[6] == 'r' && p[7] == '"';
	}
	return false;
}

/* The file behind FD of the current task, and what it is (enum busted_stdio_end, 0: neither a pipe nor a UNIX socket). */
static __always_inline __u32 stdio_end(__u32 fd, struct file **out)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct file **fds = BPF_CORE_READ(t, files, fdt, fd);
	unsigned int max = BPF_CORE_READ(t, files, fdt, max_fds);
	struct file *f = NULL;
	__u16 mode;

	if (fd >= max || bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	*out = f;
	mode = BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT;
	if (mode == S_IFIFO)
		return BUSTED_STDIO_PIPE;
	if (mode != S_IFSOCK)
		return 0;
	{
		struct socket *sock = BPF_CORE_READ(f, private_data);

		return BPF_CORE_READ(sock, sk, __sk_common.skc_family) == AF_UNIX ? BUSTED_STDIO_UNIX : 0;
	}
}

/*
 * The reading end F is, or (WRITER) the reading end a write to F reaches: a
 * pipe's inode (both ends'), a UNIX socket's sock or its peer's; and (INO)
 * that end's inode number, as its reader's /proc/PID/fd shows it.
 */
static __always_inline __u64 reading_end(struct file *f, __u32 end, bool writer, __u64 *ino)
{
	struct socket *sock;
	struct sock *sk;

	if (end == BUSTED_STDIO_PIPE) {
		*ino = BPF_CORE_READ(f, f_inode, i_ino);
		return (__u64)BPF_CORE_READ(f, f_inode);
	}
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (writer)
		sk = BPF_CORE_READ((struct unix_sock *)sk, peer);
	*ino = sk ? BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino) : 0;
	return (__u64)sk;
}

static __always_inline struct busted_stdio_event *record(struct file *f, __u32 fd, __u32 end, __u64 peer, __u64 ino, long len, const char *buf)
{
	__u32 zero = 0;
	struct busted_stdio_event *e = bpf_map_lookup_elem(&stdio_scratch, &zero);

	if (!e)
		return NULL;
	hdr_init(&e->hdr, BUSTED_KIND_STDIO);
	task_from_current(&e->hdr.task);
	e->file = (__u64)f;
	e->peer = peer;
	e->peer_ino = ino;
	e->call_id = 0;
	e->fd = fd;
	e->len = len > 0x7fffffff ? 0x7fffffff : (__u32)len;
	e->end = end;
	e->flags = 0;
	{
		/* a size the verifier can bound, in the register the call gets */
		__u64 sz = e->len;

		barrier_var(sz);
		if (sz > BUSTED_STDIO_MAX)
			sz = BUSTED_STDIO_MAX;
		barrier_var(sz);
		if (bpf_probe_read_user(e->data, sz, buf))
			return NULL;
		e->cap_len = sz;
	}
	return e;
}

static __always_inline bool send(struct busted_stdio_event *e, __u64 flags)
{
	__u64 size = offsetof(struct busted_stdio_event, data) + e->cap_len;

	barrier_var(size);
	if (size > sizeof(*e))
		size = sizeof(*e);
	if (bpf_ringbuf_output(&events, e, size, flags)) {
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
		return false;
	}
	stat_inc(BUSTED_STAT_EVENTS);
	return true;
}

/* A write of COUNT bytes at BUF to FD (or one iovec of a writev). */
static __always_inline int on_write(__u64 tgid, __u32 fd, const char *buf, long count)
{
	struct busted_stdio_event *e;
	struct file *f = NULL;
	__u64 key, *seen, peer, ino = 0, wake;
	__u32 end = 0;
	char head[12] = {};

	if (count <= 0)
		return 0;
	key = tgid << 32 | fd;
	seen = bpf_map_lookup_elem(&stdio_fds, &key);
	if (seen) {
		end = stdio_end(fd, &f);
		if (!end || (__u64)f != *seen) {
			/* the fd was closed and reused for something else */
			bpf_map_delete_elem(&stdio_fds, &key);
			if (!end)
				return 0;
			seen = NULL;
		}
	}
	/* a stream's first record wakes the engine at once: it looks up the
	 * process at the other end in /proc while both ends still run */
	wake = seen ? rb_flags() : BPF_RB_FORCE_WAKEUP;
	if (!seen) {
		if (count < 8 || bpf_probe_read_user(head, sizeof(head) < count ? sizeof(head) : 8, buf) || !jsonrpc_start(head))
			return 0;
		if (!f && !(end = stdio_end(fd, &f)))
			return 0;
		{
			__u64 file = (__u64)f;

			bpf_map_update_elem(&stdio_fds, &key, &file, BPF_ANY);
		}
	}
	peer = reading_end(f, end, true, &ino);
	if (hold_reads && peer) {
		__u8 one = 1;

		bpf_map_update_elem(&stdio_readers, &peer, &one, BPF_ANY);
	}
	e = record(f, fd, end, peer, ino, count, buf);
	if (e)
		send(e, wake);
	return 0;
}

/* A writev(): its iovecs in order, each as a write (the engine joins a stream's writes into lines). */
static __always_inline int on_writev(__u64 tgid, __u32 fd, const struct iovec *iov, long cnt)
{
	struct iovec v;

	if (cnt <= 0)
		return 0;
	for (int i = 0; i < STDIO_IOV_MAX; i++) {
		if (i >= cnt || bpf_probe_read_user(&v, sizeof(v), &iov[i]))
			break;
		on_write(tgid, fd, v.iov_base, (long)v.iov_len);
	}
	return 0;
}

/*
 * A read of a pipe or UNIX socket: kept for its exit, which holds it when
 * JSON-RPC was written to that end by then. Not only when it was at entry:
 * a server waits in read() for its first message, which is written while
 * it waits.
 */
static __always_inline int on_read(struct pt_regs *regs)
{
	struct read_call c = {};
	struct file *f = NULL;
	__u64 ino;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	c.fd = (__u32)BPF_CORE_READ(regs, di);
	c.end = stdio_end(c.fd, &f);
	if (!c.end)
		return 0;
	c.peer = reading_end(f, c.end, false, &ino);
	if (!c.peer)
		return 0;
	c.buf = BPF_CORE_READ(regs, si);
	c.file = (__u64)f;
	bpf_map_update_elem(&stdio_reading, &tid, &c, BPF_ANY);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(handle_stdio_write, struct pt_regs *regs, long id)
{
	__u64 tgid;

	if (id != NR_WRITE && id != NR_WRITEV && !(id == NR_READ && hold_reads))
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == self_tgid || !current_in_scope())
		return 0;
	if (id == NR_WRITE)
		return on_write(tgid, (__u32)BPF_CORE_READ(regs, di), (const char *)BPF_CORE_READ(regs, si), (long)BPF_CORE_READ(regs, dx));
	if (id == NR_WRITEV)
		return on_writev(tgid, (__u32)BPF_CORE_READ(regs, di), (const struct iovec *)BPF_CORE_READ(regs, si), (long)BPF_CORE_READ(regs, dx));
	return on_read(regs);
}

/* The engine's sign of life is recent. */
static __always_inline bool engine_alive(void)
{
	struct busted_enforce_cfg *c = cfg();

	return c && (c->flags & BUSTED_CFG_ENFORCE) && engine_heard(c);
}

/* The exit of a read kept at its entry: what it returned, its thread held. */
SEC("tp_btf/sys_exit")
int BPF_PROG(handle_stdio_read_exit, struct pt_regs *regs, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct busted_stdio_event *e;
	struct read_call *rc, c;

	rc = bpf_map_lookup_elem(&stdio_reading, &tid);
	if (!rc)
		return 0;
	c = *rc;
	bpf_map_delete_elem(&stdio_reading, &tid);
	if (ret <= 0 || !bpf_map_lookup_elem(&stdio_readers, &c.peer))
		return 0;
	e = record((struct file *)c.file, c.fd, c.end, c.peer, 0, ret, (const char *)c.buf);
	if (!e)
		return 0;
	e->flags = BUSTED_STDIO_F_READ;
	e->call_id = next_call_id();
	if (!engine_alive() || !e->call_id) {
		send(e, rb_flags());
		return 0;
	}
	e->flags |= BUSTED_STDIO_F_HELD;
	/* its record first: the engine decides on it, then lets it go */
	if (send(e, BPF_RB_FORCE_WAKEUP))
		hold_this_thread(id >> 32, 0, e->call_id);
	return 0;
}
