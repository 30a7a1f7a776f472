/**
 * What the real node's guest is made of: Debian packages, configuration files and the kernel
 * command line. Everything here goes into the guest cache's key, so changing any of it rebuilds.
 */

export const SUITE = 'bookworm';

/** minbase + these: systemd as init, containerd + runc + CNI for the kubelet, a kernel. */
export const PACKAGES = [
  'systemd-sysv',
  'udev',
  'dbus',
  'kmod',
  'iproute2',
  'iptables',
  'containerd',
  'runc',
  'containernetworking-plugins',
  // The pause and workload images are made of its single static binary (images.ts).
  'busybox-static',
  'initramfs-tools',
  'linux-image-cloud-amd64',
];

/** Address of the host's loopback as the guest sees it (qemu guestfwd to 127.0.0.1:<same port>). */
export const HOST_ADDRESS = '10.0.2.100';
export const GUEST_ADDRESS = '10.0.2.15';
/** The `kubernetes` Service's ClusterIP (testbed apiserver: --service-cluster-ip-range=10.0.0.0/24). */
export const SERVICE_IP = '10.0.0.1';
/** Where the per-run data disk (kubelet, credentials, agent image) is mounted in the guest. */
export const DATA_MOUNT = '/mnt/testbed';
export const PAUSE_IMAGE = 'testbed.local/pause:1';
export const BUSYBOX_IMAGE = 'testbed.local/busybox:1';

/** quiet + no mitigations: TCG runs guest code ~25x slower than the host, every cycle counts. */
export const KERNEL_CMDLINE = [
  'root=/dev/vda',
  'rw',
  'console=ttyS0',
  'quiet',
  'mitigations=off',
  'net.ifnames=0',
  // One "[  OK  ] Started ..." line per unit on the console: what a failed boot's error shows.
  'systemd.show_status=true',
].join(' ');

/** Units that only cost boot time in a throwaway VM. */
export const MASKED_UNITS = [
  'apt-daily.timer',
  'apt-daily-upgrade.timer',
  'dpkg-db-backup.timer',
  'e2scrub_all.timer',
  'e2scrub_reap.service',
  'fstrim.timer',
  'getty@tty1.service',
  'serial-getty@ttyS0.service',
  'systemd-journal-flush.service',
  'modprobe@drm.service',
  'modprobe@efi_pstore.service',
  'modprobe@fuse.service',
  'modprobe@loop.service',
  'modprobe@dm_mod.service',
];

/** Units of ours (files below) enabled in multi-user.target. */
export const ENABLED_UNITS = [
  'systemd-networkd.service',
  'testbed-shell.service',
  'testbed-boots.service',
  'testbed-net.service',
  'testbed-images.service',
  'testbed-run-images.service',
  'kubelet.service',
];

/**
 * Files written into the root filesystem. The per-run settings (API port, node name, labels, the
 * kubelet binary, credentials) come from the data disk at DATA_MOUNT, so one cached guest serves every run.
 */
export const FILES: Record<string, string> = {
  'etc/hostname': 'realnode\n',
  'etc/hosts': '127.0.0.1 localhost\n',
  // kubelet reads it for pods' DNS; the guest has no DNS (it reaches only the host's loopback).
  'etc/resolv.conf': '',
  'etc/fstab': `/dev/vdb ${DATA_MOUNT} ext4 ro,x-systemd.device-timeout=600s 0 0\n`,
  'etc/systemd/journald.conf.d/testbed.conf': '[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n',
  'etc/systemd/network/10-eth0.network': `[Match]\nName=eth0\n[Network]\nAddress=${GUEST_ADDRESS}/24\nGateway=10.0.2.2\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`,
  'etc/modules-load.d/testbed.conf': 'overlay\n',
  'etc/sysctl.d/90-testbed.conf': 'net.ipv4.ip_forward=1\n',
  'etc/containerd/config.toml': `version = 2
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
`,
  'etc/cni/net.d/10-testbed.conflist': `${JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'testbed',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: '10.244.0.0/24' }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
      ],
    },
    null,
    2,
  )}\n`,
  'etc/kubernetes/kubelet.yaml': `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
readOnlyPort: 0
failSwapOn: false
resolvConf: /etc/resolv.conf
serializeImagePulls: false
nodeStatusUpdateFrequency: 10s
# A small throwaway disk: no evictions for disk pressure.
evictionHard: {memory.available: "20Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`,
  // A shell on the second serial port, for the host (vm.ts): the test's hands inside the guest.
  // Fed by a pipe so bash is not interactive: no prompt, no echo, output only.
  'etc/systemd/system/testbed-shell.service': `[Unit]
Description=testbed control shell on ttyS1
DefaultDependencies=no
After=systemd-udevd.service
[Service]
ExecStart=/bin/sh -c 'stty -F /dev/ttyS1 raw -echo; cat /dev/ttyS1 | /bin/bash --noprofile --norc > /dev/ttyS1 2>&1'
Restart=always
RestartSec=1
[Install]
WantedBy=multi-user.target
`,
  // Every boot's ID, kept on the disk across reboots: the test counts the guest's real boots.
  'etc/systemd/system/testbed-boots.service': `[Unit]
Description=testbed: record this boot's ID
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'mkdir -p /var/lib/testbed && cat /proc/sys/kernel/random/boot_id >> /var/lib/testbed/boots'
[Install]
WantedBy=multi-user.target
`,
  // No kube-proxy: the one Service pods need is the API server's, sent to the host's loopback.
  'etc/systemd/system/testbed-net.service': `[Unit]
Description=testbed: the kubernetes Service to the host's API server
After=network.target ${mountUnit(DATA_MOUNT)}
RequiresMountsFor=${DATA_MOUNT}
[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=${DATA_MOUNT}/node.env
ExecStart=/usr/sbin/iptables -t nat -A PREROUTING -d ${SERVICE_IP}/32 -p tcp --dport 443 -j DNAT --to-destination ${HOST_ADDRESS}:\${API_PORT}
ExecStart=/usr/sbin/iptables -t nat -A OUTPUT -d ${SERVICE_IP}/32 -p tcp --dport 443 -j DNAT --to-destination ${HOST_ADDRESS}:\${API_PORT}
[Install]
WantedBy=multi-user.target
`,
  // Nothing is pulled from a registry: images are imported from files, once per disk. The guest's
  // own (pause, busybox) before the kubelet starts; the run's (the agent's, large) beside it.
  'etc/systemd/system/testbed-images.service': `[Unit]
Description=testbed: import the guest's own images into containerd
After=containerd.service
Requires=containerd.service
Before=kubelet.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/testbed-import-images /usr/share/testbed/images
[Install]
WantedBy=multi-user.target
`,
  'etc/systemd/system/testbed-run-images.service': `[Unit]
Description=testbed: import the run's images into containerd
After=containerd.service ${mountUnit(DATA_MOUNT)}
Requires=containerd.service
RequiresMountsFor=${DATA_MOUNT}
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/testbed-import-images ${DATA_MOUNT}/images
[Install]
WantedBy=multi-user.target
`,
  'usr/local/sbin/testbed-import-images': `#!/bin/sh
# Imports every image archive not imported yet (a stamp per archive name and size).
set -u
mkdir -p /var/lib/testbed/imported
for f in "$1"/*.tar; do
  [ -f "$f" ] || continue
  stamp=/var/lib/testbed/imported/$(basename "$f").$(stat -c %s "$f")
  [ -e "$stamp" ] && continue
  echo "testbed: importing $f"
  ctr -n k8s.io images import --no-unpack "$f" && touch "$stamp"
done
`,
  'etc/systemd/system/kubelet.service': `[Unit]
Description=kubelet
After=containerd.service testbed-images.service testbed-net.service ${mountUnit(DATA_MOUNT)} network-online.target
Wants=containerd.service
RequiresMountsFor=${DATA_MOUNT}
ConditionPathExists=${DATA_MOUNT}/kubelet
[Service]
EnvironmentFile=${DATA_MOUNT}/node.env
ExecStart=${DATA_MOUNT}/kubelet --config=/etc/kubernetes/kubelet.yaml --kubeconfig=${DATA_MOUNT}/kubeconfig --hostname-override=\${NODE_NAME} --node-labels=\${NODE_LABELS} --node-ip=${GUEST_ADDRESS} --v=1
Restart=always
RestartSec=2
[Install]
WantedBy=multi-user.target
`,
};

/** The systemd mount unit name of an absolute path (/mnt/testbed -> mnt-testbed.mount). */
function mountUnit(p: string): string {
  return `${p.replace(/^\//, '').replaceAll('/', '-')}.mount`;
}

/**
 * Written before the kernel package installs (mmdebstrap's essential hook), so its initrd is made
 * once, with only the virtio disk's modules: 36 MB -> 6 MB, seconds off every boot under TCG.
 * A hook script rather than initramfs-tools' own `modules` file: that one is a conffile of the package.
 */
export const EARLY_FILES: Record<string, string> = {
  'etc/initramfs-tools/conf.d/testbed': 'MODULES=list\nCOMPRESS=gzip\n',
  'etc/initramfs-tools/hooks/testbed-virtio': `#!/bin/sh
[ "$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
manual_add_modules virtio_pci virtio_blk
`,
};

/** Executable files among FILES and EARLY_FILES. */
export const EXECUTABLES = new Set([
  'usr/local/sbin/testbed-import-images',
  'etc/initramfs-tools/hooks/testbed-virtio',
]);
