import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TEMP_DIR_PREFIX } from './paths.ts';

/** Written into each cluster's temp dir so a later run can tell whether its owner is still alive. */
export interface DirState {
  ownerPid: number;
  /** /proc start time of the owner, so a reused pid is not mistaken for the owner. */
  ownerStartTime: string;
  createdAt: string;
  components: Record<string, number>;
}

const STATE_FILE = 'state.json';
/** A dir without a state file is only taken for stale once it is older than this (it may be starting). */
const ORPHAN_AGE_MS = 60_000;

/** The /proc start time of a running process; undefined once it has exited (zombies included). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // A killed owner stays a zombie until its parent reaps it: it is dead all the same.
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

export function writeDirState(dir: string, components: Record<string, number>): void {
  const state: DirState = {
    ownerPid: process.pid,
    ownerStartTime: processStartTime(process.pid) ?? '',
    createdAt: new Date().toISOString(),
    components,
  };
  const tmp = path.join(dir, `${STATE_FILE}.tmp`);
  fs.writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(tmp, path.join(dir, STATE_FILE));
}

function readDirState(dir: string): DirState | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, STATE_FILE), 'utf8')) as DirState;
  } catch {
    return undefined;
  }
}

function ownerAlive(state: DirState): boolean {
  return processStartTime(state.ownerPid) === state.ownerStartTime;
}

/** Pids of processes whose command line mentions `dir`: every component is started with paths inside it. */
export function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${dir}/`)) pids.push(pid);
    } catch {
      // The process exited while we looked.
    }
  }
  return pids;
}

/** Kills what a dead run left in `dir` and removes it. */
export function removeClusterDir(dir: string): void {
  for (const pid of processesUsing(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Removes temp dirs (and their processes) left by testbed runs whose owner process is gone:
 * a test run that was killed, or a `testbed up` that crashed. Live clusters are left alone.
 */
export function cleanupStaleClusters(log: (line: string) => void = () => {}): string[] {
  const removed: string[] = [];
  const tmp = os.tmpdir();
  for (const name of fs.readdirSync(tmp)) {
    if (!name.startsWith(TEMP_DIR_PREFIX)) continue;
    const dir = path.join(tmp, name);
    const state = readDirState(dir);
    if (state ? ownerAlive(state) : ageMs(dir) < ORPHAN_AGE_MS) continue;
    const leftovers = processesUsing(dir).length;
    removeClusterDir(dir);
    removed.push(dir);
    const why = state ? `owner pid ${state.ownerPid} is gone` : 'no state file';
    log(`testbed: cleaned up stale ${dir} (${why}; ${leftovers} leftover process(es) killed)`);
  }
  return removed;
}

function ageMs(dir: string): number {
  try {
    return Date.now() - fs.statSync(dir).mtimeMs;
  } catch {
    return 0;
  }
}
