/**
 * The chaos fleet's agents: most run in this process (wireAgent, each with its own clients, state and
 * clock, as distinct as pods), a few as the real bundle in their own process. Every incarnation of
 * an agent reaches the API server through its own loopback proxy (see proxy.ts), which is how a
 * partition cuts one agent off, and how an in-process agent is killed:
 *
 * - a process agent gets SIGKILL;
 * - an in-process agent's incarnation is abandoned on the spot: its proxy closes for good (every
 *   connection reset, every later request refused), its reboot command is disarmed (a script that
 *   reboots only while the incarnation is alive), and its loop is told to stop without waiting and
 *   without its shutdown path (no flush of Events, nothing graceful). Whatever it had in flight is
 *   lost, as with a process that died; a new incarnation starts from what the cluster holds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, type WriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Agent } from '../../src/agent/agent.ts';
import { realClock } from '../../src/agent/clock.ts';
import { parseConfig } from '../../src/config/parse.ts';
import type { Clock } from '../../src/core/ports.ts';
import { wireAgent } from '../../src/wire.ts';
import { BUNDLE, NODE_ENV_VARS, NODE_FLAGS } from '../../testbed/src/fleet.ts';
import { AgentProxy } from './proxy.ts';

export interface ChaosAgentsOptions {
  /** The API server the proxies lead to. */
  server: string;
  /** CA file and bearer token the agents authenticate with. */
  caFile: string;
  token: string;
  /** Every flag of the node's agent, as the DaemonSet would pass them (no --reboot-command). */
  args: (node: string) => string[];
  /** The node's real reboot command (split on spaces). */
  rebootCommand: (node: string) => string;
  /** Nodes whose agent is the bundle in its own process. */
  processNodes: ReadonlySet<string>;
  /** Kubeconfigs, reboot gates and logs. */
  dir: string;
}

interface Incarnation {
  id: number;
  proxy: AgentProxy;
  alive: string;
  agent?: Agent;
  proc?: ChildProcess;
}

/** A node's clock: real time plus an offset a fault sets (the host's clock was stepped). */
class SkewedClock implements Clock {
  offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return realClock.sleep(ms, signal);
  }
}

export class ChaosAgents {
  private readonly opts: ChaosAgentsOptions;
  private readonly target: { host: string; port: number };
  private readonly current = new Map<string, Incarnation>();
  private readonly clocks = new Map<string, SkewedClock>();
  private readonly partitionedUntil = new Map<string, number>();
  /** Restarts due after a kill, per node (cancelled by a start in between). */
  private readonly pendingStart = new Map<string, NodeJS.Timeout>();
  private readonly log: WriteStream;
  private readonly root: pino.Logger;
  private readonly gate: string;
  private seq = 0;
  /** Agent-level errors (level >= 50), counted, the last few kept. */
  errorCount = 0;
  readonly lastErrors: string[] = [];

  constructor(opts: ChaosAgentsOptions) {
    this.opts = opts;
    const url = new URL(opts.server);
    this.target = { host: url.hostname, port: Number(url.port) };
    mkdirSync(join(opts.dir, 'alive'), { recursive: true });
    this.gate = join(opts.dir, 'reboot-gate.sh');
    // Reboots only while the incarnation that asked is alive: a killed in-process agent cannot.
    writeFileSync(this.gate, '[ -e "$1" ] || exit 1\nshift\nexec "$@"\n');
    this.log = createWriteStream(join(opts.dir, 'agents.log'), { flags: 'a' });
    const sink = {
      write: (line: string) => {
        if (Number(/"level":(\d+)/.exec(line)?.[1] ?? 0) >= 50) {
          this.errorCount++;
          this.lastErrors.push(line.trim());
          if (this.lastErrors.length > 5) this.lastErrors.shift();
        }
        this.log.write(line);
      },
    };
    this.root = pino({ timestamp: pino.stdTimeFunctions.isoTime }, sink);
  }

  isProcess(node: string): boolean {
    return this.opts.processNodes.has(node);
  }

  running(node: string): boolean {
    const inc = this.current.get(node);
    if (!inc) return false;
    if (inc.proc) return inc.proc.exitCode === null && inc.proc.signalCode === null;
    return true;
  }

  /** Starts the node's agent (a new incarnation) unless one runs. */
  async start(node: string): Promise<void> {
    clearTimeout(this.pendingStart.get(node));
    this.pendingStart.delete(node);
    if (this.current.has(node)) return;
    const id = ++this.seq;
    const proxy = new AgentProxy(this.target);
    const alive = join(this.opts.dir, 'alive', `${node}.${id}`);
    const inc: Incarnation = { id, proxy, alive };
    this.current.set(node, inc);
    await proxy.listen();
    if ((this.partitionedUntil.get(node) ?? 0) > Date.now()) proxy.partition();
    writeFileSync(alive, '');
    const kubeconfig = this.kubeconfig(node, id, proxy.port);
    const args = [
      ...this.opts.args(node),
      `--reboot-command=/bin/sh ${this.gate} ${alive} ${this.opts.rebootCommand(node)}`,
    ];
    if (this.isProcess(node)) {
      inc.proc = this.spawnBundle(node, args, kubeconfig);
      return;
    }
    const config = parseConfig(args, { KURED_NODE_ID: node });
    const wired = await wireAgent(config, this.root.child({ node, inc: id }), {
      kubeconfig,
      serve: false,
      processMetrics: false,
      clock: this.clock(node),
    });
    if (this.current.get(node) !== inc) return; // killed while starting
    inc.agent = wired.agent;
    wired.agent.start();
  }

  /** Kills the node's agent at once (see the file's comment); resolves when it can no longer act. */
  async kill(node: string): Promise<void> {
    clearTimeout(this.pendingStart.get(node));
    this.pendingStart.delete(node);
    const inc = this.current.get(node);
    if (!inc) return;
    this.current.delete(node);
    rmSync(inc.alive, { force: true });
    inc.proxy.close();
    if (inc.proc) {
      const proc = inc.proc;
      const exited = new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) resolve();
        else proc.once('exit', () => resolve());
      });
      proc.kill('SIGKILL');
      await exited;
      return;
    }
    // Stop its loop in the background so it does not spin on a dead network; nothing is awaited.
    void inc.agent?.stop().catch(() => {});
  }

  /** Kills the agent and starts a new one after `delayMs` (0-5 s: the kubelet restarting the pod). */
  async killAndRestart(node: string, delayMs: number): Promise<void> {
    await this.kill(node);
    this.pendingStart.set(
      node,
      setTimeout(() => {
        this.pendingStart.delete(node);
        void this.start(node).catch((err: unknown) => this.noteError(node, err));
      }, delayMs),
    );
  }

  /** Cuts the node's agent off the API server for `ms` (across restarts of the agent). */
  partition(node: string, ms: number): void {
    this.partitionedUntil.set(node, Date.now() + ms);
    this.current.get(node)?.proxy.partition();
  }

  heal(node: string): void {
    this.partitionedUntil.delete(node);
    this.current.get(node)?.proxy.heal();
  }

  partitioned(node: string): boolean {
    return (this.partitionedUntil.get(node) ?? 0) > Date.now();
  }

  /** Steps the node's clock (in-process agents only: a process agent's clock is the machine's). */
  skew(node: string, offsetMs: number): void {
    this.clock(node).offsetMs = offsetMs;
  }

  skewOf(node: string): number {
    return this.clocks.get(node)?.offsetMs ?? 0;
  }

  async stopAll(): Promise<void> {
    for (const t of this.pendingStart.values()) clearTimeout(t);
    this.pendingStart.clear();
    const nodes = [...this.current.keys()];
    const agents = nodes.map((n) => this.current.get(n)?.agent).filter((a) => a !== undefined);
    await Promise.all(nodes.map((n) => this.kill(n)));
    await Promise.allSettled(agents.map((a) => a.stop()));
    await new Promise<void>((resolve) => this.log.end(resolve));
  }

  private clock(node: string): SkewedClock {
    let c = this.clocks.get(node);
    if (!c) {
      c = new SkewedClock();
      this.clocks.set(node, c);
    }
    return c;
  }

  private kubeconfig(node: string, id: number, port: number): string {
    const file = join(this.opts.dir, 'kubeconfigs', `${node}.${id}.yaml`);
    mkdirSync(join(this.opts.dir, 'kubeconfigs'), { recursive: true });
    const ca = readFileSync(this.opts.caFile).toString('base64');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: c\n  cluster:\n    server: https://127.0.0.1:${port}\n    certificate-authority-data: ${ca}`,
        `users:\n- name: u\n  user:\n    token: ${this.opts.token}`,
        'contexts:\n- name: c\n  context:\n    cluster: c\n    user: u',
        'current-context: c',
        '',
      ].join('\n'),
    );
    return file;
  }

  private spawnBundle(node: string, args: string[], kubeconfig: string): ChildProcess {
    const out = createWriteStream(join(this.opts.dir, `agent-${node}.log`), { flags: 'a' });
    const proc = spawn(process.execPath, [...NODE_FLAGS, BUNDLE, ...args], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...NODE_ENV_VARS,
        KUBECONFIG: kubeconfig,
        KURED_NODE_ID: node,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout?.pipe(out);
    proc.stderr?.pipe(out);
    return proc;
  }

  private noteError(node: string, err: unknown): void {
    this.errorCount++;
    this.lastErrors.push(`${node}: could not start: ${err instanceof Error ? err.message : String(err)}`);
  }
}
