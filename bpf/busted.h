/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * busted.h — the wire format between the BPF programs and the engine.
 *
 * Every struct and enum that crosses the kernel/user boundary lives here and
 * nowhere else. The engine does not hand-copy these layouts: scripts/gen-wire
 * reads them from the compiled object's BTF and writes
 * engine/kernel/wire.generated.ts, and test/wire.test.ts fails when that file
 * is stale. Enum values are explicit because they are part of the contract.
 *
 * Included by the BPF side (after vmlinux.h) and by C benchmarks (after
 * <linux/types.h>), so it only uses the __u* types both provide.
 */
#ifndef BUSTED_H
#define BUSTED_H

/* Bumped whenever a layout below changes; checked by the loader. */
#define BUSTED_ABI_VERSION 5

#define BUSTED_COMM_LEN 16
#define BUSTED_PATH_LEN 256
#define BUSTED_ARGS_LEN 512
/* Largest packet payload copied for DNS and TLS handshakes. A ClientHello
 * with a post-quantum key share is about 1.8 KiB; a DNS answer over UDP
 * with EDNS is at most a few KiB in practice. */
#define BUSTED_PKT_MAX 4096
/* TLS plaintext is copied in chunks of this many bytes, one record each,
 * up to the load-time cap (tls_cap_bytes, 16 KiB by default) per call. */
#define BUSTED_TLS_CHUNK 4096

enum busted_abi {
	BUSTED_ABI = BUSTED_ABI_VERSION,
};

/* What a ring buffer record is; the first u32 of every record. */
enum busted_kind {
	BUSTED_KIND_EXEC = 1,
	BUSTED_KIND_EXIT = 2,
	BUSTED_KIND_TCP = 3,
	BUSTED_KIND_UDP = 4,
	BUSTED_KIND_PKT = 5,
	BUSTED_KIND_TLS = 6,
	BUSTED_KIND_ENFORCE = 7,
	BUSTED_KIND_FLOW = 8,
	BUSTED_KIND_STDIO = 9,
};

/* What a BUSTED_KIND_TLS record reports about an SSL* (tls.bpf.c). */
enum busted_tls_op {
	BUSTED_TLS_WRITE = 1, /* plaintext the application handed to SSL_write*: what was written */
	BUSTED_TLS_READ = 2,  /* plaintext SSL_read* returned: what was read */
	BUSTED_TLS_SNI = 3,   /* SSL_set_tlsext_host_name (SSL_ctrl 55): data[] holds the name */
	BUSTED_TLS_FD = 4,    /* SSL_set_fd: len holds the socket fd */
	BUSTED_TLS_FREE = 5,  /* SSL_free: the SSL* is gone */
	BUSTED_TLS_WRITE_DONE = 6, /* a gated write (copied at entry) returned: len = bytes written, 0 if it failed */
};

/* busted_tls_event.flags */
enum busted_tls_flags {
	BUSTED_TLS_F_GATED = 1, /* copied at SSL_write entry; the process is held (SIGSTOP) until the engine decides */
	BUSTED_TLS_F_RESTART = 2, /* a write (a read, on a server's connection) that starts a request on a connection marked skip: followed again from here, what came before was not copied */
	/* a write of a watched HTTP/2 connection (BUSTED_TLS_WATCH, reads not
	 * copied) that carries a request body: its reads are copied from here
	 * (tls.bpf.c watch_reads) until the engine, having read the request,
	 * says they are not wanted */
	BUSTED_TLS_F_READS_ON = 4,
	/* a write held in the packet hook (tls.bpf.c hold_in_packets): copied
	 * whole at its entry, its thread not stopped, what its socket (sock_id)
	 * sends dropped until the engine lets hold number hold_n go (pkt_released) */
	BUSTED_TLS_F_PKT_HELD = 8,
};

/* Which TCP transition a BUSTED_KIND_TCP record reports. */
enum busted_tcp_phase {
	BUSTED_TCP_CONNECTED = 1, /* our connect() completed: SYN_SENT -> ESTABLISHED */
	BUSTED_TCP_ACCEPTED = 2,  /* a peer connected to us: SYN_RECV -> ESTABLISHED */
	BUSTED_TCP_CLOSED = 3,    /* an established connection ended */
	BUSTED_TCP_FAILED = 4,    /* our connect() never completed: SYN_SENT -> CLOSE */
};

enum busted_udp_phase {
	BUSTED_UDP_FLOW = 1,  /* first datagram from a socket to a destination */
	BUSTED_UDP_CLOSED = 2, /* the socket was released */
};

enum busted_pkt_kind {
	BUSTED_PKT_DNS = 1,       /* a DNS message (UDP payload, or TCP payload with its length prefix) */
	BUSTED_PKT_TLS_HELLO = 2, /* a TLS record carrying a ClientHello or ServerHello */
	BUSTED_PKT_TLS_CONT = 3,  /* the next segment of a hello that did not fit in one */
	BUSTED_PKT_DNS_HELD = 4,  /* a DNS answer dropped until the engine has decided; it sends it on itself */
	BUSTED_PKT_QUIC = 5,      /* a UDP datagram starting with a QUIC Initial packet (its CRYPTO frames hold a hello) */
	BUSTED_PKT_HTTP = 6,      /* a piece of a plain-text HTTP connection's TCP stream, at sequence number `seq` */
	BUSTED_PKT_HTTP_HELD = 7, /* the IP and TCP headers (data) of a plain-text segment dropped until the engine decides (len: its payload, which follows as BUSTED_PKT_HTTP records) */
	BUSTED_PKT_HELLO_HELD = 8, /* the IP and TCP headers (data) of a ClientHello busted cannot read the connection of (no probed TLS library on its thread), to a destination in a gated class: dropped, with its retries, until the engine has decided on it (the hello follows as BUSTED_PKT_TLS_HELLO) */
	BUSTED_PKT_QUIC_HELD = 9,  /* a QUIC datagram (long header: an Initial, or 0-RTT sent with it) dropped until the engine has decided on its connection's ClientHello, whole; the engine sends it on itself when it lets the connection go */
	BUSTED_PKT_SOCK_HELD = 10, /* the IP and TCP headers (data) of the first segment a TLS connection sent while the engine holds it (BUSTED_SOCK_HOLD: a request let go in part, held until it is decided whole) */
};

/* busted_pkt_event.flags */
enum busted_pkt_flag {
	/* BUSTED_PKT_HTTP(_HELD): a connection marked skip is followed again from
	 * this segment, which starts a request: what came before it was not copied */
	BUSTED_PKT_F_RESTART = 1,
};

/* hello_holds (pkt.bpf.c): an unreadable ClientHello held, by socket
 * cookie; quic_holds: a QUIC connection, by its client's socket cookie and
 * peer (the state is its entry's first member) */
enum busted_hello_hold {
	BUSTED_HELLO_HELD = 1,     /* dropped, and its retries, until the engine decides */
	BUSTED_HELLO_RELEASED = 2, /* the engine let it go: its next retry passes (QUIC: and all that follows) */
	/* a TLS connection whose request the engine let go in part (written in
	 * pieces): every segment it sends is dropped until the request is
	 * decided whole (its sender's TCP tries them again); SEEN once the
	 * first one's headers went to the engine (BUSTED_PKT_SOCK_HELD) */
	BUSTED_SOCK_HOLD = 3,
	BUSTED_SOCK_HOLD_SEEN = 4,
};

/* plain_socks: what the packet hook does with a plain-text HTTP connection's payload */
enum busted_plain_verdict {
	BUSTED_PLAIN_CAPTURE = 0, /* copy it, both ways */
	BUSTED_PLAIN_SKIP = 1,    /* not interesting (its first request was no LLM or MCP call): leave it */
	BUSTED_PLAIN_GATE = 2,    /* a content policy may block it: hold what it sends from `released` on until the engine decides */
};

struct busted_plain_value {
	__u32 verdict;  /* enum busted_plain_verdict */
	/* GATE: the sequence number up to which the engine let the connection's bytes go (a segment that ends by it passes);
	 * SKIP: how far the engine had read its requests (a request that starts there or later is followed again) */
	__u32 released;
	__u32 dir;      /* enum busted_dir: the way its requests go (egress: this host is the client), which `released` counts */
};

/* The mark (SO_MARK) of the datagrams the engine sends on after holding them:
 * the packet hook lets them through and does not report them again. */
enum busted_marks {
	BUSTED_REINJECT_MARK = 0x62757374, /* "bust" */
};

enum busted_dir {
	BUSTED_DIR_EGRESS = 1,
	BUSTED_DIR_INGRESS = 2,
};

/* busted_task.flags */
enum busted_task_flags {
	BUSTED_TASK_KNOWN = 1, /* the fields below name a real task */
	BUSTED_TASK_FROM_SOCKET = 2, /* taken from the socket's owner, not the current task */
	BUSTED_TASK_TLS_PROBED = 4,  /* a ClientHello sent by a thread that went through a probed TLS library (its plaintext is read) */
};

/* Counters in the per-CPU "stats" array, read and summed by the engine. */
enum busted_stat {
	BUSTED_STAT_RINGBUF_FULL = 0, /* records lost: bpf_ringbuf_reserve failed */
	BUSTED_STAT_OWNER_MISS = 1,   /* packet or close on a socket with no known owner */
	BUSTED_STAT_PKT_TRUNCATED = 2,/* payload longer than BUSTED_PKT_MAX */
	BUSTED_STAT_OWNER_FULL = 3,   /* owner map update failed */
	BUSTED_STAT_PKT_SEEN = 4,     /* packets the packet programs looked at */
	BUSTED_STAT_EVENTS = 5,       /* records written to the ring buffer */
	BUSTED_STAT_TLS_TRUNCATED = 6,/* TLS calls longer than tls_cap_bytes: the rest was not copied */
	BUSTED_STAT_TLS_SKIPPED = 7,  /* TLS calls not copied because the engine marked the connection skip */
	BUSTED_STAT_MAX = 8,
};

/* The task an event is about. */
struct busted_task {
	__u64 cgroup_id;
	__u32 pid;  /* tgid */
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 flags; /* enum busted_task_flags */
	char comm[BUSTED_COMM_LEN];
};

/* Leads every record. */
struct busted_hdr {
	__u32 kind; /* enum busted_kind */
	__u32 abi;  /* BUSTED_ABI_VERSION */
	__u64 ts_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	struct busted_task task;
};

/* Addresses in network order as the kernel keeps them; ports in host order.
 * IPv4 addresses occupy the first 4 bytes of the 16. */
struct busted_flow {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family;   /* 4 or 6 */
	__u8 protocol; /* IPPROTO_TCP (6) or IPPROTO_UDP (17) */
	__u16 _pad;
};

/* An executable file as the kernel knows it: its inode, its device (the
 * kernel's encoding: major << 20 | minor), and its inode's change time,
 * which every write, chmod or rename moves on. exe_hashed (proc.bpf.c) is
 * keyed by it: a file changed since it was hashed is another key. */
struct busted_exe_key {
	__u64 ino;
	__u64 ctime_ns;
	__u32 dev;
	__u32 _pad;
};

enum busted_exec_flags {
	/* the process was stopped (SIGSTOP, recorded in `held` as call_id) before
	 * its first instruction: its executable's file (exe_*) is not one the
	 * engine has hashed (exe_hashed), and the policy judges processes by
	 * their executable's hash (BUSTED_CFG_HOLD_EXEC) */
	BUSTED_EXEC_HELD = 1,
};

struct busted_exec_event {
	struct busted_hdr hdr;
	__u32 filename_len; /* bytes of filename[] used, without the NUL */
	__u32 args_len;     /* bytes of args[] used: NUL-separated argv */
	__u32 args_truncated;
	__u32 flags;        /* enum busted_exec_flags */
	__u64 image;        /* the program image's id (enforcement verdicts are per image; forks share it) */
	__u64 call_id;      /* BUSTED_EXEC_HELD: the hold's id (busted_held.call_id) */
	struct busted_exe_key exe; /* the executable's file, as exe_hashed keys it */
	char filename[BUSTED_PATH_LEN];
	char args[BUSTED_ARGS_LEN];
};

/* A write() of JSON-RPC to a pipe or a UNIX socket (stdio.bpf.c): MCP over
 * stdio, a client writing to its server's stdin or the server answering on
 * its stdout. Copied up to BUSTED_STDIO_MAX bytes. */
#define BUSTED_STDIO_MAX 16384

enum busted_stdio_end {
	BUSTED_STDIO_PIPE = 1,
	BUSTED_STDIO_UNIX = 2,
};

enum busted_stdio_flags {
	/* a read by the other end (enforce): what it returned, the reader
	 * stopped until the engine has judged the messages it completes */
	BUSTED_STDIO_F_READ = 1,
	BUSTED_STDIO_F_HELD = 2,
};

struct busted_stdio_event {
	struct busted_hdr hdr;
	__u64 file;     /* the struct file written to or read from (kernel address): one stream with hdr.task.pid */
	__u64 peer;     /* what the reading end is (a pipe's inode, a UNIX socket's sock): a write's and its read's are equal */
	__u64 peer_ino; /* a write's reading end's inode number: pipe:[N] or socket:[N] in its reader's /proc/PID/fd */
	__u64 call_id;  /* a held read's hold (busted_held.call_id) */
	__u32 fd;
	__u32 len;      /* bytes the write asked for; a read's: bytes it returned */
	__u32 cap_len;  /* bytes of data[] used */
	__u32 end;      /* enum busted_stdio_end */
	__u32 flags;    /* enum busted_stdio_flags */
	__u32 _pad;
	__u8 data[BUSTED_STDIO_MAX];
};

struct busted_exit_event {
	struct busted_hdr hdr;
	__u32 exit_code;
	__u32 _pad;
	__u64 start_ns; /* task start, CLOCK_MONOTONIC: duration = ts - start */
};

struct busted_tcp_event {
	struct busted_hdr hdr;
	__u64 sock_id;  /* socket cookie; the socket's address when no cookie is at hand */
	struct busted_flow flow;
	__u32 phase;    /* enum busted_tcp_phase */
	__u32 dir;      /* enum busted_dir: egress = we connected */
	__u64 bytes_sent;     /* tcp_sock.bytes_acked */
	__u64 bytes_received; /* tcp_sock.bytes_received */
	__u64 start_ns;       /* when the connection began, 0 if unknown */
};

struct busted_udp_event {
	struct busted_hdr hdr;
	__u64 sock_id;
	struct busted_flow flow;
	__u32 phase; /* enum busted_udp_phase */
	__u32 _pad;
	__u64 bytes_sent;
	__u64 bytes_received;
	__u64 start_ns;
};

struct busted_pkt_event {
	struct busted_hdr hdr;
	__u64 sock_id;
	struct busted_flow flow;
	__u32 pkt_kind; /* enum busted_pkt_kind */
	__u32 dir;      /* enum busted_dir */
	__u32 len;      /* payload bytes in the packet */
	__u32 cap_len;  /* payload bytes copied into data[] */
	__u32 seq;      /* BUSTED_PKT_HTTP: the TCP sequence number of data[0] (else 0) */
	__u32 flags;    /* enum busted_pkt_flag */
	__u8 data[BUSTED_PKT_MAX];
};

/* A socket's owner (common.bpf.h owners; conn.bpf.c listeners, which the
 * engine also fills at start for listening sockets older than the agent). */
struct busted_owner {
	struct busted_task task;
	__u64 start_ns;
	__u64 bytes_sent;     /* UDP only: TCP reads tcp_sock's counters */
	__u64 bytes_received;
	__u32 conn;           /* TCP only: enum busted_owner_conn bits (conn.bpf.c) */
	__u32 _pad;
};

/* conn.bpf.c listeners: a listening socket by network namespace (its
 * inode number, as /proc/PID/ns/net names it), family (AF_INET, AF_INET6)
 * and port (host order). Containers listen on the same ports (8080, 443)
 * each in a namespace of its own. */
struct busted_listen_key {
	__u32 netns;
	__u16 family;
	__u16 port;
};

/* One chunk of one SSL_read/SSL_write call (or an SNI, fd or free note). */
struct busted_tls_event {
	struct busted_hdr hdr;
	__u64 ssl;      /* the SSL* (user address): the connection, with hdr.task.pid */
	__u64 call_id;  /* ties the chunks of one call together (per-CPU sequence) */
	__u64 buf;      /* the call's buffer (user address): a held write's bytes past the cap are read there */
	__u32 op;       /* enum busted_tls_op */
	__u32 len;      /* bytes the call moved (the fd for BUSTED_TLS_FD) */
	__u32 offset;   /* where data[] starts within the call's bytes */
	__u32 cap_len;  /* bytes of data[] used */
	__u32 lib;      /* which probe set (engine's probe table index), load-time cookie */
	__u32 flags;    /* enum busted_tls_flags */
	__u64 sock_id;  /* BUSTED_TLS_F_PKT_HELD: the socket held (its cookie); else 0 */
	__u32 hold_n;   /* BUSTED_TLS_F_PKT_HELD: the hold's number on that socket (pkt_holds), which the engine lets go by */
	__u32 _pad2;
	__u8 data[BUSTED_TLS_CHUNK];
};

/* Key of the engine's per-connection TLS verdicts (tls_verdicts map). */
struct busted_tls_key {
	__u32 pid;
	__u32 _pad;
	__u64 ssl;
};

enum busted_tls_verdict {
	BUSTED_TLS_CAPTURE = 0, /* default: copy plaintext */
	BUSTED_TLS_SKIP = 1,    /* not interesting: count, do not copy */
	BUSTED_TLS_GATE = 2,    /* a content policy may block it: hold each write until the engine decides */
	BUSTED_TLS_BLOCK = 3,   /* blocked: its socket's packets are dropped and the socket destroyed */
	/* A server's connection (its requests arrive through reads) whose first
	 * request was no AI traffic: its writes are not copied, nor its reads,
	 * but each read's first bytes are looked at on its return, and one that
	 * starts a request that can carry a body is copied (BUSTED_TLS_F_RESTART)
	 * and the connection followed again from it. */
	BUSTED_TLS_SKIP_SERVER = 5,
	/*
	 * An HTTP/2 client connection whose first request was no AI traffic:
	 * its reads are not copied, its writes are (so that the engine's HPACK
	 * state for them stays whole and a later request on another stream is
	 * read), and when gating is on a write is held only if it carries DATA
	 * payload (a request body). The value's other bits are the kernel's
	 * place in the frames written: BUSTED_TLS_WATCH_DATA (the frame being
	 * written is DATA), BUSTED_TLS_WATCH_LOST (lost its place: every write
	 * held), and from bit 8 the payload bytes of that frame still to come.
	 * A gated HTTP/2 connection (to a provider, or one the engine keeps
	 * gated) is watched too, with BUSTED_TLS_WATCH_READS (its reads are
	 * copied as well) and BUSTED_TLS_WATCH_HEADERS (a write that carries a
	 * header block is held too): only its control frames (WINDOW_UPDATE,
	 * PING, SETTINGS, RST_STREAM) go without a hold.
	 */
	BUSTED_TLS_WATCH = 4,
	BUSTED_TLS_WATCH_DATA = 8,
	BUSTED_TLS_WATCH_LOST = 16,
	BUSTED_TLS_WATCH_READS = 32,
	BUSTED_TLS_WATCH_HEADERS = 64,
};
#define BUSTED_TLS_VERDICT_MASK 7
#define BUSTED_TLS_WATCH_LEFT_SHIFT 8

/* ---- enforcement (enforce.bpf.c, and the parts of proc/pkt/tls that feed it) ----
 *
 * The kernel cannot wait for the engine, so the engine decides ahead of
 * time and the hooks only look up:
 *   destination address --(dest, dest_static)--> class (a provider, or a host the policy blocked)
 *     (dest: per program image, as that image's DNS answers said, or for everyone)
 *   process --(procs)--> program image --(image_verdicts)--> classes blocked for it
 *                        else its cgroup --(cgroup_verdicts)--> classes blocked, else the default (key 0)
 * DNS answers for names in `names` (hashes of provider domains and suffixes,
 * installed by the engine) are turned into `dest` entries by the packet
 * program before the application can read them.
 */
enum busted_class {
	BUSTED_CLASS_NONE = 0,  /* not a destination any verdict is about */
	BUSTED_CLASS_GATED = 62, /* a host whose TLS is gated (an MCP server the engine saw); no connect verdict */
	BUSTED_CLASS_HOST = 63, /* a host name the policy blocked for that program (dest entries of its image) */
	BUSTED_CLASS_MAX = 64,  /* classes are bits of a u64 mask */
};

enum busted_enforce_what {
	BUSTED_ENF_CONNECT_REFUSED = 1, /* connect() refused with EPERM by the connect hook */
	BUSTED_ENF_SENDMSG_REFUSED = 2, /* a UDP datagram to a refused destination (sendmsg EPERM) */
	BUSTED_ENF_SSL_SOCKET = 3,      /* the TLS connection (pid, ssl) runs over socket sock_id (learnt at its ClientHello) */
	BUSTED_ENF_PACKET_DROPPED = 4,  /* a packet of a blocked socket was dropped (first one per socket) */
};

/* Which verdict a connect hook applied. */
enum busted_verdict_source {
	BUSTED_VSRC_IMAGE = 1,   /* the engine's verdict for this program image */
	BUSTED_VSRC_CGROUP = 2,  /* the image was not evaluated (yet): its cgroup's verdict */
	BUSTED_VSRC_DEFAULT = 3, /* neither known: the default verdict (cgroup_verdicts key 0) */
	BUSTED_VSRC_HOST = 4,    /* the engine refused this host to this process (BUSTED_CLASS_HOST) */
};

struct busted_enforce_event {
	struct busted_hdr hdr;
	__u64 sock_id;
	__u64 image;
	__u64 ssl;      /* BUSTED_ENF_SSL_SOCKET: the SSL* */
	struct busted_flow flow;
	__u32 what;     /* enum busted_enforce_what */
	__u32 klass;    /* the destination's class */
	__u32 source;   /* enum busted_verdict_source */
	__u32 _pad;
};

/* names: FNV-1a 64 of the lower-case name read right to left (so one pass
 * yields every suffix at a label boundary) -> what it is. */
enum busted_name_flags {
	BUSTED_NAME_EXACT = 1,  /* this name only */
	BUSTED_NAME_SUFFIX = 2, /* this name and every name below it */
	BUSTED_NAME_KNOWN = 4,  /* decided already (with the class, or none): the packet hook need not hold its answers */
};

struct busted_name_value {
	__u32 klass;
	__u32 flags; /* enum busted_name_flags */
};

/* dest: an address as one program image learnt it from DNS (its forks share
 * it; a recycled pid does not), or for everyone (image 0). */
struct busted_dest_key {
	__u64 image;
	__u32 family; /* 4 or 6; IPv4 in the first 4 bytes */
	__u32 _pad;
	__u8 addr[16];
};

enum busted_dest_source {
	BUSTED_DEST_DNS = 1,    /* a DNS answer to a name in `names` */
	BUSTED_DEST_STATIC = 2, /* /etc/hosts, the engine's own knowledge */
};

struct busted_dest_value {
	__u32 klass;
	__u32 source; /* enum busted_dest_source */
	__u64 learnt_ns;
};

/* dest_static (LPM trie): published address ranges. IPv4 as ::ffff:a.b.c.d. */
struct busted_lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct busted_proc_value {
	__u64 image;
	__u64 cgroup_id; /* where the image was evaluated: elsewhere, it does not apply */
	__u32 uid;
	__u32 _pad;
};

struct busted_verdict {
	__u64 block; /* bit n: connections to class n are refused */
	__u64 audit; /* bit n: reported (the engine audits the real event) */
};

/* enforce_cfg[0]: what the engine tells every hook at run time. */
enum busted_cfg_flags {
	BUSTED_CFG_ENFORCE = 1, /* connect hooks refuse (off: they only look: --dry-run) */
	BUSTED_CFG_GATE = 2,    /* hold gated TLS writes */
	BUSTED_CFG_PER_IMAGE = 4, /* verdicts are per program image: hold a provider's DNS answer to an image not evaluated yet */
	BUSTED_CFG_HOLD_NAMES = 8, /* the policy decides on host names: hold answers for names it has not decided on yet */
	BUSTED_CFG_HOLD_EXEC = 16, /* the policy judges processes by their executable's hash: hold an exec of a file not hashed yet (proc.bpf.c) */
	BUSTED_CFG_HOLD_PACKETS = 32, /* hold every gated write it can in the packet hook, not a terminal's only (--hold-writes packets; auto where the engine can push held senders) */
	BUSTED_CFG_HOLD_STOP = 64,    /* hold every gated write by stopping its thread, a terminal's too (--hold-writes stop) */
};

/* held: a thread stopped at a gated SSL_write (tid -> what it waits for). The
 * engine removes the entry when it lets the thread go, and lets go of
 * entries it never heard of (their record was lost) after a while. */
enum busted_held_flags {
	/* the thread's SIGSTOP was queued on it when its hold was recorded
	 * (enforce.bpf.h hold_this_thread): the engine's SIGCONT from now on
	 * comes after it, so the engine need not look at /proc to know */
	BUSTED_HELD_STOP_QUEUED = 1,
};

struct busted_held {
	__u32 pid;
	__u32 flags; /* enum busted_held_flags */
	__u64 ssl;
	__u64 call_id;
	__u64 since_ns;
};

struct busted_enforce_cfg {
	__u64 gate_classes; /* TLS connections whose SNI is in these classes start gated */
	__u64 heartbeat_ns; /* the engine's last sign of life (bpf_ktime_get_ns): no gating without it */
	__u32 flags;        /* enum busted_cfg_flags */
	__u32 _pad;
};

/* ---- traffic shape per connection (flow.bpf.h) --------------------------
 * Counted in the kernel on every sendmsg/recvmsg of a TCP connection this
 * host opened, and reported as one record now and then while it is busy
 * (BUSTED_FLOW_UPDATE) and once when it closes (BUSTED_FLOW_END): the
 * behavioural classifier's input, from metadata alone (no plaintext). */

#define BUSTED_FLOW_BINS 8

enum busted_flow_phase {
	BUSTED_FLOW_UPDATE = 1, /* still open: the totals so far */
	BUSTED_FLOW_END = 2,    /* closed: the final totals */
};

/*
 * An exchange is a request and its response: sends, then receives; the
 * next send after a receive starts the next exchange (unless it is smaller
 * than flow_ctrl_bytes: flow control, HTTP/2 WINDOW_UPDATE, pongs). A burst is a run of
 * receives less than flow_burst_ns apart (one network delivery: a TLS
 * record's header and body, a window of a download); the gaps between the
 * bursts of one response are its cadence (tokens of a streamed completion
 * arrive every few tens of milliseconds; a download has no gaps).
 *
 * burst_hist: bursts by size: <64 B, <256, <1 Ki, <4 Ki, <16 Ki, <64 Ki, <256 Ki, more.
 * gap_hist:   gaps between the bursts of one response: <5 ms, <10, <20, <50,
 *             <100, <250, <1000, more.
 */
struct busted_flow_event {
	struct busted_hdr hdr;
	__u64 sock_id;       /* socket cookie, as in busted_tcp_event */
	struct busted_flow flow; /* as it was at the first send or receive */
	__u32 phase;         /* enum busted_flow_phase */
	__u32 exchanges;     /* requests (runs of sends) */
	__u64 start_ns;      /* connect() */
	__u64 first_ns;      /* first send or receive */
	__u64 last_ns;       /* latest send or receive */
	__u64 send_bytes;
	__u64 recv_bytes;
	__u32 sends;         /* sendmsg calls that moved bytes */
	__u32 recvs;         /* recvmsg calls that returned bytes (MSG_PEEK not counted) */
	__u32 bursts;
	__u32 answered;      /* exchanges whose response began: the ttfb_* count */
	__u64 ttfb_first_ns; /* the first exchange's last send → first receive */
	__u64 ttfb_min_ns;
	__u64 ttfb_max_ns;
	__u64 ttfb_sum_ns;
	__u64 req_bytes_max;  /* the largest request (bytes sent in one exchange) */
	__u64 resp_bytes_max; /* the largest response */
	__u64 resp_ns_max;    /* the longest response: its first → last receive */
	__u64 idle_ns_max;    /* the longest silence between exchanges */
	__u64 gap_sum_us;     /* gaps between bursts of one response: sum, */
	__u64 gap_sq;         /* sum of squares, in units of (100 µs)² (gaps capped at 60 s), */
	__u32 gaps;           /* and how many */
	__u32 _pad;
	__u32 burst_hist[BUSTED_FLOW_BINS];
	__u32 gap_hist[BUSTED_FLOW_BINS];
};

#endif /* BUSTED_H */
