/** Renders the chart with the project's helm and parses the output, for the deploy tests. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR, REPO_ROOT } from '../../../scripts/render-manifests.ts';

export { CHART_DIR };

// Kubernetes objects are open-ended; tests read them by path.
// biome-ignore lint/suspicious/noExplicitAny: rendered YAML has no static type
export type Obj = any;

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function helm(bin: string, args: string[]): HelmResult {
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template kured-ts <chart> <args>`; fails the test with helm's message if it fails. */
export function render(bin: string, args: string[] = []): Obj[] {
  const r = helm(bin, ['template', 'kured-ts', CHART_DIR, '--namespace', 'kured-ts', ...args]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseObjects(r.stdout);
}

/** The objects of a multi-document YAML stream (helm's `---` separated output). */
export function parseObjects(stream: string): Obj[] {
  return parseAllDocuments(stream)
    .map((d) => d.toJS())
    .filter((o) => o);
}

export function find(objs: Obj[], kind: string, name?: string): Obj {
  const found = objs.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (!found) throw new Error(`no ${kind}${name ? ` ${name}` : ''} in the rendered chart`);
  return found;
}

export function agentContainer(objs: Obj[]): Obj {
  return find(objs, 'DaemonSet').spec.template.spec.containers[0];
}

/** The `helm install kured-ts deploy/helm/kured-ts ...` line of docs/install.md, as users copy it. */
export function docsInstallCommand(): string {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'install.md'), 'utf8');
  const command = doc.split('\n').find((l) => l.startsWith('helm install kured-ts deploy/helm/kured-ts '));
  if (!command)
    throw new Error('docs/install.md has no `helm install kured-ts deploy/helm/kured-ts ...` line');
  return command;
}

/** Runs a docs command line with bash, from the repository root, `helm` being `bin`. */
export function runAsWritten(bin: string, command: string, env: Record<string, string> = {}): HelmResult {
  const r = spawnSync('bash', ['-c', command.replace(/^helm /, '"$HELM" ')], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, HELM: bin },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
