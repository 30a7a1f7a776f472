import fs from 'node:fs';
import path from 'node:path';
import { type Component, startComponent } from './process.ts';

/** Signal that kured sends to PID 1 to reboot (systemd: SIGRTMIN+5 = 39). */
export const REBOOT_SIGNAL = 39;
const TRIGGER_FILE = 'kured-testbed-reboot';
/** Dies with the init stand-in even when that is SIGKILLed (a killed test run), instead of lingering. */
const SLEEP_FOREVER = fs.existsSync('/usr/bin/setpriv')
  ? '/usr/bin/setpriv --pdeathsig KILL -- sleep infinity'
  : 'sleep infinity';

/**
 * The host side of one simulated node: its filesystem root (sentinel lives there), a stand-in init
 * process that "reboots" on signal 39, and a trigger file a reboot command can touch.
 */
export class SimulatedHost {
  readonly node: string;
  readonly root: string;
  readonly sentinelPath: string;
  readonly triggerPath: string;
  private init: Component | undefined;
  private watcher: fs.FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private readonly logFile: string;

  constructor(clusterDir: string, node: string) {
    this.node = node;
    this.logFile = path.join(clusterDir, 'logs', `init-${node}.log`);
    this.root = path.join(clusterDir, 'hosts', node);
    this.sentinelPath = path.join(this.root, 'var', 'run', 'reboot-required');
    this.triggerPath = path.join(this.root, 'run', TRIGGER_FILE);
    fs.mkdirSync(path.dirname(this.sentinelPath), { recursive: true });
    fs.mkdirSync(path.dirname(this.triggerPath), { recursive: true });
  }

  /** A command line (split on spaces, no shell) that reboots this node when run. */
  get rebootCommand(): string {
    return `/usr/bin/touch ${this.triggerPath}`;
  }

  get initPid(): number {
    if (!this.init) throw new Error(`testbed: host ${this.node} is not running`);
    return this.init.pid;
  }

  /**
   * Starts the init stand-in and watches the trigger file. Bash, because Node cannot trap realtime
   * signals; `sleep & wait` lets the trap run as soon as the signal arrives. An idle node costs
   * nothing: bash waits on a `sleep infinity` and wakes only for the signal (then replaces it).
   */
  startInit(onReboot: () => void): Component {
    const script = `trap ': > "$0"' RTMIN+5; while :; do ${SLEEP_FOREVER} & wait $!; kill $! 2>/dev/null; done`;
    const init = startComponent(
      `init ${this.node}`,
      '/bin/bash',
      ['-c', script, this.triggerPath],
      this.logFile,
    );
    this.init = init;
    const check = () => {
      if (!fs.existsSync(this.triggerPath)) return;
      fs.rmSync(this.triggerPath, { force: true });
      onReboot();
    };
    this.watcher = fs.watch(path.dirname(this.triggerPath), (_event, file) => {
      if (!file || file === TRIGGER_FILE) check();
    });
    // Only if inotify fails does a slow poll take over: an idle node must not cost a timer per node.
    this.watcher.on('error', () => {
      this.poller ??= setInterval(check, 1000);
      this.poller.unref();
    });
    // A trigger written before the watch was set up.
    check();
    return init;
  }

  requireReboot(): void {
    fs.writeFileSync(this.sentinelPath, '*** System restart required ***\n');
  }

  /** A reboot clears /var/run, which is a tmpfs on real hosts. */
  clearSentinel(): void {
    fs.rmSync(this.sentinelPath, { force: true });
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
    await this.init?.stop(500);
  }
}
