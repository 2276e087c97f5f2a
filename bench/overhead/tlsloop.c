/*
 * Loopback HTTPS request loop for bench/overhead: every request is a new
 * TCP connection and a full TLS handshake (no session resumption), SNI and
 * certificate verification against the bench's CA, one small HTTP/1.1 POST,
 * the response read to the server's close.
 *   tlsloop <host-ip> <port> <ca.pem> <seconds> <max_requests> [threads] [servername]
 * env: TLSLOOP_REQS_PER_CONN=N keeps each connection for N requests
 *      (responses framed by Content-Length); TLSLOOP_GET=/path sends that
 *      GET instead of the chat completion POST.
 * Prints one JSON line: {"requests":N,"secs":S,"rate":N/S,"errors":E,
 * "slow_100ms": requests that took 100 ms or more, "max_ms": the slowest}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_storage srv;
static socklen_t srvlen;
static SSL_CTX *ctx;
static const char *servername;
static double deadline;
static long max_total, total, total_errors, total_slow;
static double max_latency;
static char req[512];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int reqlen;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int reqs_per_conn = 1; /* TLSLOOP_REQS_PER_CONN: keep-alive when > 1 */

/* Reads one response on a kept-alive connection: headers, then Content-Length bytes. */
static int read_response(SSL *ssl) {
  char buf[8192];
  int got = 0, n;
  long need = -1;
  for (;;) {
    if (got >= (int)sizeof buf) return 0;
    n = SSL_read(ssl, buf + got, sizeof buf - got);
    if (n <= 0) return 0;
    got += n;
    if (need < 0) {
      char *end = memmem(buf, got, "\r\n\r\n", 4);
      if (!end) continue;
      char *cl = memmem(buf, end - buf, "content-length: ", 16);
      if (!cl) return 0;
      need = (end - buf) + 4 + atol(cl + 16);
    }
    if (got >= need) return memcmp(buf, "HTTP/1.1 200", 12) == 0;
  }
}

/* One TLS connection carrying reqs_per_conn requests (read by their
 * lengths), or a single request answered until the server closes; returns
 * how many succeeded. */
static int connection(void) {
  int ok = 0;
  int s = socket(srv.ss_family, SOCK_STREAM, 0);
  if (s < 0) return 0;
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(s, (struct sockaddr *)&srv, srvlen) < 0) {
    close(s);
    return 0;
  }
  SSL *ssl = SSL_new(ctx);
  SSL_set_fd(ssl, s);
  SSL_set_tlsext_host_name(ssl, servername);
  SSL_set1_host(ssl, servername);
  if (SSL_connect(ssl) == 1) {
    if (reqs_per_conn > 1) {
      for (int i = 0; i < reqs_per_conn; i++) {
        if (SSL_write(ssl, req, reqlen) != reqlen || !read_response(ssl)) break;
        ok++;
      }
    } else if (SSL_write(ssl, req, reqlen) == reqlen) {
      char buf[4096];
      int n, got = 0;
      while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) {
        if (!got && n >= 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0) ok = 1;
        got += n;
      }
    }
  }
  SSL_free(ssl);
  close(s);
  ERR_clear_error();
  return ok;
}

static void *worker(void *arg) {
  (void)arg;
  long n = 0, errors = 0, slow = 0;
  double worst = 0;
  for (;;) {
    double t = now();
    int k = connection();
    n += k;
    if (k < reqs_per_conn) errors++;
    t = now() - t;
    if (t > worst) worst = t;
    if (t >= 0.1) slow++;
    if (errors > 100) break;
    if (now() >= deadline) break;
    if (__atomic_load_n(&total, __ATOMIC_RELAXED) + n >= max_total) break;
  }
  __atomic_add_fetch(&total, n, __ATOMIC_RELAXED);
  __atomic_add_fetch(&total_errors, errors, __ATOMIC_RELAXED);
  __atomic_add_fetch(&total_slow, slow, __ATOMIC_RELAXED);
  pthread_mutex_lock(&mu);
  if (worst > max_latency) max_latency = worst;
  pthread_mutex_unlock(&mu);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: tlsloop <ip> <port> <ca.pem> [secs] [max] [threads] [servername]\n");
    return 2;
  }
  double secs = argc > 4 ? atof(argv[4]) : 5;
  max_total = argc > 5 ? atol(argv[5]) : 1000000L;
  int nthreads = argc > 6 ? atoi(argv[6]) : 1;
  servername = argc > 7 ? argv[7] : "api.openai.com";
  if (nthreads < 1 || nthreads > 64) nthreads = 1;
  memset(&srv, 0, sizeof srv);
  struct sockaddr_in *a4 = (struct sockaddr_in *)&srv;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&srv;
  if (inet_pton(AF_INET, argv[1], &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(atoi(argv[2]));
    srvlen = sizeof *a4;
  } else if (inet_pton(AF_INET6, argv[1], &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(atoi(argv[2]));
    srvlen = sizeof *a6;
  } else {
    fprintf(stderr, "bad address\n");
    return 2;
  }
  ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  if (SSL_CTX_load_verify_locations(ctx, argv[3], NULL) != 1) {
    fprintf(stderr, "cannot load %s\n", argv[3]);
    return 2;
  }
  static const char body[] = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  const char *rpc = getenv("TLSLOOP_REQS_PER_CONN");
  reqs_per_conn = rpc ? atoi(rpc) : 1;
  if (reqs_per_conn < 1) reqs_per_conn = 1;
  const char *path = getenv("TLSLOOP_GET");
  if (path) /* a plain GET: not AI traffic */
    reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, servername, reqs_per_conn > 1 ? "" : "Connection: close\r\n");
  else
    reqlen = snprintf(req, sizeof req,
                      "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n%s\r\n%s",
                      servername, sizeof body - 1, reqs_per_conn > 1 ? "" : "Connection: close\r\n", body);
  pthread_t th[64];
  double t0 = now();
  deadline = t0 + secs;
  for (int i = 0; i < nthreads; i++) pthread_create(&th[i], NULL, worker, NULL);
  for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  double t = now();
  printf("{\"requests\":%ld,\"secs\":%.4f,\"rate\":%.1f,\"errors\":%ld,\"slow_100ms\":%ld,\"max_ms\":%.1f}\n", total, t - t0, total / (t - t0), total_errors, total_slow,
         max_latency * 1000);
  return 0;
}
