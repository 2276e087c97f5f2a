#!/usr/bin/env bash
# Idempotent set-up: Debian packages, npm dependencies, BPF objects,
# TypeScript. Quick when everything is already in place.
#
#   bash scripts/setup.sh               everything
#   bash scripts/setup.sh --build-only  only the BPF and TypeScript builds
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# --- Debian packages --------------------------------------------------------
# clang/llvm: compile bpf/*.bpf.c; libbpf-dev: its headers (the engine uses
# the system libbpf1 at run time); bpftool: vmlinux.h and the wire layout;
# the rest are the real servers and clients the tests talk to.
# lld: wasm-ld, which links the Rego policy runtime (engine/policy/runtime).
# nginx: serves policy bundles to `busted enforce --policies http://...` in the tests;
# wget: a client on GnuTLS (its libgnutls is probed).
# rsyslog, logrotate: the syslog and file outputs are tested against them
# (rsyslogd runs with the test's own configuration, never as the system's);
# chromium: the dashboard is tested in it, headless (playwright-core drives it);
# strace: a test counts the system calls a second look at a process makes.
# libcurl3-nss: libcurl on NSS, a client of the NSS probes (driven from python3);
# golang-go: builds the Go client whose crypto/tls the Go probes read (no network: the standard library only).
PKGS=(clang llvm lld binutils libbpf-dev libbpf1 bpftool dnsmasq-base openssl curl python3 iproute2 util-linux procps nginx wget rsyslog logrotate chromium strace libcurl3-nss golang-go)

if [[ "${1:-}" != "--build-only" ]]; then
  missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      say "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)"
      exit 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi

  # bpffs, where `busted enforce --pin` keeps enforcement across restarts: mounted at its usual place when no
  # bpffs is (systemd mounts it on most distros; a bare container or VM may have none)
  if [[ $(id -u) -eq 0 ]] && ! grep -q ' - bpf ' /proc/self/mountinfo && [[ -d /sys/fs/bpf ]]; then
    if mount -t bpf bpf /sys/fs/bpf 2>/dev/null; then say "mounted a bpffs at /sys/fs/bpf"; else say "no bpffs mounted, and mounting one failed: --pin will say so"; fi
  fi

  # npm dependencies: again only when the lock file changed.
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    say "npm ci"
    npm ci --no-audit --no-fund --loglevel=error >&2
  fi
fi

# --- BPF objects ---------------------------------------------------------------
mkdir -p build/bpf
if [[ ! -s build/bpf/vmlinux.h ]]; then
  if [[ ! -r /sys/kernel/btf/vmlinux ]]; then
    say "this kernel has no BTF (/sys/kernel/btf/vmlinux): cannot build CO-RE programs"
    exit 1
  fi
  say "generating build/bpf/vmlinux.h from the kernel's BTF"
  bpftool btf dump file /sys/kernel/btf/vmlinux format c > build/bpf/vmlinux.h.tmp
  mv build/bpf/vmlinux.h.tmp build/bpf/vmlinux.h
fi
ARCH=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
compile() { # src obj [extra clang flags]
  local src=$1 obj=$2
  shift 2
  local stale=0 h
  for h in "$src" bpf/*.h; do [[ "$h" -nt "$obj" ]] && stale=1; done
  if [[ ! -f "$obj" || $stale == 1 ]]; then
    say "clang $src -> $obj"
    clang -g -O2 -target bpf "-D__TARGET_ARCH_${ARCH}" -Wall -Werror \
      -Ibuild/bpf -Ibpf "$@" -c "$src" -o "$obj"
  fi
}
rm -f build/bpf/flow.bpf.o build/bpf/flow.rawtp.bpf.o # part of conn.bpf.c since flow.bpf.h
for src in bpf/*.bpf.c; do
  compile "$src" "build/bpf/$(basename "${src%.c}").o"
done
# raw_tp fallbacks of the tracing objects (see bpf/common.bpf.h)
for name in proc conn; do
  compile "bpf/$name.bpf.c" "build/bpf/$name.rawtp.bpf.o" -DBUSTED_RAW_TP
done

# --- the guard that lets held processes go if the agent dies (engine/enforce/guard.c)
mkdir -p build/guard
if [[ ! -f build/guard/busted-guard || engine/enforce/guard.c -nt build/guard/busted-guard ]]; then
  say "clang engine/enforce/guard.c -> build/guard/busted-guard"
  clang -O2 -Wall -Werror -o build/guard/busted-guard engine/enforce/guard.c
fi

# --- TypeScript -----------------------------------------------------------------
# Incremental: quick when nothing changed. Without dist/ the build info
# would claim everything is up to date, so it goes too.
[[ -d dist ]] || rm -f build/tsconfig.tsbuildinfo
node_modules/.bin/tsc -p .

# --- Rego policy runtime --------------------------------------------------------
# C -> build/wasm/runtime.wasm (+ runtime-echo.wasm, runtime.json) with
# clang --target=wasm32 and wasm-ld; the driver is TypeScript, so after tsc.
# Incremental: quick when nothing changed.
node dist/engine/policy/runtime/build.js
