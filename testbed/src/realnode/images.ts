/**
 * The pause image and a small workload image for the real node, made of Debian's busybox-static
 * binary (taken from the guest's own root filesystem): nothing is pulled from a registry. Written
 * as one OCI archive that `ctr images import` loads with both names.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BUSYBOX_IMAGE, PAUSE_IMAGE } from './recipe.ts';

const EPOCH = '@0';

interface Blob {
  mediaType: string;
  digest: string;
  size: number;
}

/** Writes `<out>` (an OCI image-layout tar) holding PAUSE_IMAGE and BUSYBOX_IMAGE. */
export function writeBusyboxImages(busybox: string, out: string, work: string): void {
  const layout = path.join(work, 'layout');
  const root = path.join(work, 'root');
  fs.mkdirSync(path.join(layout, 'blobs', 'sha256'), { recursive: true });
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  for (const d of ['tmp', 'proc', 'sys', 'dev', 'etc', 'var/run'])
    fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.copyFileSync(busybox, path.join(root, 'bin', 'busybox'));
  fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') fs.symlinkSync('busybox', path.join(root, 'bin', a));
  fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');

  const layerTar = path.join(work, 'layer.tar');
  execFileSync('tar', [
    '--create',
    `--file=${layerTar}`,
    `--directory=${root}`,
    '--sort=name',
    `--mtime=${EPOCH}`,
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '.',
  ]);
  const layer = addBlob(layout, 'application/vnd.oci.image.layer.v1.tar', fs.readFileSync(layerTar));
  fs.rmSync(layerTar);

  const manifests = [
    // The sandbox container: kubelet's CRI stops it with SIGKILL, so a plain sleep does.
    { name: PAUSE_IMAGE, cmd: ['/bin/sleep', '2147483647'] },
    { name: BUSYBOX_IMAGE, cmd: ['/bin/sh'] },
  ].map(({ name, cmd }) => {
    const config = addJson(layout, 'application/vnd.oci.image.config.v1+json', {
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: cmd, Env: ['PATH=/bin'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    });
    const manifest = addJson(layout, 'application/vnd.oci.image.manifest.v1+json', {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config,
      layers: [layer],
    });
    return {
      ...manifest,
      platform: { architecture: 'amd64', os: 'linux' },
      // containerd names an imported image after this annotation.
      annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name },
    };
  });
  fs.writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
  execFileSync('tar', ['--create', `--file=${out}`, `--directory=${layout}`, '--sort=name', '.']);
  fs.rmSync(work, { recursive: true, force: true });
}

function addJson(layout: string, mediaType: string, value: unknown): Blob {
  return addBlob(layout, mediaType, Buffer.from(JSON.stringify(value)));
}

function addBlob(layout: string, mediaType: string, bytes: Buffer): Blob {
  const hex = createHash('sha256').update(bytes).digest('hex');
  fs.writeFileSync(path.join(layout, 'blobs', 'sha256', hex), bytes);
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
}
