/**
 * Which container (and Kubernetes pod) a process runs in, read from its cgroup
 * path. Pure: the caller reads /proc/PID/cgroup (or gets the path from the
 * kernel by cgroup id) and hands over the text.
 *
 * Nothing here asks a runtime: the cgroup path is what every runtime leaves
 * behind, and it is there even when the runtime's socket is not reachable.
 * The layouts come from the runtimes' own code and docs, cited per rule below.
 * A path is read from the root down; the innermost container wins (docker in
 * docker, kind nodes, a container inside an LXC or nspawn machine), and the
 * pod is the innermost kubepods pod on the path.
 */

export type ContainerRuntime = 'docker' | 'containerd' | 'cri-o' | 'podman' | 'lxc' | 'systemd-nspawn';
export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

export interface ContainerInfo {
  container_id?: string;
  container_runtime?: ContainerRuntime;
  pod_uid?: string;
  qos_class?: QosClass;
}

/**
 * The scope/directory prefix each runtime puts before the 64-hex id:
 * - docker, systemd driver: docker-<id>.scope (moby daemon/cgroup_driver: "docker" prefix);
 * - containerd CRI, systemd driver: cri-containerd-<id>.scope
 *   (https://github.com/containerd/containerd, pkg/cri: cgroupsPath "slice:cri-containerd:id");
 * - nerdctl, systemd driver: "system.slice:nerdctl:<id>" → nerdctl-<id>.scope
 *   (nerdctl cmd/nerdctl/run_cgroup_linux.go);
 * - CRI-O: crio-<id>.scope (systemd) or crio-<id> (cgroupfs); its monitor is
 *   crio-conmon-<id>.scope, which is not the container, so that prefix is absent here;
 * - podman: libpod-<id>.scope (systemd) or libpod_parent/libpod-<id> (cgroupfs);
 *   libpod-conmon-<id>.scope is conmon, likewise absent.
 */
const PREFIX_RUNTIME: ReadonlyMap<string, ContainerRuntime> = new Map<string, ContainerRuntime>([
  ['docker', 'docker'],
  ['cri-containerd', 'containerd'],
  ['nerdctl', 'containerd'],
  ['crio', 'cri-o'],
  ['libpod', 'podman'],
]);

/**
 * Parents of a bare <id> directory (cgroupfs drivers):
 * - docker: /docker/<id> (dockerd --cgroup-parent default "/docker");
 * - podman: /libpod_parent/<id> (older cgroupfs layout);
 * - containerd without CRI: /<namespace>/<id>, e.g. /default/<id> for `ctr run`
 *   and /k8s.io/<id> (containerd's default cgroup path is /<namespace>/<id>).
 * Under a kubepods pod a bare <id> can be any CRI runtime, so none is claimed.
 */
const PARENT_RUNTIME: ReadonlyMap<string, ContainerRuntime> = new Map<string, ContainerRuntime>([
  ['docker', 'docker'],
  ['libpod_parent', 'podman'],
  ['default', 'containerd'],
  ['k8s.io', 'containerd'],
]);

const ID_LEN = 64;

/** Container ids are 64 lower-case hex digits (OCI runtimes generate sha256-sized ids). */
function isId(s: string, from = 0, to = s.length): boolean {
  if (to - from !== ID_LEN) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * A pod UID: an RFC 4122 UUID from the API server, or 32 hex digits for a
 * static pod (the kubelet hashes the manifest: pkg/kubelet/config/common.go).
 */
function isPodUid(s: string): boolean {
  if (s.length === 32) return isHex(s);
  if (s.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
    } else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) {
      return false;
    }
  }
  return true;
}

function isHex(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return s.length > 0;
}

/** systemd unit-name escaping (systemd.unit(5), "\xNN" for bytes such as '-'). */
function unescapeUnit(s: string): string {
  if (s.indexOf('\\x') === -1) return s;
  return s.replace(/\\x([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

interface Pod {
  uid: string;
  qos: QosClass;
}

/**
 * A kubelet pod slice with the systemd cgroup driver
 * (kubernetes pkg/kubelet/cm/cgroup_manager_linux.go, ToSystemd):
 * kubepods-pod<uid>.slice (Guaranteed), kubepods-burstable-pod<uid>.slice,
 * kubepods-besteffort-pod<uid>.slice. systemd uses '-' for slice nesting, so
 * the kubelet writes the UID's dashes as '_' (escapeSystemdCgroupName); they are
 * turned back here. A cgroup root of its own (kind: /kubelet.slice/kubelet-kubepods-...)
 * only adds tokens before "kubepods".
 */
function podFromSlice(seg: string): Pod | undefined {
  if (!seg.endsWith('.slice')) return undefined;
  const tokens = seg.slice(0, -'.slice'.length).split('-');
  const k = tokens.lastIndexOf('kubepods');
  if (k === -1) return undefined;
  let qos: QosClass = 'guaranteed';
  let podTok: string | undefined;
  if (tokens.length === k + 2) {
    podTok = tokens[k + 1];
  } else if (tokens.length === k + 3 && (tokens[k + 1] === 'burstable' || tokens[k + 1] === 'besteffort')) {
    qos = tokens[k + 1] as QosClass;
    podTok = tokens[k + 2];
  }
  if (podTok === undefined || !podTok.startsWith('pod')) return undefined;
  const uid = podTok.slice(3).replace(/_/g, '-');
  return isPodUid(uid) ? { uid, qos } : undefined;
}

/**
 * A kubelet pod directory with the cgroupfs driver: /kubepods/pod<uid>
 * (Guaranteed), /kubepods/burstable/pod<uid>, /kubepods/besteffort/pod<uid>;
 * the UID keeps its dashes here.
 */
function podFromDir(seg: string, parent: string | undefined, grandparent: string | undefined): Pod | undefined {
  if (!seg.startsWith('pod')) return undefined;
  let qos: QosClass;
  if (parent === 'kubepods') qos = 'guaranteed';
  else if ((parent === 'burstable' || parent === 'besteffort') && grandparent === 'kubepods') qos = parent;
  else return undefined;
  const uid = seg.slice(3);
  return isPodUid(uid) ? { uid, qos } : undefined;
}

interface Found {
  id: string;
  runtime: ContainerRuntime | undefined;
}

/** "<prefix>-<64hex>" (with ".scope" already removed) → the runtime's container. */
function prefixed(name: string): Found | undefined {
  const dash = name.length - ID_LEN - 1;
  if (dash <= 0 || name.charCodeAt(dash) !== 45 || !isId(name, dash + 1)) return undefined;
  const runtime = PREFIX_RUNTIME.get(name.slice(0, dash));
  return runtime === undefined ? undefined : { id: name.slice(dash + 1), runtime };
}

/**
 * systemd-nspawn machines: systemd-nspawn@<name>.service when started as the
 * template unit (machinectl start), machine-<name>.scope under machine.slice
 * when started by hand with registration (systemd-machined(8)). libvirt
 * registers its guests the same way as machine-qemu\x2d<n>\x2d<name>.scope and
 * machine-lxc\x2d<pid>\x2d<name>.scope; a VM is not a container and libvirt-lxc
 * is a different runtime, so both are left out.
 */
function nspawnMachine(seg: string, parent: string | undefined): string | undefined {
  const at = 'systemd-nspawn@';
  if (seg.startsWith(at) && seg.endsWith('.service') && seg.length > at.length + '.service'.length) {
    return unescapeUnit(seg.slice(at.length, -'.service'.length));
  }
  if (parent === 'machine.slice' && seg.startsWith('machine-') && seg.endsWith('.scope')) {
    const name = unescapeUnit(seg.slice('machine-'.length, -'.scope'.length));
    if (name.length === 0 || name.startsWith('qemu-') || name.startsWith('lxc-')) return undefined;
    return name;
  }
  return undefined;
}

/**
 * LXC/LXD: lxc.payload.<name> (LXC >= 4.0 on the unified hierarchy; the monitor
 * is lxc.monitor.<name> and is not the container), lxc.payload/<name> (LXC 3)
 * and lxc/<name> (older LXC and LXD on cgroup v1).
 */
function lxcName(seg: string, parent: string | undefined): string | undefined {
  const p = 'lxc.payload.';
  if (seg.startsWith(p)) return seg.length > p.length ? seg.slice(p.length) : undefined;
  if (parent === 'lxc' || parent === 'lxc.payload') return seg;
  return undefined;
}

/**
 * Classify one cgroup path (the part after "0::" in /proc/PID/cgroup, or a
 * cgroup v1 path; both use the same names). Host paths give {}.
 */
export function containerFromCgroupPath(path: string): ContainerInfo {
  const segs = path.split('/');
  let found: Found | undefined;
  let pod: Pod | undefined;
  // What `found` was before the most recent nspawn machine: its "supervisor"
  // child is systemd-nspawn itself, not the machine.
  let beforeNspawn: Found | undefined;
  let nspawnAt = -1;
  let parent: string | undefined;
  let grandparent: string | undefined;

  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    // Empty (leading '/', doubled '/'), '.' and the '..' a cgroup namespace
    // shows for cgroups outside it say nothing.
    if (seg === '' || seg === '.' || seg === '..') continue;

    const colon = seg.indexOf(':');
    if (colon !== -1) {
      // The runc systemd-driver notation "slice:prefix:name" written out as a
      // directory, as seen under containerd.service when containerd's runc
      // options and the kubelet disagree on the driver (runc libcontainer/cgroups/systemd).
      const parts = seg.split(':');
      if (parts.length === 3) {
        const p = podFromSlice(parts[0]!);
        if (p !== undefined) pod = p;
        if (isId(parts[2]!)) {
          const runtime = PREFIX_RUNTIME.get(parts[1]!);
          if (runtime !== undefined || parts[1] === '') found = { id: parts[2]!, runtime };
        }
      }
    } else if (isId(seg)) {
      found = { id: seg, runtime: parent === undefined ? undefined : PARENT_RUNTIME.get(parent) };
    } else {
      const p = podFromSlice(seg) ?? podFromDir(seg, parent, grandparent);
      if (p !== undefined) {
        pod = p;
      } else {
        const name = seg.endsWith('.scope') ? seg.slice(0, -'.scope'.length) : seg;
        const c = prefixed(name);
        if (c !== undefined) {
          found = c;
        } else {
          const machine = nspawnMachine(seg, parent);
          if (machine !== undefined) {
            beforeNspawn = found;
            nspawnAt = i;
            found = { id: machine, runtime: 'systemd-nspawn' };
          } else if (seg === 'supervisor' && nspawnAt === i - 1) {
            // systemd-nspawn splits its unit into payload/ and supervisor/ on
            // the unified hierarchy (src/nspawn/nspawn-cgroup.c, create_subcgroup).
            found = beforeNspawn;
          } else {
            const lxc = lxcName(seg, parent);
            if (lxc !== undefined) found = { id: lxc, runtime: 'lxc' };
          }
        }
      }
    }
    grandparent = parent;
    parent = seg;
  }

  const out: ContainerInfo = {};
  if (found !== undefined) {
    out.container_id = found.id;
    if (found.runtime !== undefined) out.container_runtime = found.runtime;
  }
  if (pod !== undefined) {
    out.pod_uid = pod.uid;
    out.qos_class = pod.qos;
  }
  return out;
}

/**
 * The cgroup v2 path from the text of /proc/PID/cgroup. Each line is
 * "hierarchy-ID:controller-list:cgroup-path" (cgroups(7), /proc/[pid]/cgroup);
 * the unified hierarchy is the line with ID 0 and no controllers. Hybrid
 * hosts also list v1 hierarchies ("4:memory:/...", "1:name=systemd:/..."),
 * which are skipped. The path may itself contain ':' (the runc "slice:prefix:name"
 * form above), so only the first two colons split. The kernel appends
 * " (deleted)" when the cgroup has been removed (kernel/cgroup/cgroup.c,
 * proc_cgroup_show); that is not part of the path.
 */
export function parseProcCgroup(text: string): string | undefined {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    if (text.startsWith('0::', start)) {
      let line = text.slice(start + 3, end);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      const deleted = ' (deleted)';
      if (line.endsWith(deleted)) line = line.slice(0, -deleted.length);
      return line.length > 0 ? line : undefined;
    }
    start = end + 1;
  }
  return undefined;
}
