/**
 * Runs the built image with podman, rootful, with runc and vfs storage (crun and overlay do not
 * work on these machines), in a storage root of its own under a temp dir so that runs never share
 * containers or images. Everything it starts is removed by remove(), on exit, or by the next run
 * if this one was killed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeOnExit } from '../../../testbed/src/exit-cleanup.ts';

const PREFIX = 'kured-ts-podman-';
/** A container that outlives a killed test run stops by itself after this long. */
const MAX_RUN_SECONDS = 900;

export class Podman {
  readonly dir: string;
  private readonly forget: () => void;

  constructor() {
    removeStale();
    this.dir = mkdtempSync(join(tmpdir(), PREFIX));
    writeFileSync(join(this.dir, 'owner'), String(process.pid));
    // Containers are not in our process group: the exit handler's pgids() hook removes them, synchronously,
    // before it deletes the storage dir.
    this.forget = removeOnExit({
      dir: this.dir,
      pgids: () => {
        removeContainers(this.dir);
        return [];
      },
    });
  }

  /** `podman <args>` on this storage root; throws with podman's message when it fails. */
  run(args: string[]): string {
    const r = spawnSync('podman', [...globalFlags(this.dir), ...args], { encoding: 'utf8' });
    if (r.error) throw new Error(`podman: ${r.error.message}; run make image (it installs podman)`);
    if (r.status !== 0) throw new Error(`podman ${args[0]} failed: ${r.stderr.trim()}`);
    return r.stdout.trim();
  }

  /** Global flags, for a podman command run by the caller (e.g. a long-running `podman run`). */
  flags(): string[] {
    return globalFlags(this.dir);
  }

  /**
   * `podman run` flags every container needs here: podman's default rlimits (a million open files,
   * millions of processes) are above what this machine lets runc set, so they are lowered to the
   * host's hard limits, capped (nproc above 32768 is refused too). Nothing is ever pulled.
   */
  runFlags(): string[] {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const hard = (name: string, cap: number) =>
      Math.min(cap, Number(new RegExp(`^${name}\\s+\\S+\\s+(\\d+)`, 'm').exec(limits)?.[1] ?? cap));
    const nofile = hard('Max open files', 65536);
    const nproc = hard('Max processes', 32768);
    return [
      '--pull=never',
      `--ulimit=nofile=${nofile}:${nofile}`,
      `--ulimit=nproc=${nproc}:${nproc}`,
      `--timeout=${MAX_RUN_SECONDS}`,
    ];
  }

  remove(): void {
    removeContainers(this.dir);
    rmSync(this.dir, { recursive: true, force: true });
    this.forget();
  }
}

function globalFlags(dir: string): string[] {
  return [
    `--root=${join(dir, 'root')}`,
    `--runroot=${join(dir, 'run')}`,
    `--tmpdir=${join(dir, 'tmp')}`,
    '--storage-driver=vfs',
    '--runtime=runc',
    '--cgroup-manager=cgroupfs',
    '--events-backend=file',
  ];
}

function removeContainers(dir: string): void {
  if (existsSync(join(dir, 'root')))
    spawnSync('podman', [...globalFlags(dir), 'rm', '--all', '--force', '--time=0'], { stdio: 'ignore' });
}

/** Storage roots of runs whose process is gone: their containers are removed, then the dir. */
function removeStale(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), name);
    let owner = 0;
    try {
      owner = Number(readFileSync(join(dir, 'owner'), 'utf8'));
    } catch {}
    // No owner yet: a run is creating it right now.
    if (!owner || alive(owner)) continue;
    removeContainers(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
