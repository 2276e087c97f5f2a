// SPDX-License-Identifier: Apache-2.0
/*
 * busted-guard: lets held processes go when the agent dies.
 *
 * `busted enforce` stops a process at a gated SSL_write (SIGSTOP) until it
 * has decided; an agent that is killed meanwhile would leave it stopped for
 * good. The agent starts this guard with its standard input a pipe from the
 * agent and fd 3 the kernel's `held` map (bpf/enforce.bpf.h): when the pipe
 * closes — the agent is gone, however it went — every process in the map is
 * sent SIGCONT and the guard exits. An agent that stops in order lets them go
 * itself and closes the pipe; the map is then empty.
 *
 * Plain C and raw bpf(2) calls: nothing to load but libc.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

/* struct busted_held (bpf/busted.h): pid is its first field */
struct held {
	uint32_t pid;
	uint32_t flags;
	uint64_t ssl;
	uint64_t call_id;
	uint64_t since_ns;
};

static long bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int main(void)
{
	char buf[256];
	union bpf_attr a;
	uint32_t key, next;
	struct held h;
	int first = 1, let_go = 0;

	/* the agent's end of the pipe closes only when the agent is gone */
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR)
			break;
	}
	for (;;) {
		memset(&a, 0, sizeof(a));
		a.map_fd = 3;
		a.key = first ? 0 : (uint64_t)(uintptr_t)&key;
		a.next_key = (uint64_t)(uintptr_t)&next;
		if (bpf(BPF_MAP_GET_NEXT_KEY, &a))
			break;
		first = 0;
		key = next;
		memset(&a, 0, sizeof(a));
		a.map_fd = 3;
		a.key = (uint64_t)(uintptr_t)&key;
		a.value = (uint64_t)(uintptr_t)&h;
		if (bpf(BPF_MAP_LOOKUP_ELEM, &a) == 0 && h.pid && kill((pid_t)h.pid, SIGCONT) == 0)
			let_go++;
	}
	return let_go > 0 ? 1 : 0;
}
