// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * stdio.bpf.c — MCP over stdio: the JSON-RPC a client writes to the server
 * it spawned (the server's stdin) and the server's answers (its stdout),
 * read at write() entry, where the bytes are still the writer's.
 *
 * Opt-in (`--mcp-stdio`): the only hook that sees a pipe's bytes here is the
 * syscall entry tracepoint, and any program on it sends every system call
 * of every process through the kernel's slow syscall entry (about 0.17 µs
 * each on this guest: a loop of 1-byte writes ran 14 % slower). kprobes
 * and fentry on pipe_write would be cheaper; this kernel has neither.
 *
 * A write is copied when its fd is a pipe or a UNIX socket (Node's child
 * stdio is a socketpair) and it starts a JSON-RPC message (`{"jsonrpc"`,
 * `{"method"`, `{"id"`, `{"result"`, `{"error"`); from then on every write
 * to that fd by that process is, so a message written in parts stays whole.
 */
#include "common.bpf.h"

#define NR_WRITE 1 /* x86_64 */
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFIFO 0010000
#define AF_UNIX 1

/* (tgid << 32 | fd) -> the struct file seen carrying JSON-RPC */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} stdio_fds SEC(".maps");

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

SEC("tp_btf/sys_enter")
int BPF_PROG(handle_stdio_write, struct pt_regs *regs, long id)
{
	struct busted_stdio_event *e;
	struct file *f = NULL;
	__u64 tgid, key, *seen;
	__u32 zero = 0, fd, end = 0;
	__u64 size;
	const char *buf;
	char head[12] = {};
	long count;

	if (id != NR_WRITE)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == self_tgid || !current_in_scope())
		return 0;
	fd = (__u32)BPF_CORE_READ(regs, di);
	buf = (const char *)BPF_CORE_READ(regs, si);
	count = (long)BPF_CORE_READ(regs, dx);
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
	e = bpf_map_lookup_elem(&stdio_scratch, &zero);
	if (!e)
		return 0;
	hdr_init(&e->hdr, BUSTED_KIND_STDIO);
	task_from_current(&e->hdr.task);
	e->file = (__u64)f;
	e->fd = fd;
	e->len = count > 0x7fffffff ? 0x7fffffff : (__u32)count;
	e->end = end;
	{
		/* a size the verifier can bound, in the register the call gets */
		__u64 sz = e->len;

		barrier_var(sz);
		if (sz > BUSTED_STDIO_MAX)
			sz = BUSTED_STDIO_MAX;
		barrier_var(sz);
		if (bpf_probe_read_user(e->data, sz, buf))
			return 0;
		e->cap_len = sz;
	}
	size = offsetof(struct busted_stdio_event, data) + e->cap_len;
	barrier_var(size);
	if (size > sizeof(*e))
		size = sizeof(*e);
	if (bpf_ringbuf_output(&events, e, size, rb_flags()))
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
	else
		stat_inc(BUSTED_STAT_EVENTS);
	return 0;
}
