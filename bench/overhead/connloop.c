/*
 * Loopback TCP connect/accept/close loop for bench/overhead.
 *   connloop <4|6> <seconds> <max_iterations> [client_threads] [server_threads]
 * Server threads accept and close at once; each client thread connects,
 * waits for the server's FIN (read() == 0) and closes, so every iteration is
 * one complete connection lifetime (no accept-queue build-up, no SYN
 * retransmit stalls). Stops after <seconds> or <max_iterations> (total),
 * whichever comes first, and prints one JSON line:
 *   {"conns":N,"secs":S,"rate":N/S,"errors":E}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int lfd;
static struct sockaddr_storage addr;
static socklen_t addrlen;
static volatile int stop_server;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double t0, deadline;
static long max_total;
static long total, total_errors;
static int af;

static void *client(void *arg) {
  (void)arg;
  long n = 0, errors = 0;
  char buf[16];
  for (;;) {
    int s = socket(af, SOCK_STREAM, 0);
    if (s < 0) {
      errors++;
      break;
    }
    if (connect(s, (struct sockaddr *)&addr, addrlen) < 0) {
      errors++;
      close(s);
      if (errors > 1000) break;
    } else {
      while (read(s, buf, sizeof buf) > 0) {
      }
      close(s);
      n++;
    }
    if ((n & 31) == 0) {
      if (now() >= deadline) break;
      if (__atomic_load_n(&total, __ATOMIC_RELAXED) + n >= max_total) break;
    }
  }
  __atomic_add_fetch(&total, n, __ATOMIC_RELAXED);
  __atomic_add_fetch(&total_errors, errors, __ATOMIC_RELAXED);
  return NULL;
}

static void *server(void *arg) {
  (void)arg;
  while (!stop_server) {
    int c = accept(lfd, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;
    }
    close(c);
  }
  return NULL;
}

int main(int argc, char **argv) {
  int fam = argc > 1 ? atoi(argv[1]) : 4;
  double secs = argc > 2 ? atof(argv[2]) : 5;
  long max = argc > 3 ? atol(argv[3]) : 10000000L;
  int nclients = argc > 4 ? atoi(argv[4]) : 1;
  int nservers = argc > 5 ? atoi(argv[5]) : 1;
  af = fam == 6 ? AF_INET6 : AF_INET;

  memset(&addr, 0, sizeof addr);
  if (af == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&addr;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addrlen = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    addrlen = sizeof *a;
  }
  lfd = socket(af, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, addrlen) < 0 || listen(lfd, 4096) < 0) {
    perror("listen");
    return 1;
  }
  getsockname(lfd, (struct sockaddr *)&addr, &addrlen);

  pthread_t sth[16], cth[16];
  if (nclients < 1 || nclients > 16) nclients = 1;
  if (nservers < 1 || nservers > 16) nservers = 1;
  for (int i = 0; i < nservers; i++) pthread_create(&sth[i], NULL, server, NULL);
  t0 = now();
  deadline = t0 + secs;
  max_total = max;
  for (int i = 0; i < nclients; i++) pthread_create(&cth[i], NULL, client, NULL);
  for (int i = 0; i < nclients; i++) pthread_join(cth[i], NULL);
  double t;
  long n = total, errors = total_errors;
  t = now();
  stop_server = 1;
  shutdown(lfd, SHUT_RDWR);
  close(lfd);
  for (int i = 0; i < nservers; i++) pthread_join(sth[i], NULL);
  printf("{\"conns\":%ld,\"secs\":%.4f,\"rate\":%.1f,\"errors\":%ld}\n", n, t - t0, n / (t - t0), errors);
  return 0;
}
