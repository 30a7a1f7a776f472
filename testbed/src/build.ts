import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TestbedError } from './errors.ts';
import { cacheRoot, TOOLS_DIR } from './paths.ts';

/** Paths of the built control-plane binaries and the kwok stage config. */
export interface Binaries {
  dir: string;
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kwok: string;
  helm: string;
  /** kwok v0.8 ships no default stages: these are its node/pod "fast" stages, copied at build time. */
  kwokStages: string;
}

/** One `go build` invocation: every binary of a tool module at once, so they share compilation and overlap links. */
interface BuildGroup {
  module: 'kube' | 'kwok' | 'helm';
  /** Binary name -> Go package. */
  binaries: Record<string, string>;
  /** Cold build time on 2 cores, shown in the progress line. */
  estimate: string;
  stampKubeVersion?: boolean;
}

const GROUPS: BuildGroup[] = [
  {
    module: 'kube',
    binaries: {
      'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
      'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
      'kube-scheduler': 'k8s.io/kubernetes/cmd/kube-scheduler',
      etcd: 'go.etcd.io/etcd/server/v3',
    },
    estimate: '~6 min',
    stampKubeVersion: true,
  },
  { module: 'kwok', binaries: { kwok: 'sigs.k8s.io/kwok/cmd/kwok' }, estimate: '~2.5 min' },
  { module: 'helm', binaries: { helm: 'helm.sh/helm/v3/cmd/helm' }, estimate: '~1.5 min' },
];

/** Bump when the build recipe changes in a way the go.mod/go.sum hash cannot see. */
const RECIPE_VERSION = '2';

/** Stage files of the kwok module that make nodes Ready with heartbeats and act as the kubelet for pods. */
const KWOK_STAGE_FILES = [
  'kustomize/stage/node/fast/node-initialize.yaml',
  'kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  'kustomize/stage/pod/fast/pod-ready.yaml',
  'kustomize/stage/pod/fast/pod-complete.yaml',
  'kustomize/stage/pod/fast/pod-delete.yaml',
];

const MODULES = ['kube', 'kwok', 'helm'] as const;

/** Key of the binary cache: changes whenever a pinned version (go.mod/go.sum) changes. */
export function toolsHash(): string {
  const hash = createHash('sha256').update(`recipe ${RECIPE_VERSION}\n`);
  for (const mod of MODULES) {
    for (const file of ['go.mod', 'go.sum']) {
      hash.update(`${mod}/${file}\n`).update(fs.readFileSync(path.join(TOOLS_DIR, mod, file)));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

function binariesIn(dir: string): Binaries {
  const bin = (name: string) => path.join(dir, 'bin', name);
  return {
    dir,
    etcd: bin('etcd'),
    kubeApiserver: bin('kube-apiserver'),
    kubeControllerManager: bin('kube-controller-manager'),
    kubeScheduler: bin('kube-scheduler'),
    kwok: bin('kwok'),
    helm: bin('helm'),
    kwokStages: path.join(dir, 'kwok-stages.yaml'),
  };
}

function isComplete(b: Binaries): boolean {
  return [
    b.etcd,
    b.kubeApiserver,
    b.kubeControllerManager,
    b.kubeScheduler,
    b.kwok,
    b.helm,
    b.kwokStages,
  ].every((f) => fs.existsSync(f));
}

/** The cached binaries if they were built already, without building. */
export function cachedBinaries(): Binaries | undefined {
  const b = binariesIn(path.join(cacheRoot(), toolsHash()));
  return isComplete(b) ? b : undefined;
}

/**
 * Returns the testbed binaries, building them from the committed Go tool modules on first use.
 * The build goes to a temp dir renamed into place, so an interrupted build never leaves a half cache.
 */
export async function ensureBinaries(log: (line: string) => void = stderrLine): Promise<Binaries> {
  const cached = cachedBinaries();
  if (cached) return cached;

  const goVersion = await checkGo();
  const target = path.join(cacheRoot(), toolsHash());
  fs.mkdirSync(cacheRoot(), { recursive: true });
  const staging = fs.mkdtempSync(path.join(cacheRoot(), '.build-'));
  const started = Date.now();
  try {
    const staged = binariesIn(staging);
    fs.mkdirSync(path.join(staging, 'bin'));
    // Static binaries: no C toolchain needed, and they run anywhere.
    const env = { ...process.env, CGO_ENABLED: '0' };
    for (const [i, group] of GROUPS.entries()) {
      const names = Object.keys(group.binaries).join(', ');
      log(
        `testbed: building ${names} (${i + 1}/${GROUPS.length}) with ${goVersion} ... (first run only, ${group.estimate})`,
      );
      const t0 = Date.now();
      await goBuild(group, path.join(staging, 'bin'), env);
      log(`testbed: built ${names} in ${seconds(Date.now() - t0)}`);
    }
    await writeKwokStages(staged.kwokStages);
    fs.writeFileSync(
      path.join(staging, 'build.json'),
      `${JSON.stringify({ builtAt: new Date().toISOString(), goVersion, seconds: (Date.now() - started) / 1000 }, null, 2)}\n`,
    );
    // A cache dir with a binary missing (deleted by hand) is replaced.
    if (fs.existsSync(target) && !isComplete(binariesIn(target)))
      fs.rmSync(target, { recursive: true, force: true });
    try {
      fs.renameSync(staging, target);
    } catch (err) {
      // Another process finished the same build first: keep theirs.
      if (!isComplete(binariesIn(target))) throw err;
      fs.rmSync(staging, { recursive: true, force: true });
    }
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  log(`testbed: binaries built in ${seconds(Date.now() - started)}, cached in ${target}`);
  return binariesIn(target);
}

function stderrLine(line: string): void {
  process.stderr.write(`${line}\n`);
}

function seconds(ms: number): string {
  return ms >= 120_000
    ? `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`
    : `${(ms / 1000).toFixed(1)}s`;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function checkGo(): Promise<string> {
  try {
    const r = await run('go', ['version']);
    if (r.code !== 0) throw new TestbedError(`testbed: \`go version\` failed: ${firstLine(r.stderr)}`);
    return r.stdout.split(' ')[2] ?? 'go';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new TestbedError(
        'testbed: the Go toolchain (go >= 1.26) is needed once to build the control plane, and `go` is not on PATH; install it from https://go.dev/dl/ or your package manager',
      );
    }
    throw err;
  }
}

export function kubeVersionLdflags(): string {
  const gomod = fs.readFileSync(path.join(TOOLS_DIR, 'kube', 'go.mod'), 'utf8');
  const version = /\bk8s\.io\/kubernetes (v\d+\.(\d+)\.\d+)/.exec(gomod);
  if (!version)
    throw new TestbedError('testbed: testbed/tools/kube/go.mod does not require k8s.io/kubernetes');
  // Without these, `--version` says v0.0.0-master and version-sniffing tools misjudge the binaries.
  const pkg = 'k8s.io/component-base/version';
  return [
    `-X ${pkg}.gitVersion=${version[1]}`,
    `-X ${pkg}.gitMajor=1`,
    `-X ${pkg}.gitMinor=${version[2]}`,
    `-X ${pkg}.gitTreeState=clean`,
  ].join(' ');
}

async function goBuild(group: BuildGroup, binDir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const ldflags = `-s -w${group.stampKubeVersion ? ` ${kubeVersionLdflags()}` : ''}`;
  const names = Object.keys(group.binaries).join(', ');
  // `-o dir/` names each binary after its package's last element (etcd's `server/v3` gives `server`).
  const out = fs.mkdtempSync(path.join(binDir, '.go-build-'));
  try {
    const r = await run(
      'go',
      ['build', '-trimpath', `-ldflags=${ldflags}`, '-o', `${out}/`, ...Object.values(group.binaries)],
      { cwd: path.join(TOOLS_DIR, group.module), env },
    );
    if (r.code !== 0) throw buildError(names, r.stderr);
    for (const [name, pkg] of Object.entries(group.binaries))
      fs.renameSync(path.join(out, goExecName(pkg)), path.join(binDir, name));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

/** The file name `go build -o dir/` gives a main package: its last path element, skipping a major-version suffix. */
function goExecName(pkg: string): string {
  const parts = pkg.split('/');
  const last = parts.at(-1) ?? pkg;
  return /^v\d+$/.test(last) && parts.length > 1 ? (parts.at(-2) ?? last) : last;
}

const NETWORK_ERROR =
  /dial tcp|no such host|connection refused|i\/o timeout|TLS handshake timeout|network is unreachable|proxy\.golang\.org|GOPROXY|unexpected EOF|403 Forbidden|404 Not Found|verifying module/;

function buildError(name: string, stderr: string): TestbedError {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  // First: an old Go that cannot fetch the toolchain the modules ask for also looks like a network error.
  const toolchain = lines.find((l) => /toolchain|requires go >=/.test(l));
  if (toolchain) {
    return new TestbedError(
      `testbed: Go toolchain too old to build ${name}: ${toolchain.trim()}; install go >= 1.26`,
    );
  }
  const network = lines.find((l) => NETWORK_ERROR.test(l));
  if (network) {
    const proxy = process.env.GOPROXY ?? 'https://proxy.golang.org (default)';
    return new TestbedError(
      `testbed: cannot download the Go modules for ${name}: the module proxy (GOPROXY=${proxy}) is unreachable or refused: ${network.trim()}; allow access to it, or point GOPROXY at a reachable proxy`,
    );
  }
  return new TestbedError(`testbed: building ${name} failed: ${lines.slice(-3).join(' | ')}`);
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim() !== '') ?? '';
}

async function writeKwokStages(out: string): Promise<void> {
  const r = await run('go', ['list', '-m', '-f', '{{.Dir}}', 'sigs.k8s.io/kwok'], {
    cwd: path.join(TOOLS_DIR, 'kwok'),
  });
  const dir = r.stdout.trim();
  if (r.code !== 0 || !dir) throw buildError('kwok stages', r.stderr);
  const docs = KWOK_STAGE_FILES.map((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim());
  fs.writeFileSync(out, `${docs.join('\n---\n')}\n`);
}
