import os from 'node:os';
import path from 'node:path';

/** Each cluster's temp dir starts with this; stale-run cleanup looks for it. */
export const TEMP_DIR_PREFIX = 'kured-ts-testbed-';

/** Root of the repository, from this file's location (testbed/src/paths.ts). */
export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');

/** The committed Go tool modules the binaries are built from. */
export const TOOLS_DIR = path.join(REPO_ROOT, 'testbed', 'tools');

/** `${XDG_CACHE_HOME:-~/.cache}/kured-ts/testbed`: binaries and the `testbed up` state live here. */
export function cacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'kured-ts', 'testbed');
}

/**
 * State of the cluster started by `testbed up`, read by `down`, `status` and `reboot`.
 * KURED_TS_TESTBED_STATE moves it, so a test of the CLI does not touch a developer's running cluster.
 */
export function currentStatePath(): string {
  return process.env.KURED_TS_TESTBED_STATE || path.join(cacheRoot(), 'current.json');
}
