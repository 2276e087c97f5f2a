// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ringbuf-producer — loads producer.bpf.o, pins its ring buffer map so a
 * consumer process can open it, then runs the BPF program with
 * BPF_PROG_TEST_RUN in a loop (each run writes --batch records with
 * bpf_loop) for a fixed window, flat out or rate-limited.
 *
 *   ringbuf-producer --obj O --pin PATH --ring-bytes N --mix tcp|mixed
 *                    [--batch 256] [--rate EVENTS_PER_S] [--wakeup record|batch]
 *
 * Protocol on stdio (driven by bench/ringbuf/run.js):
 *   stdout "READY"                      the map is pinned at PATH
 *   stdin  "GO <t0> <warm> <dur>"       ns, CLOCK_MONOTONIC: start at t0,
 *                                       measure over [t0+warm, t0+warm+dur]
 *   stdout "STATS {json}"               then exit
 * The pin is removed as soon as GO arrives (the consumer holds its own fd),
 * and on SIGTERM/SIGINT; the parent's death sends SIGTERM (PDEATHSIG).
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

static char pin_path[4096];
static char pin_dir[4096];

static void unpin(void)
{
	if (pin_path[0]) {
		unlink(pin_path);
		pin_path[0] = 0;
	}
}

static void on_signal(int sig)
{
	if (pin_path[0])
		unlink(pin_path);
	/* The driver's per-run directory, if it is empty now (its owner is
	 * gone when this comes from PDEATHSIG). */
	if (pin_dir[0])
		rmdir(pin_dir);
	_exit(128 + sig);
}

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN)
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/* CPU time this process used (user + system, BPF test runs included), ms. */
static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000ull, .tv_nsec = t % 1000000000ull };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "ringbuf-producer: %s: %s\n", what, strerror(err));
	unpin();
	exit(1);
}

int main(int argc, char **argv)
{
	const char *obj_path = NULL, *pin = NULL, *mix_name = "tcp";
	unsigned long ring_bytes = 16ul << 20;
	uint64_t batch = 256, rate = 0;
	struct bpf_object *obj;
	struct bpf_map *map;
	struct bpf_program *prog;
	int prog_fd, err, mix, batch_wakeup = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--obj")) obj_path = argv[i + 1];
		else if (!strcmp(argv[i], "--pin")) pin = argv[i + 1];
		else if (!strcmp(argv[i], "--ring-bytes")) ring_bytes = strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--mix")) mix_name = argv[i + 1];
		else if (!strcmp(argv[i], "--batch")) batch = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--rate")) rate = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--wakeup")) batch_wakeup = !strcmp(argv[i + 1], "batch");
		else {
			fprintf(stderr, "ringbuf-producer: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (!obj_path || !pin || !batch) {
		fprintf(stderr, "usage: ringbuf-producer --obj O --pin PATH [--ring-bytes N] [--mix tcp|mixed] [--batch N] [--rate N]\n");
		return 2;
	}
	mix = !strcmp(mix_name, "mixed") ? 1 : 0;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(quiet_print);

	obj = bpf_object__open_file(obj_path, NULL);
	if (!obj)
		die("open object", errno);
	map = bpf_object__find_map_by_name(obj, "events");
	prog = bpf_object__find_program_by_name(obj, "produce");
	if (!map || !prog)
		die("object has no events map or produce program", ENOENT);
	err = bpf_map__set_max_entries(map, ring_bytes);
	if (err)
		die("set ring size", -err);
	err = bpf_object__load(obj);
	if (err)
		die("load object", -err);
	prog_fd = bpf_program__fd(prog);
	err = bpf_obj_pin(bpf_map__fd(map), pin);
	if (err)
		die("pin ring buffer map", errno);
	snprintf(pin_path, sizeof(pin_path), "%s", pin);
	snprintf(pin_dir, sizeof(pin_dir), "%s", pin);
	{
		char *slash = strrchr(pin_dir, '/');

		if (slash && slash != pin_dir)
			*slash = 0;
		else
			pin_dir[0] = 0;
	}

	printf("READY\n");
	fflush(stdout);

	unsigned long long t0, warm, dur;
	char line[256];
	if (!fgets(line, sizeof(line), stdin) || sscanf(line, "GO %llu %llu %llu", &t0, &warm, &dur) != 3) {
		unpin();
		fprintf(stderr, "ringbuf-producer: no GO on stdin\n");
		return 1;
	}
	unpin();

	/* ctx of the raw_tp program: records, first sequence number, mix, ppid */
	__u64 args[5] = { batch, 0, (__u64)mix, (__u64)getppid(), (__u64)batch_wakeup };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(args));
	uint64_t attempted = 0, ok = 0, runs = 0, run_ns = 0;
	uint64_t w_att0 = 0, w_ok0 = 0, w_t0 = 0, w_att1 = 0, w_ok1 = 0, w_t1 = 0;
	int in_window = 0;
	uint64_t t_win = t0 + warm, t_end = t0 + warm + dur;

	sleep_until(t0);
	for (;;) {
		uint64_t t = now_ns();

		if (!in_window && t >= t_win) {
			in_window = 1;
			w_att0 = attempted, w_ok0 = ok, w_t0 = t;
		}
		if (t >= t_end) {
			w_att1 = attempted, w_ok1 = ok, w_t1 = t;
			break;
		}
		if (rate) {
			/* Batches on a fixed schedule: batch k starts at t0 + k*batch/rate. */
			uint64_t due = t0 + (uint64_t)((double)attempted * 1e9 / (double)rate);

			if (t < due) {
				sleep_until(due < t_end ? due : t_end);
				continue;
			}
		}
		args[1] = attempted;
		opts.retval = 0;
		err = bpf_prog_test_run_opts(prog_fd, &opts);
		if (err)
			die("BPF_PROG_TEST_RUN", -err);
		runs++;
		run_ns += now_ns() - t;
		attempted += batch;
		ok += opts.retval;
	}

	uint64_t wa = w_att1 - w_att0, wo = w_ok1 - w_ok0;
	printf("STATS {\"window_ns\":%llu,\"attempted\":%llu,\"ok\":%llu,\"lost\":%llu,"
	       "\"attempted_total\":%llu,\"ok_total\":%llu,\"lost_total\":%llu,\"runs\":%llu,\"ns_per_run\":%.0f,\"batch\":%llu,\"rate\":%llu,\"cpu_ms\":%.0f}\n",
	       (unsigned long long)(w_t1 - w_t0), (unsigned long long)wa, (unsigned long long)wo, (unsigned long long)(wa - wo),
	       (unsigned long long)attempted, (unsigned long long)ok, (unsigned long long)(attempted - ok),
	       (unsigned long long)runs, runs ? (double)run_ns / runs : 0.0, (unsigned long long)batch, (unsigned long long)rate, cpu_ms());
	fflush(stdout);
	bpf_object__close(obj);
	return 0;
}
