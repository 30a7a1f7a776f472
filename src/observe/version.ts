/**
 * kured-ts's version and the commit it was built from: one place, package.json's version. The
 * bundle (scripts/bundle.ts) writes both in as constants; run from the sources (tests, `node
 * src/main.ts`) they are read from the checkout. `kured-ts --version`, the kubectl plugin's
 * --version, the kured_ts_build_info metric and the image's labels all show these.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

declare const KURED_TS_VERSION: string;
declare const KURED_TS_REVISION: string;

export interface BuildInfo {
  version: string;
  /** The git commit, or "unknown" outside a checkout. */
  revision: string;
}

export const BUILD: BuildInfo =
  typeof KURED_TS_VERSION === 'string'
    ? { version: KURED_TS_VERSION, revision: KURED_TS_REVISION }
    : fromCheckout();

function fromCheckout(): BuildInfo {
  const root = join(import.meta.dirname, '../..');
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  let revision = 'unknown';
  try {
    revision = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    // Not a git checkout (an unpacked tarball): the version alone still says what this is.
  }
  return { version, revision };
}
