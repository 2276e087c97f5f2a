import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { containerFromCgroupPath, parseProcCgroup, type ContainerInfo } from '../../engine/enrich/container.js';

const A = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'b'.repeat(8); // 64 hex
const B = '0123456789abcdef'.repeat(4);
const C = 'f00dcafe'.repeat(8);
const POD = '7e44ee88-1e65-4a16-8cdf-9a90c819180e';
const POD_ = POD.replace(/-/g, '_');
const STATIC_POD = '2d7b7b4e0f9c4c1b8a7d6e5f4c3b2a19';

/** [cgroup path, expected, where it is seen] */
const PATHS: ReadonlyArray<readonly [string, ContainerInfo, string]> = [
  // docker
  [`/docker/${A}`, { container_id: A, container_runtime: 'docker' }, 'docker, cgroupfs driver'],
  [`/system.slice/docker-${A}.scope`, { container_id: A, container_runtime: 'docker' }, 'docker, systemd driver'],
  [`/system.slice/docker-${A}.scope/init.scope`, { container_id: A, container_runtime: 'docker' }, 'systemd running inside a docker container'],
  [`/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${A}.scope`, { container_id: A, container_runtime: 'docker' }, 'rootless docker'],
  [`/docker/${A}/docker/${B}`, { container_id: B, container_runtime: 'docker' }, 'docker-in-docker, cgroup v1 layout'],
  [`/system.slice/docker-${A}.scope/docker/${B}`, { container_id: B, container_runtime: 'docker' }, 'docker-in-docker, systemd outer'],
  [`/ecs/8a4f5e2c9b3d4e1fa0b1c2d3e4f5a6b7/${A}`, { container_id: A }, 'Amazon ECS task (runtime not claimed)'],
  [`/actions_job/${A}`, { container_id: A }, 'GitHub Actions job container'],
  // containerd
  [`/default/${A}`, { container_id: A, container_runtime: 'containerd' }, 'ctr run, cgroupfs'],
  [`/system.slice/nerdctl-${A}.scope`, { container_id: A, container_runtime: 'containerd' }, 'nerdctl, systemd driver'],
  [`/system.slice/containerd.service/kubepods-burstable-pod${POD_}.slice:cri-containerd:${A}`,
    { container_id: A, container_runtime: 'containerd', pod_uid: POD, qos_class: 'burstable' }, 'containerd with runc driver mismatch'],
  [`/system.slice/containerd.service`, {}, 'containerd daemon itself'],
  // Kubernetes, systemd driver
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/cri-containerd-${A}.scope`,
    { container_id: A, container_runtime: 'containerd', pod_uid: POD, qos_class: 'burstable' }, 'k8s containerd burstable'],
  [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice/cri-containerd-${A}.scope`,
    { container_id: A, container_runtime: 'containerd', pod_uid: POD, qos_class: 'besteffort' }, 'k8s containerd besteffort'],
  [`/kubepods.slice/kubepods-pod${POD_}.slice/cri-containerd-${A}.scope`,
    { container_id: A, container_runtime: 'containerd', pod_uid: POD, qos_class: 'guaranteed' }, 'k8s containerd guaranteed'],
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-${A}.scope`,
    { container_id: A, container_runtime: 'cri-o', pod_uid: POD, qos_class: 'burstable' }, 'OpenShift / CRI-O'],
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-${A}.scope/container`,
    { container_id: A, container_runtime: 'cri-o', pod_uid: POD, qos_class: 'burstable' }, 'CRI-O with crun sub-cgroup'],
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-conmon-${A}.scope`,
    { pod_uid: POD, qos_class: 'burstable' }, 'CRI-O conmon is not the container'],
  [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice/docker-${A}.scope`,
    { container_id: A, container_runtime: 'docker', pod_uid: POD, qos_class: 'besteffort' }, 'k8s with cri-dockerd'],
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC_POD}.slice/cri-containerd-${A}.scope`,
    { container_id: A, container_runtime: 'containerd', pod_uid: STATIC_POD, qos_class: 'burstable' }, 'static pod (hash uid)'],
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice`,
    { pod_uid: POD, qos_class: 'burstable' }, 'pod-level cgroup, no container'],
  [`/kubepods.slice/kubepods-burstable.slice`, {}, 'QoS slice alone'],
  [`/kubepods.slice`, {}, 'kubepods root'],
  // Kubernetes, cgroupfs driver
  [`/kubepods/burstable/pod${POD}/${A}`, { container_id: A, pod_uid: POD, qos_class: 'burstable' }, 'k8s cgroupfs burstable'],
  [`/kubepods/besteffort/pod${POD}/${A}`, { container_id: A, pod_uid: POD, qos_class: 'besteffort' }, 'k8s cgroupfs besteffort'],
  [`/kubepods/pod${POD}/${A}`, { container_id: A, pod_uid: POD, qos_class: 'guaranteed' }, 'k8s cgroupfs guaranteed'],
  [`/kubepods/besteffort/pod${POD}/crio-${A}`,
    { container_id: A, container_runtime: 'cri-o', pod_uid: POD, qos_class: 'besteffort' }, 'CRI-O, cgroupfs'],
  [`/pod${POD}/${A}`, { container_id: A }, 'pod dir outside kubepods is not trusted as a pod'],
  // kind: Kubernetes nodes are docker containers, kubelet cgroup root /kubelet
  [`/system.slice/docker-${C}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${POD_}.slice/cri-containerd-${A}.scope`,
    { container_id: A, container_runtime: 'containerd', pod_uid: POD, qos_class: 'burstable' }, 'kind node, innermost container'],
  [`/system.slice/docker-${C}.scope/kubelet.slice/kubelet.service`, { container_id: C, container_runtime: 'docker' }, 'kind node kubelet'],
  // podman
  [`/machine.slice/libpod-${A}.scope`, { container_id: A, container_runtime: 'podman' }, 'podman rootful'],
  [`/machine.slice/libpod-${A}.scope/container`, { container_id: A, container_runtime: 'podman' }, 'podman with crun sub-cgroup'],
  [`/machine.slice/libpod-conmon-${A}.scope`, {}, 'podman conmon is not the container'],
  [`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${A}.scope`, { container_id: A, container_runtime: 'podman' }, 'podman rootless'],
  [`/user.slice/user-1000.slice/user@1000.service/user.slice/user-libpod_pod_${B}.slice/libpod-${A}.scope`,
    { container_id: A, container_runtime: 'podman' }, 'podman rootless pod'],
  [`/machine.slice/machine-libpod_pod_${B}.slice/libpod-${A}.scope`, { container_id: A, container_runtime: 'podman' }, 'podman rootful pod'],
  [`/libpod_parent/libpod-${A}`, { container_id: A, container_runtime: 'podman' }, 'podman cgroupfs'],
  // LXC / LXD
  ['/lxc.payload.web1', { container_id: 'web1', container_runtime: 'lxc' }, 'LXC 4+/LXD, unified'],
  ['/lxc.payload.web1/system.slice/nginx.service', { container_id: 'web1', container_runtime: 'lxc' }, 'service inside LXC'],
  ['/lxc.monitor.web1', {}, 'LXC monitor is not the container'],
  ['/lxc/web1', { container_id: 'web1', container_runtime: 'lxc' }, 'older LXC'],
  [`/lxc.payload.ci/system.slice/docker-${A}.scope`, { container_id: A, container_runtime: 'docker' }, 'docker inside LXD'],
  // systemd-nspawn
  ['/machine.slice/systemd-nspawn@debian.service', { container_id: 'debian', container_runtime: 'systemd-nspawn' }, 'machinectl start'],
  ['/machine.slice/systemd-nspawn@debian.service/payload/system.slice/sshd.service',
    { container_id: 'debian', container_runtime: 'systemd-nspawn' }, 'service inside nspawn'],
  ['/machine.slice/systemd-nspawn@debian.service/supervisor', {}, 'nspawn supervisor is the host side'],
  ['/machine.slice/machine-my\\x2dbox.scope', { container_id: 'my-box', container_runtime: 'systemd-nspawn' }, 'systemd-nspawn -M my-box, escaped'],
  ['/machine.slice/machine-qemu\\x2d1\\x2dvm1.scope/libvirt/emulator', {}, 'libvirt VM is not a container'],
  // host paths
  ['/user.slice/user-1000.slice/session-1.scope', {}, 'login session'],
  ['/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-1234.scope', {}, 'desktop app'],
  ['/system.slice/ssh.service', {}, 'system service'],
  ['/system.slice/docker.service', {}, 'dockerd itself'],
  ['/init.scope', {}, 'PID 1'],
  ['/', {}, 'root'],
  ['', {}, 'empty'],
  ['/../../..', {}, 'outside the reader cgroup namespace'],
  // ids must be exactly 64 lower-case hex
  [`/docker/${A.slice(1)}`, {}, '63 hex'],
  [`/system.slice/docker-${A.toUpperCase()}.scope`, {}, 'upper case'],
  [`/system.slice/docker-${A}x.scope`, {}, 'trailing junk'],
  [`/system.slice/foo-${A}.scope`, {}, 'unknown prefix'],
];

describe('containerFromCgroupPath', () => {
  it('has a table of at least 25 real-world paths', () => {
    assert.ok(PATHS.length >= 25);
  });
  for (const [path, want, where] of PATHS) {
    it(`${where}: ${path.length > 90 ? `…${path.slice(-90)}` : path || '(empty)'}`, () => {
      assert.deepEqual(containerFromCgroupPath(path), want);
    });
  }

  it('leaves inapplicable fields absent, not undefined', () => {
    const got = containerFromCgroupPath(`/kubepods/burstable/pod${POD}/${A}`);
    assert.deepEqual(Object.keys(got).sort(), ['container_id', 'pod_uid', 'qos_class']);
    assert.deepEqual(Object.keys(containerFromCgroupPath('/system.slice/ssh.service')), []);
  });
});

describe('parseProcCgroup', () => {
  const CASES: ReadonlyArray<readonly [string, string | undefined, string]> = [
    [`0::/system.slice/docker-${A}.scope\n`, `/system.slice/docker-${A}.scope`, 'unified host'],
    ['0::/\n', '/', 'root'],
    [
      '12:pids:/user.slice/user-1000.slice/session-2.scope\n' +
        '11:memory:/user.slice/user-1000.slice/session-2.scope\n' +
        '4:cpu,cpuacct:/user.slice\n' +
        '1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n' +
        '0::/user.slice/user-1000.slice/session-2.scope\n',
      '/user.slice/user-1000.slice/session-2.scope',
      'hybrid host: v1 lines first',
    ],
    [`0::/system.slice/containerd.service/kubepods-pod${POD_}.slice:cri-containerd:${A}\n`,
      `/system.slice/containerd.service/kubepods-pod${POD_}.slice:cri-containerd:${A}`, 'colons inside the path'],
    ['0::/system.slice/gone.service (deleted)\n', '/system.slice/gone.service', 'removed cgroup'],
    ['0::/init.scope\r\n', '/init.scope', 'CRLF'],
    ['0::/init.scope', '/init.scope', 'no final newline'],
    ['1:name=systemd:/init.scope\n2:cpu:/\n', undefined, 'v1 only'],
    ['10::/not-v2\n', undefined, 'id 10 is not 0'],
    ['', undefined, 'empty'],
    ['0::\n', undefined, 'empty path'],
  ];
  for (const [text, want, why] of CASES) {
    it(why, () => {
      assert.equal(parseProcCgroup(text), want);
    });
  }

  it('feeds containerFromCgroupPath', () => {
    const path = parseProcCgroup(`1:name=systemd:/\n0::/kubepods/besteffort/pod${POD}/${B}\n`);
    assert.deepEqual(containerFromCgroupPath(path!), { container_id: B, pod_uid: POD, qos_class: 'besteffort' });
  });
});
