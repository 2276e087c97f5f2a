/**
 * The place that imports koffi (with exec.ts, which must load without
 * libbpf): declarations of the system libbpf
 * (libbpf.so.1, libbpf 1.x API) and the few libc calls the ring buffer and
 * cgroup attachment need. Everything above this file speaks typed
 * TypeScript through ./libbpf.ts; nothing else may import koffi.
 *
 * Return conventions (libbpf 1.0 "strict" mode, the only mode of 1.x):
 * int-returning calls give a negative errno; pointer-returning ones give
 * null and set errno.
 */
import koffi from 'koffi';
import { isMainThread } from 'node:worker_threads';

export type Ptr = unknown; // an opaque native pointer, as koffi hands it out

const BpfObject = koffi.opaque('bpf_object');
const BpfMap = koffi.opaque('bpf_map');
const BpfProgram = koffi.opaque('bpf_program');
const BpfLink = koffi.opaque('bpf_link');
const Btf = koffi.opaque('btf');
void BpfObject; void BpfMap; void BpfProgram; void BpfLink; void Btf;

// struct bpf_uprobe_opts as libbpf 1.1 lays it out (sz first, so newer
// libbpfs accept it as an older, shorter version of their struct).
const UprobeOpts = koffi.struct('bpf_uprobe_opts', {
  sz: 'size_t',
  ref_ctr_offset: 'size_t',
  bpf_cookie: 'uint64_t',
  retprobe: 'bool',
  func_name: 'const char *',
});
export const UPROBE_OPTS_SIZE = koffi.sizeof(UprobeOpts);

// libbpf_print_fn_t: int (*)(enum libbpf_print_level, const char *, va_list).
// On x86-64 and arm64 Linux a va_list parameter is passed as a pointer, so
// it can be handed to vsnprintf unchanged.
const PrintFn = koffi.proto('int libbpf_print_fn(int level, const char *fmt, void *args)');

function loadLibbpf() {
  try {
    return koffi.load('libbpf.so.1');
  } catch (e) {
    throw new Error(`cannot load the system libbpf (libbpf.so.1): ${(e as Error).message}; install libbpf1 (apt-get install libbpf1)`);
  }
}

const lb = loadLibbpf();
const libc = koffi.load('libc.so.6');

export const libbpf = {
  object_open_file: lb.func('bpf_object *bpf_object__open_file(const char *path, const void *opts)'),
  object_load: lb.func('int bpf_object__load(bpf_object *obj)'),
  object_close: lb.func('void bpf_object__close(bpf_object *obj)'),
  object_btf: lb.func('btf *bpf_object__btf(const bpf_object *obj)'),
  object_find_map: lb.func('bpf_map *bpf_object__find_map_by_name(const bpf_object *obj, const char *name)'),
  object_find_program: lb.func('bpf_program *bpf_object__find_program_by_name(const bpf_object *obj, const char *name)'),
  object_next_program: lb.func('bpf_program *bpf_object__next_program(const bpf_object *obj, bpf_program *prev)'),
  object_next_map: lb.func('bpf_map *bpf_object__next_map(const bpf_object *obj, const bpf_map *prev)'),

  program_name: lb.func('const char *bpf_program__name(const bpf_program *prog)'),
  program_section: lb.func('const char *bpf_program__section_name(const bpf_program *prog)'),
  program_set_autoload: lb.func('int bpf_program__set_autoload(bpf_program *prog, bool autoload)'),
  program_autoload: lb.func('bool bpf_program__autoload(const bpf_program *prog)'),
  program_fd: lb.func('int bpf_program__fd(const bpf_program *prog)'),
  program_set_expected_attach_type: lb.func('int bpf_program__set_expected_attach_type(bpf_program *prog, int type)'),
  program_attach: lb.func('bpf_link *bpf_program__attach(const bpf_program *prog)'),
  program_attach_cgroup: lb.func('bpf_link *bpf_program__attach_cgroup(const bpf_program *prog, int cgroup_fd)'),
  program_attach_uprobe: lb.func(
    'bpf_link *bpf_program__attach_uprobe(const bpf_program *prog, bool retprobe, int pid, const char *binary_path, size_t func_offset)',
  ),
  program_attach_uprobe_opts: lb.func(
    'bpf_link *bpf_program__attach_uprobe_opts(const bpf_program *prog, int pid, const char *binary_path, size_t func_offset, const bpf_uprobe_opts *opts)',
  ),
  program_attach_kprobe: lb.func('bpf_link *bpf_program__attach_kprobe(const bpf_program *prog, bool retprobe, const char *func_name)'),
  link_destroy: lb.func('int bpf_link__destroy(bpf_link *link)'),
  link_pin: lb.func('int bpf_link__pin(bpf_link *link, const char *path)'),
  link_unpin: lb.func('int bpf_link__unpin(bpf_link *link)'),
  link_open: lb.func('bpf_link *bpf_link__open(const char *path)'),
  link_disconnect: lb.func('void bpf_link__disconnect(bpf_link *link)'),

  map_name: lb.func('const char *bpf_map__name(const bpf_map *map)'),
  map_fd: lb.func('int bpf_map__fd(const bpf_map *map)'),
  map_set_max_entries: lb.func('int bpf_map__set_max_entries(bpf_map *map, uint32_t max_entries)'),
  map_max_entries: lb.func('uint32_t bpf_map__max_entries(const bpf_map *map)'),
  map_value_size: lb.func('uint32_t bpf_map__value_size(const bpf_map *map)'),
  map_reuse_fd: lb.func('int bpf_map__reuse_fd(bpf_map *map, int fd)'),
  map_set_pin_path: lb.func('int bpf_map__set_pin_path(bpf_map *map, const char *path)'),
  map_unpin: lb.func('int bpf_map__unpin(bpf_map *map, const char *path)'),
  map_initial_value: lb.func('void *bpf_map__initial_value(bpf_map *map, _Out_ size_t *psize)'),

  map_lookup_elem: lb.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
  map_update_elem: lb.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
  map_delete_elem: lb.func('int bpf_map_delete_elem(int fd, const void *key)'),
  map_get_next_key: lb.func('int bpf_map_get_next_key(int fd, const void *key, _Out_ void *next_key)'),
  map_create: lb.func(
    'int bpf_map_create(int map_type, const char *map_name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const void *opts)',
  ),

  num_possible_cpus: lb.func('int libbpf_num_possible_cpus(void)'),
  probe_prog_type: lb.func('int libbpf_probe_bpf_prog_type(int prog_type, const void *opts)'),
  probe_map_type: lb.func('int libbpf_probe_bpf_map_type(int map_type, const void *opts)'),
  probe_helper: lb.func('int libbpf_probe_bpf_helper(int prog_type, int helper_id, const void *opts)'),
  set_print: lb.func('void *libbpf_set_print(libbpf_print_fn *fn)'),
  major_version: lb.func('uint32_t libbpf_major_version(void)'),
  minor_version: lb.func('uint32_t libbpf_minor_version(void)'),

  btf_find_by_name_kind: lb.func('int btf__find_by_name_kind(const btf *btf, const char *name, uint32_t kind)'),
  btf_type_by_id: lb.func('const void *btf__type_by_id(const btf *btf, uint32_t id)'),
  btf_name_by_offset: lb.func('const char *btf__name_by_offset(const btf *btf, uint32_t offset)'),
};

export const c = {
  vsnprintf: libc.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *ap)'),
  mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)'),
  munmap: libc.func('int munmap(void *addr, size_t length)'),
  open: libc.func('int open(const char *path, int flags)'),
  close: libc.func('int close(int fd)'),
  epoll_create1: libc.func('int epoll_create1(int flags)'),
  epoll_ctl: libc.func('int epoll_ctl(int epfd, int op, int fd, const uint8_t *event)'),
  epoll_wait: libc.func('int epoll_wait(int epfd, _Out_ uint8_t *events, int maxevents, int timeout)'),
  strerror: libc.func('const char *strerror(int errnum)'),
  pthread_sigmask: libc.func('int pthread_sigmask(int how, const uint8_t *set, _Out_ uint8_t *oldset)'),
  // netlink (sock_diag's SOCK_DESTROY): node has no netlink sockets
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  send: libc.func('intptr_t send(int fd, const uint8_t *buf, size_t len, int flags)'),
  recv: libc.func('intptr_t recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)'),
  setsockopt: libc.func('int setsockopt(int fd, int level, int name, const uint8_t *val, uint32_t len)'),
  getsockopt: libc.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint8_t *len)'),
  sendto: libc.func('intptr_t sendto(int fd, const uint8_t *buf, size_t len, int flags, const uint8_t *addr, uint32_t addrlen)'),
  // bpf(2) for what libbpf 1.1 has no call for (uprobe session links)
  syscall: libc.func('long syscall(long number, ...)'),
};

/** bpf(2)'s number (arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/unistd.h). */
const SYS_BPF: Record<string, number> = { x64: 321, arm64: 280 };

/**
 * bpf(2) with `attr`, whose u64 pointer fields are filled in by `fill`
 * from the addresses of `blobs` (copied to native memory for the call and
 * freed after). Returns what the call returns: a file descriptor or 0, or
 * -errno.
 */
export function bpfSyscall(cmd: number, attr: Uint8Array, blobs: Uint8Array[], fill: (addrs: bigint[]) => void): number {
  const nr = SYS_BPF[process.arch];
  if (nr === undefined) return -38; // ENOSYS: an architecture we have no number for
  const ptrs = blobs.map((b) => {
    const p = koffi.alloc('uint8_t', Math.max(1, b.length));
    new Uint8Array(koffi.view(p, b.length)).set(b);
    return p;
  });
  try {
    fill(ptrs.map((p) => koffi.address(p)));
    const r = Number(c.syscall(nr, 'int', cmd, 'uint8_t *', attr, 'uint32_t', attr.length) as number | bigint);
    return r < 0 ? -koffi.errno() : r;
  } finally {
    for (const p of ptrs) koffi.free(p);
  }
}

/**
 * pidfd_open(2) and pidfd_getfd(2) (the same numbers on every architecture:
 * include/uapi/asm-generic/unistd.h). A descriptor, or -errno.
 */
export function pidfdOpen(pid: number): number {
  const r = Number(c.syscall(434, 'int', pid, 'uint32_t', 0) as number | bigint);
  return r < 0 ? -koffi.errno() : r;
}

export function pidfdGetfd(pidfd: number, targetFd: number): number {
  const r = Number(c.syscall(438, 'int', pidfd, 'int', targetFd, 'uint32_t', 0) as number | bigint);
  return r < 0 ? -koffi.errno() : r;
}

export const O_RDONLY = 0;
export const O_DIRECTORY = 0o200000;
export const O_CLOEXEC = 0o2000000;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const EPOLL_CTL_ADD = 1;
export const EPOLLIN = 1;
export const EPOLL_CLOEXEC = 0o2000000;
export const AF_NETLINK = 16;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const NETLINK_SOCK_DIAG = 4;
export const SOL_SOCKET = 1;
export const SO_RCVTIMEO = 20;
export const SO_MARK = 36;
/** bpf_map_update_elem: only when the key is not there (include/uapi/linux/bpf.h) */
export const BPF_NOEXIST = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const IPPROTO_RAW = 255;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
export const TCP_CORK = 3;
export const SO_COOKIE = 57;

/** errno of the last failed call on this thread. */
export function errno(): number {
  return koffi.errno();
}

/** A native pointer to memory we can read and write from JavaScript. */
export function view(ptr: Ptr, len: number): ArrayBuffer {
  return koffi.view(ptr, len);
}

/** Read a plain array of u32 words at ptr (for BTF records). */
export function readU32s(ptr: Ptr, count: number): number[] {
  return koffi.decode(ptr, 'uint32_t', count) as number[];
}

export function readU32sAt(ptr: Ptr, byteOffset: number, count: number): number[] {
  return koffi.decode(ptr, byteOffset, 'uint32_t', count) as number[];
}

export function address(p: Ptr): bigint {
  return koffi.address(p);
}

export function isNull(p: Ptr): boolean {
  return p === null || p === undefined || koffi.address(p) === 0n;
}

/** Register a JS function as libbpf's print callback (kept alive for the process). */
export function registerPrint(fn: (level: number, fmt: Ptr, args: Ptr) => number): Ptr {
  return koffi.register(fn, koffi.pointer(PrintFn));
}

/**
 * libuv's poll watcher on the main thread's loop: CB runs on that thread
 * whenever FD is readable (level-triggered), with no worker thread between
 * the kernel's wake-up and the loop. libuv comes with the node binary,
 * which exports it for addons. Undefined where that is not so (a node
 * built against a shared libuv that is not loaded, an embedder), or off a
 * worker thread, whose loop is not the default one: the caller then waits
 * with epollWaitAsync.
 *
 * CB is called outside of node's callback scope (no microtasks run after
 * it): it should only schedule work (setImmediate), not do it.
 */
export function uvPollReadable(fd: number, cb: () => void): { stop(): void } | undefined {
  const uv = libuv();
  if (!uv || !isMainThread) return undefined;
  // a handle's memory must outlive uv_close, which finishes on a later turn: kept for the process
  const handle = Buffer.alloc(Number(uv.handle_size(UV_POLL)));
  UV_HANDLES.push(handle);
  const fn = koffi.register(() => {
    try {
      cb();
    } catch {
      // nothing may be thrown into libuv
    }
  }, koffi.pointer(UvPollCb));
  if ((uv.poll_init(uv.default_loop(), handle, fd) as number) < 0 || (uv.poll_start(handle, UV_READABLE, fn) as number) < 0) {
    koffi.unregister(fn);
    return undefined;
  }
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      uv.poll_stop(handle);
      uv.close(handle, null);
      koffi.unregister(fn);
    },
  };
}

const UV_POLL = 8; // uv_handle_type (uv.h)
const UV_READABLE = 1; // uv_poll_event
const UV_HANDLES: Buffer[] = [];
const UvPollCb = koffi.proto('void busted_uv_poll_cb(void *handle, int status, int events)');
let uvFns: ReturnType<typeof loadLibuv> | null | undefined;
function loadLibuv() {
  const self = koffi.load(null as unknown as string);
  return {
    default_loop: self.func('void *uv_default_loop(void)'),
    handle_size: self.func('size_t uv_handle_size(int type)'),
    poll_init: self.func('int uv_poll_init(void *loop, void *handle, int fd)'),
    poll_start: self.func('int uv_poll_start(void *handle, int events, busted_uv_poll_cb *cb)'),
    poll_stop: self.func('int uv_poll_stop(void *handle)'),
    close: self.func('void uv_close(void *handle, void *close_cb)'),
  };
}
function libuv(): ReturnType<typeof loadLibuv> | undefined {
  if (uvFns === undefined) {
    try {
      uvFns = loadLibuv();
    } catch {
      uvFns = null;
    }
  }
  return uvFns ?? undefined;
}

/** Call fn asynchronously on a libuv worker thread. */
export function epollWaitAsync(epfd: number, buf: Uint8Array, max: number, timeoutMs: number, cb: (err: unknown, n: number) => void): void {
  c.epoll_wait.async(epfd, buf, max, timeoutMs, cb);
}
