/**
 * The chart as released: a copy of deploy/helm/kured-ts with the annotations only a release knows
 * (artifacthub.io/changes from the CHANGELOG's section of this version, artifacthub.io/signKey from
 * the key that signs it), packaged by `helm package` with its version and appVersion and, given a
 * PGP key, signed (the .prov provenance file beside the .tgz, which `helm push` sends along).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { REPO_ROOT, SOURCE_URL } from '../image/spec.ts';
import { CHART_DIR } from '../render-manifests.ts';

/** Keep a Changelog's headings -> Artifact Hub's kinds of change. */
const KINDS: Record<string, string> = {
  Added: 'added',
  Changed: 'changed',
  Deprecated: 'deprecated',
  Removed: 'removed',
  Fixed: 'fixed',
  Security: 'security',
};

export interface Change {
  kind: string;
  description: string;
}

/** The CHANGELOG's entries of `version`, as Artifact Hub's artifacthub.io/changes list. */
export function changesOf(
  version: string,
  changelog = readFileSync(join(REPO_ROOT, 'CHANGELOG.md'), 'utf8'),
): Change[] {
  const start = changelog.search(new RegExp(`^## \\[${version.replaceAll('.', '\\.')}\\]`, 'm'));
  if (start < 0) throw new Error(`release: CHANGELOG.md has no "## [${version}]" section; write it first`);
  const rest = changelog.slice(start).split('\n').slice(1);
  const end = rest.findIndex((l) => l.startsWith('## ') || /^\[[^\]]+\]: /.test(l));
  const changes: Change[] = [];
  let kind = '';
  for (const line of end < 0 ? rest : rest.slice(0, end)) {
    const heading = /^### (\w+)/.exec(line);
    if (heading) kind = KINDS[heading[1]!] ?? '';
    else if (line.startsWith('- ') && kind) changes.push({ kind, description: line.slice(2).trim() });
    else if (/^\s+\S/.test(line) && changes.length) changes.at(-1)!.description += ` ${line.trim()}`;
  }
  if (changes.length === 0) throw new Error(`release: CHANGELOG.md's [${version}] section lists no change`);
  return changes;
}

/** The fingerprint of the first key in an armored public key file (gpg reads it without importing). */
export function pgpFingerprint(publicKey: string): string {
  const out = execFileSync(
    'gpg',
    ['--batch', '--with-colons', '--import-options=show-only', '--import', publicKey],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(out)?.[1];
  if (!fpr) throw new Error(`release: ${publicKey} holds no PGP public key`);
  return fpr;
}

export interface PackagedChart {
  file: string;
  provenance?: string;
}

export function packageChart(opts: {
  helm: string;
  version: string;
  out: string;
  sign?: { keyring: string; key: string; publicKey: string };
  env?: NodeJS.ProcessEnv;
}): PackagedChart {
  const work = mkdtempSync(join(tmpdir(), 'kured-ts-chart-'));
  try {
    const dir = join(work, 'kured-ts');
    cpSync(CHART_DIR, dir, { recursive: true });
    const chartFile = join(dir, 'Chart.yaml');
    const doc = parseDocument(readFileSync(chartFile, 'utf8'));
    doc.setIn(['annotations', 'artifacthub.io/changes'], stringify(changesOf(opts.version)));
    if (opts.sign) {
      const key = `fingerprint: ${pgpFingerprint(opts.sign.publicKey)}\nurl: ${SOURCE_URL}/releases/download/v${opts.version}/kured-ts-pgp.asc\n`;
      doc.setIn(['annotations', 'artifacthub.io/signKey'], key);
    }
    writeFileSync(chartFile, doc.toString());
    execFileSync(
      opts.helm,
      [
        'package',
        dir,
        `--destination=${opts.out}`,
        `--version=${opts.version}`,
        `--app-version=${opts.version}`,
        ...(opts.sign ? ['--sign', `--key=${opts.sign.key}`, `--keyring=${opts.sign.keyring}`] : []),
      ],
      { env: opts.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const file = join(opts.out, `kured-ts-${opts.version}.tgz`);
    return { file, ...(opts.sign ? { provenance: `${file}.prov` } : {}) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
