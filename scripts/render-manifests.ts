/**
 * Renders deploy/manifests/ (plain manifests for users without Helm) from the Helm chart, and
 * copies deploy/monitoring's dashboard and alert rules into the chart (Helm cannot read files
 * outside the chart directory). Run after changing the chart: `node scripts/render-manifests.ts`.
 * test/unit/deploy/chart.test.ts fails when the committed output is stale.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..');
export const CHART_DIR = path.join(REPO_ROOT, 'deploy', 'helm', 'kured-ts');
export const MANIFESTS_DIR = path.join(REPO_ROOT, 'deploy', 'manifests');
const MONITORING_DIR = path.join(REPO_ROOT, 'deploy', 'monitoring');
const HELM_TOOLS_DIR = path.join(REPO_ROOT, 'testbed', 'tools', 'helm');

/** deploy/monitoring file -> its copy inside the chart. */
export const MONITORING_COPIES: Record<string, string> = {
  'grafana-dashboard.json': 'files/grafana-dashboard.json',
  'prometheusrule.yaml': 'files/prometheusrule.yaml',
};

/** Plain manifests: the namespace kured's own manifests use, so the lock lives where people look. */
const MANIFEST_NAMESPACE = 'kube-system';

export const VARIANTS = [
  { file: 'kured-ts.yaml', valuesFiles: [] as string[], what: 'command reboot method (hostPID, privileged)' },
  {
    file: 'kured-ts-signal.yaml',
    valuesFiles: [path.join(CHART_DIR, 'ci', 'signal-values.yaml')],
    what: 'signal reboot method (hostPID, only CAP_KILL)',
  },
];

/**
 * The helm binary: the testbed's cached build if there is one, else helm alone built from
 * testbed/tools/helm (the pinned Go module) into a cache keyed by that module's go.sum.
 */
export async function helmBinary(): Promise<string> {
  const testbedBuild = path.join(REPO_ROOT, 'testbed', 'src', 'build.ts');
  if (fs.existsSync(testbedBuild)) {
    const { cachedBinaries } = (await import(testbedBuild)) as {
      cachedBinaries?: () => { helm: string } | undefined;
    };
    const cached = cachedBinaries?.();
    if (cached && fs.existsSync(cached.helm)) return cached.helm;
  }
  const sum = createHash('sha256')
    .update(fs.readFileSync(path.join(HELM_TOOLS_DIR, 'go.mod')))
    .update(fs.readFileSync(path.join(HELM_TOOLS_DIR, 'go.sum')))
    .digest('hex')
    .slice(0, 16);
  const cacheBase = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const helm = path.join(cacheBase, 'kured-ts', 'helm', sum, 'helm');
  if (fs.existsSync(helm)) return helm;
  process.stderr.write('helm: building helm from testbed/tools/helm (first run only, ~3 min)\n');
  const tmp = `${helm}.${process.pid}.tmp`;
  fs.mkdirSync(path.dirname(helm), { recursive: true });
  try {
    execFileSync('go', ['build', '-o', tmp, 'helm.sh/helm/v3/cmd/helm'], {
      cwd: HELM_TOOLS_DIR,
      env: { ...process.env, CGO_ENABLED: '0' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('helm: the Go toolchain is needed once to build helm, and `go` is not on PATH');
    }
    throw err;
  }
  fs.renameSync(tmp, helm);
  return helm;
}

/** `helm template`, returning stdout; throws with helm's own message on failure. */
export function helmTemplate(helm: string, args: string[]): string {
  return execFileSync(helm, ['template', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The plain manifest of one variant, exactly as committed in deploy/manifests. */
export function renderVariant(helm: string, variant: (typeof VARIANTS)[number]): string {
  const rendered = helmTemplate(helm, [
    'kured-ts',
    CHART_DIR,
    '--namespace',
    MANIFEST_NAMESPACE,
    ...variant.valuesFiles.flatMap((f) => ['-f', f]),
  ]);
  // Helm's bookkeeping labels would claim these objects belong to a Helm release.
  const plain = rendered
    .split('\n')
    .filter((line) => !/^\s*(app\.kubernetes\.io\/managed-by: Helm|helm\.sh\/chart: .*)$/.test(line))
    .join('\n');
  return [
    `# kured-ts: ${variant.what}`,
    '# Generated from deploy/helm/kured-ts by scripts/render-manifests.ts; do not edit.',
    `# Install: kubectl apply -f ${variant.file}`,
    plain.trimStart(),
  ].join('\n');
}

/** Copies deploy/monitoring files into the chart; returns the ones that exist upstream. */
export function syncMonitoringCopies(): string[] {
  const copied: string[] = [];
  for (const [source, copy] of Object.entries(MONITORING_COPIES)) {
    const from = path.join(MONITORING_DIR, source);
    if (!fs.existsSync(from)) continue;
    const to = path.join(CHART_DIR, copy);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
    copied.push(source);
  }
  return copied;
}

async function main(): Promise<void> {
  const copied = syncMonitoringCopies();
  const helm = await helmBinary();
  fs.mkdirSync(MANIFESTS_DIR, { recursive: true });
  for (const variant of VARIANTS) {
    fs.writeFileSync(path.join(MANIFESTS_DIR, variant.file), renderVariant(helm, variant));
    process.stdout.write(`wrote deploy/manifests/${variant.file}\n`);
  }
  for (const file of copied) process.stdout.write(`copied deploy/monitoring/${file} into the chart\n`);
}

if (import.meta.main) await main();
