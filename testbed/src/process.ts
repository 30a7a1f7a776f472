import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';

/** A control-plane process: its own process group, killed with its parent, output in a log file. */
export interface Component {
  name: string;
  pid: number;
  logFile: string;
  /** Resolves with the exit code (or signal name) when the process has exited. */
  exited: Promise<string>;
  hasExited(): boolean;
  /** SIGTERM the process group, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  /**
   * A crash and a cold restart: SIGKILLs the process group, waits for the exit, then starts the same
   * command again (same ports, same data directory); `pid` and `exited` then refer to the new process.
   */
  restart(): Promise<void>;
}

const HAS_SETPRIV = fs.existsSync('/usr/bin/setpriv');

/**
 * Starts `cmd` in a new process group. Through `setpriv --pdeathsig KILL` the kernel kills it if this
 * Node process dies for any reason, even SIGKILL, so a killed test run leaves no control plane behind.
 */
export function startComponent(name: string, cmd: string, args: string[], logFile: string): Component {
  const [file, argv] = HAS_SETPRIV
    ? ['/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', cmd, ...args]]
    : [cmd, args];
  let run = spawnOnce(name, file, argv, logFile);
  return {
    name,
    get pid() {
      return run.pid;
    },
    logFile,
    get exited() {
      return run.exited;
    },
    hasExited: () => run.hasExited(),
    async stop(graceMs = 3000) {
      const { child, pid, exited } = run;
      if (run.hasExited()) return killGroup(pid, 'SIGKILL');
      // Unref'd children do not keep Node alive: without this, a program whose only remaining work is
      // this stop() would exit before the component did.
      child.ref();
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // Children of the component (e.g. the init stand-in's `sleep`) share its group.
      killGroup(pid, 'SIGKILL');
    },
    async restart() {
      const { child, pid, exited } = run;
      child.ref();
      killGroup(pid, 'SIGKILL');
      await exited;
      run = spawnOnce(name, file, argv, logFile);
    },
  };
}

interface Run {
  child: ChildProcess;
  pid: number;
  exited: Promise<string>;
  hasExited(): boolean;
}

function spawnOnce(name: string, file: string, argv: string[], logFile: string): Run {
  const out = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(file, argv, { detached: true, stdio: ['ignore', out, out] });
  } finally {
    fs.closeSync(out);
  }
  let exitedFlag = false;
  const exited = new Promise<string>((resolve) => {
    child.on('exit', (code, signal) => {
      exitedFlag = true;
      resolve(signal ?? String(code));
    });
    child.on('error', (err) => {
      exitedFlag = true;
      resolve(err.message);
    });
  });
  if (child.pid === undefined) throw new Error(`cannot start ${name} (${file})`);
  // Our own liveness must not depend on these children: tests exit while they still run.
  child.unref();
  return { child, pid: child.pid, exited, hasExited: () => exitedFlag };
}

/** Signals a whole process group; a group that is already gone is fine. */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing left to kill.
  }
}

/** The last lines of a component's log, to explain why it failed to start. */
export function logTail(logFile: string, lines = 5): string {
  try {
    const text = fs.readFileSync(logFile, 'utf8').trimEnd().split('\n');
    return text
      .slice(-lines)
      .map((l) => `  | ${l}`)
      .join('\n');
  } catch {
    return '';
  }
}

/** Why start-up cannot go on, if the component has already exited. */
export function exitedMessage(c: Component): string | undefined {
  return c.hasExited() ? `testbed: ${c.name} exited during start-up:\n${logTail(c.logFile)}` : undefined;
}
