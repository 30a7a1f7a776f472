/**
 * Many kured-ts agents in this one process, one per simulated node, each built by wireAgent with its
 * own kube clients (own connections and watches), its own state and its own configuration, as
 * distinct as separate pods. A node's reboot stops its agent and starts a fresh one, as the kubelet
 * does with the DaemonSet pod. (One agent process per node does not fit a small machine at 100 nodes.)
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { pino } from 'pino';
import type { Agent } from '../../src/agent/agent.ts';
import { parseConfig } from '../../src/config/parse.ts';
import { wireAgent } from '../../src/wire.ts';

interface Running {
  agent: Agent;
  shutdown: () => Promise<void>;
}

export interface InProcessOptions {
  /** The agents' kubeconfig: each agent loads it into its own clients. */
  kubeconfig: string;
  /** Every flag of the node's agent, as the DaemonSet would pass them. */
  args: (node: string) => string[];
  /** All agents' JSON log lines, one file. */
  logFile: string;
}

export class InProcessAgents {
  private readonly opts: InProcessOptions;
  private readonly running = new Map<string, Running>();
  private readonly stopping = new Map<string, Promise<void>>();
  private readonly log: WriteStream;
  private readonly root: pino.Logger;
  /** How many times each node's agent was started. */
  readonly starts = new Map<string, number>();
  /** Log lines at warn level and above, newest last. */
  readonly warnings: string[] = [];
  readonly errors: string[] = [];

  constructor(opts: InProcessOptions) {
    this.opts = opts;
    this.log = createWriteStream(opts.logFile, { flags: 'a' });
    const sink = {
      write: (line: string) => {
        const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 0);
        if (level >= 50) this.errors.push(line);
        else if (level >= 40) this.warnings.push(line);
        this.log.write(line);
      },
    };
    this.root = pino({ timestamp: pino.stdTimeFunctions.isoTime }, sink);
  }

  async start(node: string): Promise<void> {
    if (this.running.has(node)) return;
    await this.stopping.get(node);
    const config = parseConfig(this.opts.args(node), { KURED_NODE_ID: node });
    const wired = await wireAgent(config, this.root.child({ node }), {
      kubeconfig: this.opts.kubeconfig,
      serve: false,
      processMetrics: false,
    });
    this.running.set(node, wired);
    this.starts.set(node, (this.starts.get(node) ?? 0) + 1);
    wired.agent.start();
  }

  /** Stops the node's agent: its watches close, its loop ends after the request in flight. */
  stop(node: string): Promise<void> {
    const r = this.running.get(node);
    if (!r) return this.stopping.get(node) ?? Promise.resolve();
    this.running.delete(node);
    const done = (async () => {
      await r.agent.stop();
      await r.shutdown();
    })().finally(() => this.stopping.delete(node));
    this.stopping.set(node, done);
    return done;
  }

  has(node: string): boolean {
    return this.running.has(node);
  }

  /** Starts them a hundred at a time: thousands of first looks at once would only meet 429s. */
  async startAll(nodes: readonly string[]): Promise<void> {
    for (let i = 0; i < nodes.length; i += 100)
      await Promise.all(nodes.slice(i, i + 100).map((n) => this.start(n)));
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running.keys(), ...this.stopping.keys()].map((n) => this.stop(n)));
  }

  /** Every running agent has read the cluster once. */
  allReady(): boolean {
    return [...this.running.values()].every((r) => r.agent.ready);
  }

  async close(): Promise<void> {
    await this.stopAll();
    await new Promise<void>((resolve) => this.log.end(resolve));
  }
}
