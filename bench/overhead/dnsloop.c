/*
 * Loopback DNS query loop for bench/overhead, shaped like a stub resolver:
 * every query is a new UDP socket (new ephemeral port), connect, send one A
 * query, wait for the answer, close.
 *   dnsloop <server-ipv4> <seconds> <max_queries> [threads] [name]
 * Prints one JSON line: {"queries":N,"secs":S,"rate":N/S,"errors":E}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in srv;
static double deadline;
static long max_total, total, total_errors;
static unsigned char query[512];
static size_t qlen;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t build_query(unsigned char *q, const char *name) {
  size_t n = 0;
  q[n++] = 0x12; q[n++] = 0x34; /* id, rewritten per query */
  q[n++] = 0x01; q[n++] = 0x00; /* RD */
  q[n++] = 0; q[n++] = 1;       /* QDCOUNT */
  memset(q + n, 0, 6); n += 6;
  const char *p = name;
  while (*p) {
    const char *dot = strchr(p, '.');
    size_t len = dot ? (size_t)(dot - p) : strlen(p);
    q[n++] = (unsigned char)len;
    memcpy(q + n, p, len);
    n += len;
    p += len;
    if (*p == '.') p++;
  }
  q[n++] = 0;
  q[n++] = 0; q[n++] = 1; /* A */
  q[n++] = 0; q[n++] = 1; /* IN */
  return n;
}

static void *worker(void *arg) {
  unsigned id = (unsigned)(unsigned long)arg * 7919u;
  long n = 0, errors = 0;
  unsigned char q[512], r[1500];
  memcpy(q, query, qlen);
  struct timeval tv = {1, 0};
  for (;;) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) { errors++; break; }
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    id++;
    q[0] = id >> 8; q[1] = id & 0xff;
    if (connect(s, (struct sockaddr *)&srv, sizeof srv) < 0 || send(s, q, qlen, 0) != (ssize_t)qlen) {
      errors++;
    } else {
      ssize_t got = recv(s, r, sizeof r, 0);
      if (got >= 12 && r[0] == q[0] && r[1] == q[1]) n++;
      else errors++;
    }
    close(s);
    if (errors > 1000) break;
    if ((n & 15) == 0) {
      if (now() >= deadline) break;
      if (__atomic_load_n(&total, __ATOMIC_RELAXED) + n >= max_total) break;
    }
  }
  __atomic_add_fetch(&total, n, __ATOMIC_RELAXED);
  __atomic_add_fetch(&total_errors, errors, __ATOMIC_RELAXED);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: dnsloop <ipv4> [secs] [max] [threads] [name]\n"); return 2; }
  double secs = argc > 2 ? atof(argv[2]) : 5;
  max_total = argc > 3 ? atol(argv[3]) : 10000000L;
  int nthreads = argc > 4 ? atoi(argv[4]) : 1;
  const char *name = argc > 5 ? argv[5] : "api.openai.com";
  if (nthreads < 1 || nthreads > 64) nthreads = 1;
  memset(&srv, 0, sizeof srv);
  srv.sin_family = AF_INET;
  srv.sin_port = htons(53);
  if (inet_pton(AF_INET, argv[1], &srv.sin_addr) != 1) { fprintf(stderr, "bad address\n"); return 2; }
  qlen = build_query(query, name);
  pthread_t th[64];
  double t0 = now();
  deadline = t0 + secs;
  for (int i = 0; i < nthreads; i++) pthread_create(&th[i], NULL, worker, (void *)(unsigned long)(i + 1));
  for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  double t = now();
  printf("{\"queries\":%ld,\"secs\":%.4f,\"rate\":%.1f,\"errors\":%ld}\n", total, t - t0, total / (t - t0), total_errors);
  return 0;
}
