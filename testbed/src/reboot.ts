import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CoreV1Api } from '@kubernetes/client-node';
import { errorMessage } from './errors.ts';
import type { SimulatedHost } from './hosts.ts';
import type { NodeHistory, NodeObservation } from './node-history.ts';
import { bootIdOf, handToKwok, isReady, markRebooting, releaseFromKwok } from './nodes.ts';
import type { PodRestarts } from './pod-restarts.ts';

/** How long a rebooting node's writes are retried while the API server does not answer. */
const PERSIST_MS = 180_000;

/** What the testbed calls to stop and restart a node's agent, as a kubelet does with the DaemonSet pod. */
export interface AgentHooks {
  stop(node: string): Promise<void>;
  start(node: string): Promise<void>;
}

/** How a reboot was asked for: a direct call, or the node's reboot command / signal 39 to its init. */
export type RebootCause = 'call' | 'trigger';

/**
 * Simulates node reboots. Events on the cluster emitter, each with (node, ...):
 * `reboot:start` (cause), `reboot:down` (newBootId), `reboot:up` (bootId), `reboot:done`, `reboot:error` (message).
 */
export class RebootSimulator {
  private readonly counts = new Map<string, number>();
  private readonly running = new Map<string, Promise<void>>();
  private stopping = false;
  private readonly deps: {
    core: CoreV1Api;
    hosts: Map<string, SimulatedHost>;
    delayMs: number;
    /** How long a node may take to show Ready on its new boot. */
    backTimeoutMs: number;
    events: EventEmitter;
    hooks: () => AgentHooks | undefined;
    pods: PodRestarts;
    history: NodeHistory;
  };

  constructor(deps: RebootSimulator['deps']) {
    this.deps = deps;
  }

  count(node: string): number {
    return this.counts.get(node) ?? 0;
  }

  /** Reboots `node`; a reboot asked for while one is running joins it, as on a real host. */
  reboot(node: string, cause: RebootCause): Promise<void> {
    const running = this.running.get(node);
    if (running) return running;
    const done = this.run(node, cause).finally(() => this.running.delete(node));
    this.running.set(node, done);
    return done;
  }

  /** A reboot started by a trigger has no caller to report to: failures become `reboot:error` events. */
  rebootInBackground(node: string): void {
    this.reboot(node, 'trigger').catch(() => {});
  }

  /** Lets running reboots end early (no more waiting for the delay) and waits for them. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    this.deps.pods.shutdown();
    await Promise.allSettled([...this.running.values()]);
  }

  private async run(node: string, cause: RebootCause): Promise<void> {
    const { core, hosts, events } = this.deps;
    const host = hosts.get(node);
    // A machine is down for as long as it takes to reboot, however long our bookkeeping takes.
    const backAt = Date.now() + this.deps.delayMs;
    try {
      if (!host) throw new Error(`testbed: no simulated node named ${node}`);
      this.counts.set(node, this.count(node) + 1);
      events.emit('reboot:start', node, cause);
      // The agent's pod dies with the node.
      await this.callHook('stop', node);
      const bootId = randomUUID();
      await this.persist(() => releaseFromKwok(core, node));
      await this.persist(() => markRebooting(core, node, bootId));
      await this.podsFollow('nodeDown', node);
      host.clearSentinel();
      events.emit('reboot:down', node, bootId);

      while (!this.stopping && Date.now() < backAt) await sleep(Math.min(100, backAt - Date.now()));
      if (this.stopping) return;

      await this.persist(() => handToKwok(core, node));
      await this.backOn(node, bootId);
      // The node's containers restart with it; each pod is Ready again after its own delay.
      await this.podsFollow('nodeUp', node);
      events.emit('reboot:up', node, bootId);
      // The kubelet restarts the DaemonSet pod once the node is back.
      await this.callHook('start', node);
      events.emit('reboot:done', node);
    } catch (err) {
      if (this.stopping) return;
      events.emit('reboot:error', node, errorMessage(err));
      throw err;
    }
  }

  /**
   * Resolves once the API server shows the node Ready on its new boot: told by the cluster's Node
   * watch (NodeHistory), not by polling, which at a hundred nodes costs the API server more than
   * the agents do; a slow poll stands in should the watch be between two connections.
   */
  private backOn(node: string, bootId: string): Promise<void> {
    const { core, events, history } = this.deps;
    const back = (o: NodeObservation | undefined) => o?.ready === true && o.bootId === bootId;
    // Never shorter than a control plane restarting (the chaos bench's faults) may take.
    const backTimeoutMs = Math.max(this.deps.backTimeoutMs, PERSIST_MS);
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearInterval(poll);
        clearTimeout(deadline);
        events.off('node', onNode);
        if (err) reject(err);
        else resolve();
      };
      const onNode = (name: string, o: NodeObservation) => {
        if (name === node && back(o)) done();
      };
      const poll = setInterval(() => {
        if (this.stopping) return done(new Error('testbed: cluster stopped during reboot'));
        core.readNode({ name: node }).then(
          (n) => isReady(n) && bootIdOf(n) === bootId && done(),
          () => {},
        );
      }, 1000);
      const deadline = setTimeout(
        () =>
          done(
            new Error(
              `testbed: node ${node} did not come back Ready within ${backTimeoutMs / 1000}s after its reboot`,
            ),
          ),
        backTimeoutMs,
      );
      events.on('node', onNode);
      if (back(history.of(node).at(-1))) done();
    });
  }

  /**
   * A kubelet retries its writes until the API server takes them: a restarting or frozen control
   * plane (the chaos bench's faults) delays a reboot, it does not leave the node down for good.
   */
  private async persist(write: () => Promise<unknown>): Promise<void> {
    const deadline = Date.now() + PERSIST_MS;
    for (;;) {
      try {
        await write();
        return;
      } catch (err) {
        if (this.stopping || Date.now() > deadline) throw err;
        await sleep(500);
      }
    }
  }

  private async podsFollow(which: 'nodeDown' | 'nodeUp', node: string): Promise<void> {
    try {
      await this.deps.pods[which](node);
    } catch (err) {
      // The node's own reboot goes on: a test sees the error event and the pods' state.
      this.deps.events.emit('reboot:error', node, `pods of ${node} (${which}): ${errorMessage(err)}`);
    }
  }

  private async callHook(which: keyof AgentHooks, node: string): Promise<void> {
    const hooks = this.deps.hooks();
    if (!hooks) return;
    try {
      await hooks[which](node);
    } catch (err) {
      // A failing agent hook must not leave the node down.
      this.deps.events.emit(
        'reboot:error',
        node,
        `agent hook ${which}(${node}) failed: ${errorMessage(err)}`,
      );
    }
  }
}
