/** Renders the chart with the project's helm and parses the output, for the deploy tests. */
import { spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR } from '../../../scripts/render-manifests.ts';

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
