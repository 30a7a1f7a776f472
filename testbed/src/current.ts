import fs from 'node:fs';
import path from 'node:path';
import type { Cluster } from './cluster.ts';
import { TestbedError } from './errors.ts';
import { currentStatePath } from './paths.ts';
import { processStartTime } from './stale.ts';

/** What `testbed up` publishes about its cluster for `down`, `status`, `reboot` and other tools. */
export interface CurrentCluster {
  pid: number;
  pidStartTime: string;
  dir: string;
  server: string;
  caFile: string;
  kubeconfigPath: string;
  startedAt: string;
  nodes: Record<string, { hostDir: string; sentinelPath: string; rebootCommand: string; initPid: number }>;
}

export function writeCurrent(cluster: Cluster): void {
  const state: CurrentCluster = {
    pid: process.pid,
    pidStartTime: processStartTime(process.pid) ?? '',
    dir: cluster.dir,
    server: cluster.server,
    caFile: cluster.caFile,
    kubeconfigPath: cluster.kubeconfigPath,
    startedAt: new Date().toISOString(),
    nodes: Object.fromEntries(
      cluster.nodes.map((n) => [
        n,
        {
          hostDir: cluster.hostDir(n),
          sentinelPath: cluster.sentinelPath(n),
          rebootCommand: cluster.rebootCommand(n),
          initPid: cluster.initPid(n),
        },
      ]),
    ),
  };
  const file = currentStatePath();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

/** The cluster `testbed up` runs, if its process is still alive. */
export function readCurrent(): CurrentCluster | undefined {
  let state: CurrentCluster;
  try {
    state = JSON.parse(fs.readFileSync(currentStatePath(), 'utf8')) as CurrentCluster;
  } catch {
    return undefined;
  }
  if (processStartTime(state.pid) !== state.pidStartTime) {
    removeCurrent();
    return undefined;
  }
  return state;
}

export function requireCurrent(): CurrentCluster {
  const state = readCurrent();
  if (!state) throw new TestbedError('testbed: no cluster is up; start one with `testbed up`');
  return state;
}

/** Removes the state file, if it still describes the given owner (or any owner when none is given). */
export function removeCurrent(ownerPid?: number): void {
  try {
    const state = JSON.parse(fs.readFileSync(currentStatePath(), 'utf8')) as CurrentCluster;
    if (ownerPid !== undefined && state.pid !== ownerPid) return;
  } catch {
    // Unreadable: remove it anyway.
  }
  fs.rmSync(currentStatePath(), { force: true });
}
