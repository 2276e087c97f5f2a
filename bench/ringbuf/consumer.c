// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ringbuf-consumer — the C baseline: the pinned ring buffer read with
 * libbpf's own consumer (ring_buffer__new + ring_buffer__poll), each record
 * given the minimal decode a C agent would do: check the header, then copy
 * kind, task (pid, tid, uid, gid, comm, cgroup), flow (addresses, ports,
 * family, protocol), phase/direction/counters into a struct, and the
 * payload / filename / argv bytes into buffers. No strings are formatted:
 * that is the part a C agent would skip and the engine cannot.
 *
 *   ringbuf-consumer --pin PATH
 *     streaming: same stdio protocol as ringbuf-producer; prints
 *     STATS {"window_ns", "consumed" (in the window), "total", "bad", ...}
 *     and exits once the producer has stopped and the ring is empty.
 *
 *   ringbuf-consumer --drain --obj producer.bpf.o --ring-bytes N --mix M --seconds S
 *     capacity: loads the producer program itself, then repeatedly fills
 *     its ring (BPF_PROG_TEST_RUN until a reservation fails) and times
 *     ring_buffer__consume() emptying it; prints
 *     STATS {"drained", "drain_ns", "cycles", ...} for the cycles after a
 *     0.5 s warm-up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "busted.h"

struct decoded {
	__u64 ts, cgroup_id, sock_id, bytes_sent, bytes_received, start_ns;
	__u32 kind, pid, tid, ppid, uid, gid, flags, phase, dir, len;
	__u16 sport, dport;
	__u8 family, protocol;
	__u8 saddr[16], daddr[16];
	char comm[BUSTED_COMM_LEN];
	__u32 data_len;
	__u8 data[BUSTED_PKT_MAX];
	char filename[BUSTED_PATH_LEN];
	char args[BUSTED_ARGS_LEN];
};

struct state {
	uint64_t total, bad, sum;
	uint64_t per_kind[8];
	uint64_t t_win, t_end;
	int in_window, ended;
	uint64_t c0, c1, tw0, tw1;
	double cpu0, cpu1;
	struct decoded d;
};

/* CPU time this process used (user + system, BPF test runs included), ms. */
static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Window bookkeeping, called every 1024 records and after every poll. */
static void tick(struct state *st)
{
	uint64_t t;

	if (st->ended)
		return;
	t = now_ns();
	if (!st->in_window && t >= st->t_win) {
		st->in_window = 1;
		st->c0 = st->total;
		st->cpu0 = cpu_ms();
		st->tw0 = t;
	}
	if (t >= st->t_end) {
		st->ended = 1;
		st->c1 = st->total;
		st->cpu1 = cpu_ms();
		st->tw1 = t;
	}
}

static void flow_copy(struct decoded *d, const struct busted_flow *f)
{
	memcpy(d->saddr, f->saddr, 16);
	memcpy(d->daddr, f->daddr, 16);
	d->sport = f->sport;
	d->dport = f->dport;
	d->family = f->family;
	d->protocol = f->protocol;
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct state *st = ctx;
	struct decoded *d = &st->d;
	const struct busted_hdr *h = data;

	st->total++;
	if ((st->total & 1023) == 0)
		tick(st);
	if (len < sizeof(*h) || h->abi != BUSTED_ABI_VERSION) {
		st->bad++;
		return 0;
	}
	d->kind = h->kind;
	d->ts = h->ts_ns;
	d->cgroup_id = h->task.cgroup_id;
	d->pid = h->task.pid;
	d->tid = h->task.tid;
	d->ppid = h->task.ppid;
	d->uid = h->task.uid;
	d->gid = h->task.gid;
	d->flags = h->task.flags;
	memcpy(d->comm, h->task.comm, BUSTED_COMM_LEN);
	switch (h->kind) {
	case BUSTED_KIND_TCP: {
		const struct busted_tcp_event *e = data;

		if (len < sizeof(*e))
			goto bad;
		d->sock_id = e->sock_id;
		flow_copy(d, &e->flow);
		d->phase = e->phase;
		d->dir = e->dir;
		d->bytes_sent = e->bytes_sent;
		d->bytes_received = e->bytes_received;
		d->start_ns = e->start_ns;
		break;
	}
	case BUSTED_KIND_UDP: {
		const struct busted_udp_event *e = data;

		if (len < sizeof(*e))
			goto bad;
		d->sock_id = e->sock_id;
		flow_copy(d, &e->flow);
		d->phase = e->phase;
		d->dir = e->_pad;
		d->bytes_sent = e->bytes_sent;
		d->bytes_received = e->bytes_received;
		d->start_ns = e->start_ns;
		break;
	}
	case BUSTED_KIND_PKT: {
		const struct busted_pkt_event *e = data;

		if (len < offsetof(struct busted_pkt_event, data))
			goto bad;
		if (e->cap_len > BUSTED_PKT_MAX || offsetof(struct busted_pkt_event, data) + e->cap_len > len)
			goto bad;
		d->sock_id = e->sock_id;
		flow_copy(d, &e->flow);
		d->phase = e->pkt_kind;
		d->dir = e->dir;
		d->len = e->len;
		d->data_len = e->cap_len;
		memcpy(d->data, e->data, e->cap_len);
		break;
	}
	case BUSTED_KIND_EXEC: {
		const struct busted_exec_event *e = data;
		__u32 fl, al;

		if (len < sizeof(*e))
			goto bad;
		fl = e->filename_len < BUSTED_PATH_LEN ? e->filename_len : BUSTED_PATH_LEN - 1;
		al = e->args_len < BUSTED_ARGS_LEN ? e->args_len : BUSTED_ARGS_LEN;
		memcpy(d->filename, e->filename, fl);
		d->filename[fl] = 0;
		memcpy(d->args, e->args, al);
		d->len = al;
		break;
	}
	case BUSTED_KIND_EXIT: {
		const struct busted_exit_event *e = data;

		if (len < sizeof(*e))
			goto bad;
		d->phase = e->exit_code;
		d->start_ns = e->start_ns;
		break;
	}
	default:
		goto bad;
	}
	st->per_kind[h->kind & 7]++;
	st->sum += d->pid + d->sport + d->dport + d->daddr[3] + d->ts;
	/* The decoded struct escapes: the compiler may not drop the copies. */
	__asm__ volatile("" : : "r"(d) : "memory");
	return 0;
bad:
	st->bad++;
	return 0;
}

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN)
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/* Capacity: fill the ring with the producer program, time the drain, repeat. */
static int drain_bench(const char *obj_path, unsigned long ring_bytes, int mix, double seconds)
{
	static struct state st;
	struct bpf_object *obj;
	struct bpf_map *map;
	struct bpf_program *prog;
	struct ring_buffer *rb;
	int err, prog_fd;
	const __u64 batch = 256;

	libbpf_set_print(quiet_print);
	obj = bpf_object__open_file(obj_path, NULL);
	if (!obj) {
		fprintf(stderr, "ringbuf-consumer: open %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	map = bpf_object__find_map_by_name(obj, "events");
	prog = bpf_object__find_program_by_name(obj, "produce");
	if (!map || !prog || bpf_map__set_max_entries(map, ring_bytes) || (err = bpf_object__load(obj))) {
		fprintf(stderr, "ringbuf-consumer: cannot load %s\n", obj_path);
		return 1;
	}
	prog_fd = bpf_program__fd(prog);
	rb = ring_buffer__new(bpf_map__fd(map), on_record, &st, NULL);
	if (!rb) {
		fprintf(stderr, "ringbuf-consumer: ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}
	/* Windows never open in this mode: tick() stays inert. */
	st.ended = 1;

	__u64 args[5] = { batch, 0, (__u64)mix, (__u64)getppid(), 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(args));
	uint64_t start = now_ns(), warm_end = start + 500000000ull;
	uint64_t end = warm_end + (uint64_t)(seconds * 1e9);
	uint64_t drained = 0, drain_ns = 0, drain_cpu_ns = 0, fill_ns = 0, cycles = 0, seq = 0;
	for (;;) {
		uint64_t t = now_ns();

		if (t >= end && cycles >= 2)
			break;
		/* fill */
		for (;;) {
			args[1] = seq;
			opts.retval = 0;
			err = bpf_prog_test_run_opts(prog_fd, &opts);
			if (err) {
				fprintf(stderr, "ringbuf-consumer: BPF_PROG_TEST_RUN: %s\n", strerror(-err));
				return 1;
			}
			seq += opts.retval;
			if (opts.retval < batch)
				break;
		}
		uint64_t t1 = now_ns(), c1 = cpu_ns();
		uint64_t before = st.total;
		int n = ring_buffer__consume(rb);
		uint64_t t2 = now_ns(), c2 = cpu_ns();

		if (n < 0) {
			fprintf(stderr, "ringbuf-consumer: ring_buffer__consume: %s\n", strerror(-n));
			return 1;
		}
		if (t1 >= warm_end) {
			cycles++;
			drained += st.total - before;
			drain_ns += t2 - t1;
			drain_cpu_ns += c2 - c1;
			fill_ns += t1 - t;
		}
	}
	printf("STATS {\"drained\":%llu,\"drain_ns\":%llu,\"drain_cpu_ns\":%llu,\"fill_ns\":%llu,\"cycles\":%llu,\"total\":%llu,\"bad\":%llu,"
	       "\"tcp\":%llu,\"udp\":%llu,\"pkt\":%llu,\"exec\":%llu,\"exit\":%llu,\"checksum\":%llu,\"cpu_ms\":%.0f}\n",
	       (unsigned long long)drained, (unsigned long long)drain_ns, (unsigned long long)drain_cpu_ns, (unsigned long long)fill_ns,
	       (unsigned long long)cycles, (unsigned long long)st.total, (unsigned long long)st.bad,
	       (unsigned long long)st.per_kind[BUSTED_KIND_TCP], (unsigned long long)st.per_kind[BUSTED_KIND_UDP],
	       (unsigned long long)st.per_kind[BUSTED_KIND_PKT], (unsigned long long)st.per_kind[BUSTED_KIND_EXEC],
	       (unsigned long long)st.per_kind[BUSTED_KIND_EXIT], (unsigned long long)st.sum, cpu_ms());
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}

int main(int argc, char **argv)
{
	const char *pin = NULL, *obj_path = NULL, *mix = "tcp";
	unsigned long ring_bytes = 16ul << 20;
	double seconds = 2;
	int drain = 0;
	static struct state st;
	struct ring_buffer *rb;
	int fd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--drain")) drain = 1;
		else if (i + 1 >= argc) break;
		else if (!strcmp(argv[i], "--pin")) pin = argv[++i];
		else if (!strcmp(argv[i], "--obj")) obj_path = argv[++i];
		else if (!strcmp(argv[i], "--mix")) mix = argv[++i];
		else if (!strcmp(argv[i], "--ring-bytes")) ring_bytes = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--seconds")) seconds = strtod(argv[++i], NULL);
	}
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (drain && obj_path)
		return drain_bench(obj_path, ring_bytes, !strcmp(mix, "mixed"), seconds);
	if (!pin) {
		fprintf(stderr, "usage: ringbuf-consumer --pin PATH | --drain --obj O [--ring-bytes N] [--mix tcp|mixed] [--seconds S]\n");
		return 2;
	}
	fd = bpf_obj_get(pin);
	if (fd < 0) {
		fprintf(stderr, "ringbuf-consumer: bpf_obj_get %s: %s\n", pin, strerror(errno));
		return 1;
	}
	rb = ring_buffer__new(fd, on_record, &st, NULL);
	if (!rb) {
		fprintf(stderr, "ringbuf-consumer: ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}
	printf("READY\n");
	fflush(stdout);

	unsigned long long t0, warm, dur;
	char line[256];
	if (!fgets(line, sizeof(line), stdin) || sscanf(line, "GO %llu %llu %llu", &t0, &warm, &dur) != 3) {
		fprintf(stderr, "ringbuf-consumer: no GO on stdin\n");
		return 1;
	}
	st.t_win = t0 + warm;
	st.t_end = t0 + warm + dur;
	/* After the window: keep draining until the ring has stayed empty for
	 * a poll, at least 300 ms after the producer stopped, at most 5 s. */
	uint64_t quiet_after = st.t_end + 300000000ull, hard_stop = st.t_end + 5000000000ull;
	for (;;) {
		int n = ring_buffer__poll(rb, 20);

		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "ringbuf-consumer: ring_buffer__poll: %s\n", strerror(-n));
			return 1;
		}
		tick(&st);
		uint64_t t = now_ns();
		if ((t >= quiet_after && n == 0) || t >= hard_stop)
			break;
	}
	ring_buffer__consume(rb);
	printf("STATS {\"window_ns\":%llu,\"window_cpu_ms\":%.1f,\"consumed\":%llu,\"total\":%llu,\"bad\":%llu,"
	       "\"tcp\":%llu,\"udp\":%llu,\"pkt\":%llu,\"exec\":%llu,\"exit\":%llu,\"checksum\":%llu,\"cpu_ms\":%.0f}\n",
	       (unsigned long long)(st.tw1 - st.tw0), st.cpu1 - st.cpu0, (unsigned long long)(st.c1 - st.c0), (unsigned long long)st.total,
	       (unsigned long long)st.bad, (unsigned long long)st.per_kind[BUSTED_KIND_TCP],
	       (unsigned long long)st.per_kind[BUSTED_KIND_UDP], (unsigned long long)st.per_kind[BUSTED_KIND_PKT],
	       (unsigned long long)st.per_kind[BUSTED_KIND_EXEC], (unsigned long long)st.per_kind[BUSTED_KIND_EXIT],
	       (unsigned long long)st.sum, cpu_ms());
	ring_buffer__free(rb);
	return 0;
}
