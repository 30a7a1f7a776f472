/**
 * The image's root filesystem from Debian's packages: mmdebstrap --variant=extract unpacks them
 * (no maintainer scripts run, so a foreign architecture needs no emulator), then everything that
 * is not a kept file of a kept package (spec.ts KEEP) is removed.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { APP_USER, type Arch, DROP, KEEP, SUITE } from './spec.ts';

/** Debian's mirror as this machine's apt is configured (the only one these machines reach). */
const SOURCES = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'];

export interface Package {
  name: string;
  version: string;
  architecture: string;
  source: string;
}

/** Builds the root filesystem of `arch` in `dir`; returns the packages it holds files of. */
export function buildRootfs(dir: string, arch: Arch, epoch: number, log: (l: string) => void): Package[] {
  const sources = SOURCES.find((s) => exists(s));
  execFileSync(
    'mmdebstrap',
    [
      '--quiet',
      '--mode=root',
      '--variant=extract',
      `--architectures=${arch}`,
      `--include=${Object.keys(KEEP).join(',')}`,
      // The .deb files stay until their file lists are read below.
      '--skip=cleanup/apt/cache',
      SUITE,
      dir,
      ...(sources ? [sources] : []),
    ],
    { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) } },
  );
  const archives = join(dir, 'var/cache/apt/archives');
  const debs = readdirSync(archives)
    .filter((f) => f.endsWith('.deb'))
    .map((f) => join(archives, f));
  const alias = usrMergeAliases(dir);
  const keep = new Set<string>();
  const packages: Package[] = [];
  for (const deb of debs) {
    const field = (name: string) =>
      execFileSync('dpkg-deb', ['--field', deb, name], { encoding: 'utf8' }).trim();
    const name = field('Package');
    const wanted = KEEP[name];
    if (!wanted) continue;
    packages.push({
      name,
      version: field('Version'),
      architecture: field('Architecture'),
      // "Source: glibc (2.36-9)" names the source package, and its version when it differs.
      source: field('Source').split(' ')[0] || name,
    });
    for (const file of debFiles(deb)) {
      const f = alias(file);
      if (wanted(f) && !DROP.test(f)) keep.add(f);
    }
  }
  const missing = Object.keys(KEEP).filter((k) => !packages.some((p) => p.name === k));
  if (missing.length) throw new Error(`mmdebstrap did not download ${missing.join(', ')}`);
  const removed = prune(dir, '', keep);
  log(`rootfs ${arch}: kept ${keep.size} files of ${packages.length} packages, removed ${removed}`);
  finish(dir, packages);
  return packages.sort((a, b) => a.name.localeCompare(b.name));
}

/** Paths inside a .deb, without the leading "./" and without directories. */
function debFiles(deb: string): string[] {
  const tar = execFileSync('dpkg-deb', ['--fsys-tarfile', deb], { maxBuffer: 1 << 30 });
  return execFileSync('tar', ['-t'], { input: tar, encoding: 'utf8', maxBuffer: 1 << 28 })
    .split('\n')
    .filter((l) => l && !l.endsWith('/'))
    .map((l) => l.replace(/^\.\//, ''));
}

/** mmdebstrap merges /usr: top-level lib, bin, sbin... are symlinks into usr/. */
function usrMergeAliases(dir: string): (file: string) => string {
  const links = new Map<string, string>();
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (lstatSync(p).isSymbolicLink()) links.set(entry, readlinkSync(p).replace(/^\//, ''));
  }
  return (file) => {
    const [top, ...rest] = file.split('/');
    const target = links.get(top!);
    return target && rest.length ? [target, ...rest].join('/') : file;
  };
}

/** Removes every file not in `keep` (merged-/usr symlinks at the top stay), then empty directories. */
function prune(root: string, rel: string, keep: Set<string>): number {
  let removed = 0;
  for (const entry of readdirSync(join(root, rel))) {
    const r = rel ? `${rel}/${entry}` : entry;
    const st = lstatSync(join(root, r));
    if (st.isDirectory()) {
      removed += prune(root, r, keep);
      if (readdirSync(join(root, r)).length === 0) rmdirSync(join(root, r));
    } else if (!(keep.has(r) || (rel === '' && st.isSymbolicLink()))) {
      rmSync(join(root, r));
      removed++;
    }
  }
  return removed;
}

/** What a container needs besides the packages: users, /tmp, and a record of the packages for scanners. */
function finish(dir: string, packages: Package[]): void {
  const { uid, gid, name } = APP_USER;
  mkdirSync(join(dir, 'etc'), { recursive: true });
  writeFileSync(
    join(dir, 'etc/passwd'),
    `root:x:0:0:root:/root:/sbin/nologin\n${name}:x:${uid}:${gid}:${name}:/nonexistent:/sbin/nologin\n`,
  );
  writeFileSync(join(dir, 'etc/group'), `root:x:0:\n${name}:x:${gid}:\n`);
  for (const d of ['tmp', 'dev', 'proc', 'sys', 'root']) mkdirSync(join(dir, d), { recursive: true });
  execFileSync('chmod', ['1777', join(dir, 'tmp')]);
  execFileSync('chmod', ['0700', join(dir, 'root')]);
  // The distroless convention: one dpkg status file per package, read by image scanners.
  const status = join(dir, 'var/lib/dpkg/status.d');
  mkdirSync(status, { recursive: true });
  for (const p of packages) {
    const source = p.source === p.name ? '' : `Source: ${p.source}\n`;
    const fields = `Package: ${p.name}\n${source}Version: ${p.version}\nArchitecture: ${p.architecture}\n`;
    writeFileSync(join(status, p.name), `${fields}Status: install ok installed\n`);
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
