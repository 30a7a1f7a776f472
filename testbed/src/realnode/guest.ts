/**
 * The real node's guest: a Debian root filesystem from mmdebstrap (recipe.ts) in an ext4 disk
 * image, with the kernel and initrd beside it for qemu's -kernel/-initrd. Built once and cached in
 * `<cacheRoot>/guest-<hash of the recipe>/`; the build goes to a temp dir renamed into place, so an
 * interrupted build never leaves a half cache. Runs use the disk with snapshot=on: it stays pristine.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TestbedError } from '../errors.ts';
import { cacheRoot } from '../paths.ts';
import { writeBusyboxImages } from './images.ts';
import {
  BUSYBOX_IMAGE,
  EARLY_FILES,
  ENABLED_UNITS,
  EXECUTABLES,
  FILES,
  KERNEL_CMDLINE,
  MASKED_UNITS,
  PACKAGES,
  PAUSE_IMAGE,
  SUITE,
} from './recipe.ts';

export interface Guest {
  dir: string;
  disk: string;
  kernel: string;
  initrd: string;
}

/** The disk's size; sparse, so only what is written takes space (~600 MB). Room for the agent's image. */
const DISK_SIZE = '4G';
const SOURCES = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'];
/** Bump when this file's or images.ts's way of building changes in a way the recipe's data cannot show. */
const BUILD_VERSION = 1;

/** The cache key: the recipe's data (not its source text, so reformatting the code rebuilds nothing). */
export function guestKey(): string {
  const recipe = {
    BUILD_VERSION,
    SUITE,
    PACKAGES,
    FILES,
    EARLY_FILES,
    MASKED_UNITS,
    ENABLED_UNITS,
    EXECUTABLES: [...EXECUTABLES],
    KERNEL_CMDLINE,
    DISK_SIZE,
    images: [PAUSE_IMAGE, BUSYBOX_IMAGE],
  };
  return createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 16);
}

function guestIn(dir: string): Guest {
  return {
    dir,
    disk: path.join(dir, 'disk.img'),
    kernel: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initrd.img'),
  };
}

function isComplete(g: Guest): boolean {
  return [g.disk, g.kernel, g.initrd, path.join(g.dir, 'build.json')].every((f) => fs.existsSync(f));
}

export function cachedGuest(): Guest | undefined {
  const g = guestIn(path.join(cacheRoot(), `guest-${guestKey()}`));
  return isComplete(g) ? g : undefined;
}

/** The cached guest, built first if needed (~4 min on 2 cores). Needs root (mmdebstrap --mode=root). */
export async function ensureGuest(log: (line: string) => void): Promise<Guest> {
  const cached = cachedGuest();
  if (cached) return cached;
  requireTool('mmdebstrap', 'mmdebstrap');
  requireTool('mkfs.ext4', 'e2fsprogs');
  if (process.getuid?.() !== 0)
    throw new TestbedError(
      "testbed: building the real node's guest needs root (mmdebstrap --mode=root); run as root",
    );

  const target = path.join(cacheRoot(), `guest-${guestKey()}`);
  fs.mkdirSync(cacheRoot(), { recursive: true });
  const staging = fs.mkdtempSync(path.join(cacheRoot(), '.guest-build-'));
  const started = Date.now();
  const buildLog = path.join(staging, 'build.log');
  try {
    const rootfs = path.join(staging, 'rootfs');
    const early = path.join(staging, 'early');
    writeFiles(early, EARLY_FILES);
    log(`testbed: building the real node's guest (Debian ${SUITE}, mmdebstrap) ... (first run only, ~4 min)`);
    const sources = SOURCES.find((s) => fs.existsSync(s));
    await runLogged(
      'mmdebstrap',
      [
        '--mode=root',
        '--variant=minbase',
        `--include=${PACKAGES.join(',')}`,
        `--essential-hook=sync-in ${early} /`,
        '--dpkgopt=path-exclude=/usr/share/man/*',
        '--dpkgopt=path-exclude=/usr/share/doc/*',
        '--dpkgopt=path-exclude=/usr/share/locale/*',
        '--dpkgopt=path-exclude=/usr/share/info/*',
        SUITE,
        rootfs,
        ...(sources ? [sources] : []),
      ],
      buildLog,
    );
    configure(rootfs);
    const boot = path.join(rootfs, 'boot');
    const pick = (prefix: string) => {
      const f = fs.readdirSync(boot).find((n) => n.startsWith(prefix));
      if (!f) throw new TestbedError(`testbed: the guest build made no /boot/${prefix}* (see ${buildLog})`);
      return path.join(boot, f);
    };
    fs.copyFileSync(pick('vmlinuz-'), path.join(staging, 'vmlinuz'));
    fs.copyFileSync(pick('initrd.img-'), path.join(staging, 'initrd.img'));
    const images = path.join(rootfs, 'usr/share/testbed/images');
    fs.mkdirSync(images, { recursive: true });
    writeBusyboxImages(
      path.join(rootfs, 'bin/busybox'),
      path.join(images, 'busybox.tar'),
      path.join(staging, 'img'),
    );

    const disk = path.join(staging, 'disk.img');
    fs.closeSync(fs.openSync(disk, 'w'));
    await runLogged('mkfs.ext4', ['-q', '-F', '-L', 'root', '-d', rootfs, disk, DISK_SIZE], buildLog);
    fs.rmSync(rootfs, { recursive: true, force: true });
    fs.rmSync(early, { recursive: true, force: true });
    const seconds = (Date.now() - started) / 1000;
    fs.writeFileSync(
      path.join(staging, 'build.json'),
      `${JSON.stringify({ builtAt: new Date().toISOString(), seconds, packages: PACKAGES }, null, 2)}\n`,
    );
    if (fs.existsSync(target)) fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(staging, target);
    log(`testbed: guest built in ${seconds.toFixed(0)}s, cached in ${target}`);
  } catch (err) {
    const tail = logLines(buildLog, 3);
    fs.rmSync(staging, { recursive: true, force: true });
    if (err instanceof TestbedError) throw err;
    throw new TestbedError(
      `testbed: building the real node's guest failed: ${(err as Error).message}${tail ? `; last lines: ${tail}` : ''}`,
    );
  }
  return guestIn(target);
}

/** The files, masks, enabled units and machine-id of the recipe, written into the root filesystem. */
function configure(rootfs: string): void {
  writeFiles(rootfs, FILES);
  const units = path.join(rootfs, 'etc/systemd/system');
  for (const u of MASKED_UNITS) {
    fs.rmSync(path.join(units, u), { force: true });
    fs.symlinkSync('/dev/null', path.join(units, u));
  }
  const wants = path.join(units, 'multi-user.target.wants');
  fs.mkdirSync(wants, { recursive: true });
  for (const u of ENABLED_UNITS) {
    const file = fs.existsSync(path.join(units, u)) ? `/etc/systemd/system/${u}` : `/lib/systemd/system/${u}`;
    fs.rmSync(path.join(wants, u), { force: true });
    fs.symlinkSync(file, path.join(wants, u));
  }
  // mmdebstrap leaves it empty: the guest would get a new machine ID at every boot.
  fs.writeFileSync(path.join(rootfs, 'etc/machine-id'), `${randomBytes(16).toString('hex')}\n`);
  fs.mkdirSync(path.join(rootfs, 'mnt/testbed'), { recursive: true });
}

function writeFiles(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.rmSync(p, { force: true });
    fs.writeFileSync(p, text, { mode: EXECUTABLES.has(rel) ? 0o755 : 0o644 });
  }
}

/** One clear line naming the missing tool and how to install it (make realnode-tools does it). */
export function requireTool(cmd: string, pkg: string): void {
  const r = spawnSync('/bin/sh', ['-c', `command -v ${cmd}`]);
  if (r.status !== 0)
    throw new TestbedError(
      `testbed: the real node needs \`${cmd}\`, which is not on PATH; install it with \`make realnode-tools\` (apt-get install ${pkg})`,
    );
}

function runLogged(cmd: string, args: string[], logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(logFile, 'a');
    fs.writeSync(out, `$ ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, args, { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${signal ?? code}`)),
    );
  });
}

function logLines(file: string, n: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join(' | ');
  } catch {
    return '';
  }
}
