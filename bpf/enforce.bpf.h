/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * enforce.bpf.h — the maps enforcement shares between objects, and the name
 * hash. Included (after common.bpf.h) by every object that feeds or applies
 * enforcement: proc (program images), pkt (DNS answers, blocked sockets),
 * tls (gated connections), enforce (the connect hooks). The loader creates
 * each map once and hands the same fd to the others (bpf_map__reuse_fd),
 * so the definitions here are the only ones; when the agent does not
 * enforce (monitor) it shrinks them to one entry.
 *
 * The layouts of keys and values are in busted.h (the engine writes them).
 */
#ifndef BUSTED_ENFORCE_BPF_H
#define BUSTED_ENFORCE_BPF_H

/* Name hashes of the classes the engine knows (provider domains, blocked hosts). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct busted_name_value);
} names SEC(".maps");

/* Addresses learnt from DNS answers to those names (per process), and the
 * engine's static ones (tgid 0). LRU: an evicted address is unclassified,
 * and the engine still decides the connection from its SNI afterwards. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct busted_dest_key);
	__type(value, struct busted_dest_value);
} dest SEC(".maps");

/* Published address ranges of providers. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct busted_lpm_key);
	__type(value, struct busted_dest_value);
} dest_static SEC(".maps");

/* tgid -> its program image (set at exec, copied at fork, removed at exit;
 * the engine seeds processes that predate it). Not LRU: a process without
 * an entry gets its cgroup's verdict, so an entry must not vanish silently. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct busted_proc_value);
} procs SEC(".maps");

/* The engine's verdicts per program image. LRU: an evicted image falls back
 * to its cgroup's verdict. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct busted_verdict);
} image_verdicts SEC(".maps");

/* How many processes run each image (exec, fork, exit): when none does, its
 * verdict goes (proc.bpf.c image_unref). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __s64);
} image_refs SEC(".maps");

/* The engine's verdicts per cgroup id; key 0 is the default. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct busted_verdict);
} cgroup_verdicts SEC(".maps");

/* Sockets whose packets are dropped (socket cookie -> 1: reported yet). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} blocked_socks SEC(".maps");

/* Threads whose next packet out is blocked (tid -> pid): a held write on a
 * blocked TLS connection whose socket the engine does not know (its
 * ClientHello was not seen); the packet names the socket, which is then
 * blocked as a whole. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} blocked_tids SEC(".maps");

/* Writes held in the packet hook rather than by stopping their thread
 * (tls.bpf.c hold_in_packets), per socket (cookie): how many the kernel
 * held, counted by the probe, and how many of them the engine let go,
 * written by the engine. What the socket sends is dropped while the first
 * is ahead (pkt.bpf.c pkt_held): a write held after the engine's count was
 * read stays held, however the two race. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} pkt_holds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} pkt_released SEC(".maps");

/* The socket of each TLS connection whose ClientHello (a server's:
 * ServerHello) was seen leaving, by pid and SSL* (pkt.bpf.c tie_ssl). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct busted_tls_key);
	__type(value, __u64);
} ssl_socks SEC(".maps");

/* The SSL* each thread last handed to the TLS library (tid -> key): the
 * ClientHello that thread sends next belongs to it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct busted_tls_key);
} last_ssl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct busted_enforce_cfg);
} enforce_cfg SEC(".maps");

/* Threads held at a gated SSL_write (busted.h, struct busted_held). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct busted_held);
} held SEC(".maps");

/* Program images are numbered per CPU: (sequence << 8 | cpu), never 0. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} image_seq SEC(".maps");

/* A destination's class: dest (the DNS answers of the program image the
 * process runs), dest (image 0: for everyone), dest_static (published
 * ranges); NULL: none. */
static __always_inline struct busted_dest_value *dest_of(__u64 image, __u32 family, const __u8 *addr)
{
	struct busted_dest_key k = { .image = image, .family = family };
	struct busted_lpm_key lk = { .prefixlen = 128 };
	struct busted_dest_value *v;

	__builtin_memcpy(k.addr, addr, 16);
	if (image) {
		v = bpf_map_lookup_elem(&dest, &k);
		if (v)
			return v;
	}
	k.image = 0;
	v = bpf_map_lookup_elem(&dest, &k);
	if (v)
		return v;
	if (family == 4) {
		/* the trie holds IPv4 as ::ffff:a.b.c.d */
		__builtin_memset(lk.addr, 0, 10);
		lk.addr[10] = 0xff;
		lk.addr[11] = 0xff;
		__builtin_memcpy(&lk.addr[12], addr, 4);
	} else {
		__builtin_memcpy(lk.addr, addr, 16);
	}
	return bpf_map_lookup_elem(&dest_static, &lk);
}

/* A host name being classified: up to 255 bytes, dotted, not terminated.
 * One per CPU, shared by whoever classifies (the SNI probe, the DNS walk). */
#define NAME_BUF 256

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[NAME_BUF]);
} name_buf SEC(".maps");

static __always_inline char *name_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&name_buf, &zero);
}

static __always_inline struct busted_enforce_cfg *cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&enforce_cfg, &zero);
}

/* Without a sign of life from the engine for this long, nothing is held:
 * a hold no engine decides would never end. */
#define HEARTBEAT_MAX_NS (2ULL * 1000 * 1000 * 1000)
#define SIGSTOP 19

/* The engine's heartbeat in C is fresh. */
static __always_inline bool engine_heard(const struct busted_enforce_cfg *c)
{
	return bpf_ktime_get_ns() - c->heartbeat_ns < HEARTBEAT_MAX_NS;
}

/* A per-CPU sequence for call ids, shared by the objects that hold threads
 * (tls.bpf.c, stdio.bpf.c), so that no two holds of a process share one. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} call_seq SEC(".maps");

static __always_inline __u64 next_call_id(void)
{
	__u32 zero = 0;
	__u64 *seq = bpf_map_lookup_elem(&call_seq, &zero);

	if (!seq)
		return 0;
	*seq += 1;
	return (*seq << 8) | bpf_get_smp_processor_id();
}

/* Is a SIGSTOP queued on this thread? bpf_send_signal_thread queues it at
 * once, unless the program runs with preemption off (a kernel whose RCU
 * read lock disables it): then an irq_work sends it a moment later. */
static __always_inline bool stop_queued(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(t, pending.signal.sig[0]) & (1ULL << (SIGSTOP - 1));
}

/* This thread stops until the engine lets it go (call CALL_ID of PID, on
 * SSL: 0 for none), recorded in `held` first, where the guard and the
 * engine find it. Once its stop is queued, the entry says so: the engine
 * reads that instead of the thread's /proc stat before it sends SIGCONT. */
static __always_inline void hold_this_thread(__u32 pid, __u64 ssl, __u64 call_id)
{
	struct busted_held h = { .pid = pid, .ssl = ssl, .call_id = call_id, .since_ns = bpf_ktime_get_ns() };
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct busted_held *v;

	bpf_map_update_elem(&held, &tid, &h, BPF_ANY);
	bpf_send_signal_thread(SIGSTOP);
	if (stop_queued()) {
		v = bpf_map_lookup_elem(&held, &tid);
		if (v && v->call_id == call_id)
			v->flags |= BUSTED_HELD_STOP_QUEUED;
	}
}

/* The classes blocked for the current process (running `p`), and which verdict said so. */
static __always_inline __u64 blocked_classes(struct busted_proc_value *p, __u64 *image, __u32 *source)
{
	__u64 cgid = bpf_get_current_cgroup_id();
	struct busted_verdict *v;
	__u64 zero = 0;

	if (p && p->cgroup_id == cgid && p->uid == (__u32)bpf_get_current_uid_gid()) {
		*image = p->image;
		v = bpf_map_lookup_elem(&image_verdicts, &p->image);
		if (v) {
			*source = BUSTED_VSRC_IMAGE;
			return v->block;
		}
	}
	v = bpf_map_lookup_elem(&cgroup_verdicts, &cgid);
	if (v) {
		*source = BUSTED_VSRC_CGROUP;
		return v->block;
	}
	*source = BUSTED_VSRC_DEFAULT;
	v = bpf_map_lookup_elem(&cgroup_verdicts, &zero);
	return v ? v->block : 0;
}

#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL

struct name_walk {
	__u64 h;
	__u32 len;
	__u32 best;
	__u32 known; /* some entry matched */
	__u32 _pad;
};

/* One character of the walk, right to left (bpf_loop: the verifier checks
 * this once instead of once per character). */
static long name_step(__u32 k, struct name_walk *w)
{
	struct busted_name_value *v;
	char *name = name_scratch();
	char c;

	if (!name || k >= w->len)
		return 1;
	c = name[(w->len - 1 - k) & (NAME_BUF - 1)];
	if (c == '.') {
		v = bpf_map_lookup_elem(&names, &w->h);
		if (v && (v->flags & BUSTED_NAME_SUFFIX)) {
			w->best = v->klass;
			w->known = 1;
		}
	}
	if (c >= 'A' && c <= 'Z')
		c += 'a' - 'A';
	w->h = (w->h ^ (__u8)c) * FNV64_PRIME;
	return 0;
}

/*
 * The class of the longest entry of `names` that the name in name_buf[0..len)
 * is or lies below (at a label boundary); 0 for none. The hash runs right
 * to left, so the hash of every suffix after a dot is at hand as the walk
 * reaches the dot: "api.openai.com" yields "com", "openai.com", then the
 * whole name. engine/enforce/classes.ts computes the same hash. *known
 * says whether any entry matched (one that classifies nothing included).
 */
static __always_inline __u32 name_class(__u32 len, __u32 *known)
{
	struct name_walk w = { .h = FNV64_OFFSET };
	struct busted_name_value *v;
	char *name = name_scratch();

	*known = 0;
	if (!name || len == 0 || len > NAME_BUF)
		return 0;
	/* the absolute form "api.openai.com." is the same name */
	if (name[(len - 1) & (NAME_BUF - 1)] == '.')
		len--;
	w.len = len;
	bpf_loop(NAME_BUF, name_step, &w, 0);
	v = bpf_map_lookup_elem(&names, &w.h);
	if (v) {
		w.best = v->klass;
		w.known = 1;
	}
	*known = w.known;
	return w.best;
}

#endif /* BUSTED_ENFORCE_BPF_H */
