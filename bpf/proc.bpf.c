// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * proc.bpf.c — process lifecycle: exec and exit.
 *
 * Reported from the kernel (not /proc) so that a process that connects and
 * exits within a millisecond still has a name, an exe and a command line.
 */
#include "common.bpf.h"
#include "enforce.bpf.h"

/* Number program images and keep procs (enforcement needs them; monitor does not). */
const volatile __u8 track_images = 0;

static __always_inline void image_ref(__u64 image)
{
	__s64 one = 1, *n = bpf_map_lookup_elem(&image_refs, &image);

	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&image_refs, &image, &one, BPF_NOEXIST);
}

/* One process fewer runs this image: the last one takes its verdict along. */
static __always_inline void image_unref(__u64 image)
{
	__s64 *n = bpf_map_lookup_elem(&image_refs, &image);

	if (n && __sync_fetch_and_add(n, -1) <= 1) {
		bpf_map_delete_elem(&image_refs, &image);
		bpf_map_delete_elem(&image_verdicts, &image);
	}
}

/*
 * Executables run since the agent started, by file: an exec of one not
 * seen yet wakes the engine at once (its other records wait to be drained
 * in batches, up to its poll interval). The engine looks at a new program
 * for a TLS of its own (a Go binary's crypto/tls, a static OpenSSL) when
 * it reads its exec: woken, it puts the probes on before the process's
 * first request (a Go client's came ~15 ms after its exec here), where a
 * batch drained 250 ms later found the process gone. A program seen once
 * is not looked at again for its later processes (host/tls-looks.ts), so
 * the wake-ups are few whatever the exec rate.
 */
struct exe_key {
	__u64 ino;
	__u32 dev;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct exe_key);
	__type(value, __u8);
} exe_seen SEC(".maps");

/* Whether the executable EXE (the exec record's, read once) is one no exec has run since the agent started (and now one has). */
static __always_inline bool exe_first_seen(const struct busted_exe_key *exe)
{
	struct exe_key k = {};
	__u8 one = 1;

	k.ino = exe->ino;
	k.dev = exe->dev;
	if (!k.ino || bpf_map_lookup_elem(&exe_seen, &k))
		return false;
	bpf_map_update_elem(&exe_seen, &k, &one, BPF_ANY);
	return true;
}

/*
 * Executables the engine has hashed (busted_exe_key -> 1): with
 * BUSTED_CFG_HOLD_EXEC (a policy that reads process.exe_sha256), an exec
 * of any other file stops its process before its first instruction, until
 * the engine has hashed the file, judged the process and let it go. So a
 * program new to the agent cannot connect before its verdict says what its
 * hash allows; a file already hashed, unchanged since, runs at once.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct busted_exe_key);
	__type(value, __u8);
} exe_hashed SEC(".maps");

/* Inodes' change time, by the kernel's field names: i_ctime_sec and
 * i_ctime_nsec (6.11 on), __i_ctime (6.6 to 6.10), i_ctime (before). */
struct inode___ctime_split {
	time64_t i_ctime_sec;
	u32 i_ctime_nsec;
} __attribute__((preserve_access_index));

struct inode___ctime_hidden {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

struct inode___ctime_old {
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

static __always_inline __u64 inode_ctime_ns(struct inode *ino)
{
	struct inode___ctime_split *a = (void *)ino;
	struct inode___ctime_hidden *b = (void *)ino;
	struct inode___ctime_old *c = (void *)ino;

	/* the nanoseconds' top bit is a flag (multigrain timestamps: I_CTIME_QUERIED), not time */
	if (bpf_core_field_exists(a->i_ctime_sec))
		return (__u64)BPF_CORE_READ(a, i_ctime_sec) * 1000000000ULL + (BPF_CORE_READ(a, i_ctime_nsec) & 0x3fffffff);
	if (bpf_core_field_exists(b->__i_ctime))
		return (__u64)BPF_CORE_READ(b, __i_ctime.tv_sec) * 1000000000ULL + BPF_CORE_READ(b, __i_ctime.tv_nsec);
	return (__u64)BPF_CORE_READ(c, i_ctime.tv_sec) * 1000000000ULL + BPF_CORE_READ(c, i_ctime.tv_nsec);
}

/* The exec record is 888 bytes: too big for the 512-byte BPF stack, so it
 * is built in the ring buffer directly. */

static __always_inline void task_parent(struct busted_task *t, struct task_struct *p)
{
	t->ppid = KREAD(p, real_parent, tgid);
}

/* A new program image replaced the current one (execve succeeded). */
TRACEPOINT(sched_process_exec)
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct busted_exec_event *e;
	unsigned long arg_start, arg_end;
	const char *filename;
	struct inode *inode;
	__u64 call_id = 0;
	__u32 len, pid;
	long n;

	if (!current_in_scope())
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
		return 0;
	}
	hdr_init(&e->hdr, BUSTED_KIND_EXEC);
	task_from_current(&e->hdr.task);
	task_parent(&e->hdr.task, p);
	e->image = 0;
	e->flags = 0;
	e->call_id = 0;
	inode = KREAD(bprm, file, f_inode);
	e->exe.ino = KREAD(inode, i_ino);
	e->exe.dev = KREAD(inode, i_sb, s_dev);
	e->exe.ctime_ns = inode_ctime_ns(inode);
	e->exe._pad = 0;
	pid = e->hdr.task.pid;
	if (track_images) {
		/* A new image: verdicts of the old one no longer apply. Until the
		 * engine has evaluated this one, the connect hooks use the cgroup's. */
		struct busted_proc_value pv = {}, *old;
		__u32 zero = 0;
		__u64 *seq = bpf_map_lookup_elem(&image_seq, &zero);

		if (seq) {
			*seq += 1;
			e->image = (*seq << 8) | bpf_get_smp_processor_id();
		}
		old = bpf_map_lookup_elem(&procs, &e->hdr.task.pid);
		if (old)
			image_unref(old->image);
		pv.image = e->image;
		pv.cgroup_id = e->hdr.task.cgroup_id;
		pv.uid = e->hdr.task.uid;
		bpf_map_update_elem(&procs, &e->hdr.task.pid, &pv, BPF_ANY);
		image_ref(e->image);

		/* a file not hashed yet, under a policy that judges by hash: held (after the record is in the ring) */
		struct busted_enforce_cfg *c = cfg();

		if (c && (c->flags & BUSTED_CFG_HOLD_EXEC) && engine_heard(c) && !bpf_map_lookup_elem(&exe_hashed, &e->exe)) {
			call_id = next_call_id();
			e->call_id = call_id;
			e->flags |= BUSTED_EXEC_HELD;
		}
	}

	/* bprm->filename is the path as execve() was given it, in kernel memory. */
	filename = KREAD(bprm, filename);
	n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename);
	e->filename_len = n > 0 ? n - 1 : 0;

	/* argv sits NUL-separated between mm->arg_start and arg_end of the new
	 * image, already copied in by the time this tracepoint fires. */
	arg_start = KREAD(p, mm, arg_start);
	arg_end = KREAD(p, mm, arg_end);
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	e->args_truncated = len > BUSTED_ARGS_LEN;
	if (len > BUSTED_ARGS_LEN)
		len = BUSTED_ARGS_LEN;
	/* The verifier wants a provable bound on the length. */
	len &= (BUSTED_ARGS_LEN << 1) - 1;
	if (len > BUSTED_ARGS_LEN)
		len = BUSTED_ARGS_LEN;
	if (len && bpf_probe_read_user(e->args, len, (void *)arg_start) == 0)
		e->args_len = len;
	else
		e->args_len = 0;

	/* with enforcement the engine evaluates a new image at once, and a new
	 * executable it looks at at once: wake it */
	bpf_ringbuf_submit(e, track_images || exe_first_seen(&e->exe) ? BPF_RB_FORCE_WAKEUP : rb_flags());
	stat_inc(BUSTED_STAT_EVENTS);
	if (call_id)
		hold_this_thread(pid, 0, call_id);
	return 0;
}

/* A thread exited; report the process when its leader goes. */
TRACEPOINT(sched_process_exit)
int BPF_PROG(handle_exit, struct task_struct *p)
{
	struct busted_exit_event *e;
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	/* Threads other than the leader are not processes of their own. */
	if ((__u32)pid_tgid != (pid_tgid >> 32))
		return 0;
	if (track_images) {
		__u32 tgid = pid_tgid >> 32;
		struct busted_proc_value *pv = bpf_map_lookup_elem(&procs, &tgid);

		if (pv) {
			image_unref(pv->image);
			bpf_map_delete_elem(&procs, &tgid);
		}
	}
	if (!current_in_scope())
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(BUSTED_STAT_RINGBUF_FULL);
		return 0;
	}
	hdr_init(&e->hdr, BUSTED_KIND_EXIT);
	task_from_current(&e->hdr.task);
	task_parent(&e->hdr.task, p);
	/* exit_code: (status << 8) | termsig, as wait(2) reports it. */
	e->exit_code = KREAD(p, exit_code);
	e->_pad = 0;
	e->start_ns = KREAD(p, start_time);
	bpf_ringbuf_submit(e, rb_flags());
	stat_inc(BUSTED_STAT_EVENTS);
	return 0;
}

/* A new process (not a thread) runs its parent's image: it shares the
 * parent's verdicts until it executes something else. */
TRACEPOINT(sched_process_fork)
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct busted_proc_value *pv;
	__u32 ptgid, ctgid;

	if (!track_images)
		return 0;
	ptgid = KREAD(parent, tgid);
	ctgid = KREAD(child, tgid);
	if (ptgid == ctgid)
		return 0;
	pv = bpf_map_lookup_elem(&procs, &ptgid);
	if (pv && !bpf_map_update_elem(&procs, &ctgid, pv, BPF_ANY))
		image_ref(pv->image);
	return 0;
}
