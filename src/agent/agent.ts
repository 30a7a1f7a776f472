/**
 * The reconcile loop: observe, decide, act, then sleep until something may have changed (the
 * sentinel file, the lock, the Node, a deadline of the current step) or the --period resync.
 */

import { NEEDED_ANNOTATION } from '../core/history.ts';
import { liveEntries } from '../core/lock/codec.ts';
import { NAMED_GRACE_MS, WAITING_LABEL, zoneName } from '../core/lock/queue.ts';
import type { Logger } from '../core/log.ts';
import type { Phase } from '../core/phase.ts';
import { type Gate, NodeGone, type PodHealth, type Sentinel } from '../core/ports.ts';
import { evaluateGates, type GatesVerdict } from '../gates/index.ts';
import { evaluateHealth } from '../health/evaluate.ts';
import { statusMessage as describe, isTooManyRequests, retryAfterMs } from '../kube/errors.ts';
import { type ActionDeps, Actions, KURED_IN_PROGRESS, KURED_MOST_RECENT } from './actions.ts';
import { decide, type Observation, type Step } from './decide.ts';
import { observe, type Snapshot } from './observe.ts';
import type { AgentSettings } from './settings.ts';

export interface AgentDeps extends ActionDeps {
  sentinel: Sentinel;
  gates: Gate[];
  /**
   * Subscriptions that call wake() when the lock or the Node changes; each returns a stop function.
   * Started only while this node has a reboot to do or a cycle / lock entry in the cluster.
   */
  watches: ((wake: () => void) => () => void)[];
  logger: Logger;
  /** The node's pods after a reboot (watched only while the node settles). */
  podHealth: PodHealth;
}

/** Over how long the first looks of agents whose sentinels appear together are spread. */
export const FIRST_LOOK_SPREAD_MS = 3000;

/** How old a pre-flight verdict may be at our turn: about as long as a wave's slots take to fill. */
const PREFLIGHT_FRESH_MS = 2000;

const PROGRESS: ReadonlySet<Step['action']> = new Set([
  'acquire',
  'drain',
  'reboot',
  'finish',
  'settle',
  'halt',
  'release',
  'abort',
  'adoptLock',
  'forget',
]);

export class Agent {
  private readonly d: AgentDeps;
  private readonly s: AgentSettings;
  private readonly actions: Actions;
  private readonly stopper = new AbortController();
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private lastLine = '';
  private settlingReported = false;
  private lastWait = '';
  private blockedSince: number | undefined;
  private blockedNotified = false;
  /** Stops the watch of the node's pods; set only while the node settles after a reboot. */
  private stopPodWatch: (() => void) | undefined;
  /** True once the agent has read the cluster successfully: the /readyz answer. */
  ready = false;
  private done: Promise<void> | undefined;
  /** The last full look found no reboot needed, no cycle, no lock entry and no mark of ours. */
  private quiet = false;
  private unwatch: (() => void)[] | undefined;
  /** The last action changed something (a claim that took the lock): look again at once. */
  private progressed = false;
  /** The ordinary gates' last verdict, and until when it stands (see askGates). */
  private gateMemo: { verdict: Verdict; until: number } | undefined;
  /** The pre-flight's last verdict and when it was asked (see preflight). */
  private preflightMemo: { verdict: Verdict; at: number } | undefined;
  /** The lock and its hand-over as last seen, and since when (local time: no clock skew involved). */
  private lockSeen = { key: '', at: 0 };

  constructor(deps: AgentDeps, settings: AgentSettings) {
    this.d = deps;
    this.s = settings;
    this.actions = new Actions(deps, settings);
  }

  start(): void {
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    this.wake();
    await this.done;
  }

  wake = (): void => {
    this.woken = true;
    this.wakeUp?.();
  };

  private async run(): Promise<void> {
    const signal = this.stopper.signal;
    const unwatchSentinel = this.d.sentinel.watch(this.wake);
    // kured's jittered first tick, in [period/2, 1.5 period): agents started together spread out.
    let resyncAt = this.now() + this.s.periodMs * (0.5 + Math.random());
    let failures = 0;
    while (!signal.aborted) {
      this.woken = false;
      let sleepUntil: number | undefined;
      try {
        const { step, snap } = await this.reconcileOnce(signal);
        failures = 0;
        this.ready = true;
        if (!PROGRESS.has(step.action) && !this.progressed) sleepUntil = this.nextLook(step, resyncAt, snap);
      } catch (err) {
        failures++;
        sleepUntil = this.now() + this.retryAfterFailure(err, failures);
      }
      this.follow(!this.quiet && !signal.aborted);
      if (sleepUntil === undefined || signal.aborted) continue;
      await this.sleepUntil(sleepUntil, signal);
      if (this.now() >= resyncAt) resyncAt = this.now() + this.s.periodMs;
    }
    this.follow(false);
    this.followPods(false);
    unwatchSentinel();
  }

  /**
   * How long to wait after a failed turn: backing off 1 s, 2 s, ... 30 s, spread at random (agents
   * that failed together, an API server outage, do not come back together). A 429 that outlasted
   * the transport's own waits is a busy server, not a fault: a warning with the wait it asked for.
   */
  private retryAfterFailure(err: unknown, failures: number): number {
    const backoff = Math.min(30_000, 1000 * 2 ** Math.min(failures - 1, 5));
    if (isTooManyRequests(err)) {
      const told = retryAfterMs(err);
      const retryInMs = Math.round(Math.max(told ?? 0, backoff) * (1 + Math.random()));
      this.d.logger.warn(
        { err: describe(err), retryAfterMs: told, retryInMs },
        'the API server is busy (HTTP 429); will try again',
      );
      return retryInMs;
    }
    const retryInMs = Math.round(backoff * (0.5 + Math.random()));
    this.d.logger.error({ err: describe(err), retryInMs }, 'reconcile failed; will retry');
    return retryInMs;
  }

  /** Starts or stops the watches (lock, own Node): held only while this node has something going on. */
  private follow(on: boolean): void {
    if (on && !this.unwatch) this.unwatch = this.d.watches.map((w) => w(this.wake));
    if (!on && this.unwatch) {
      for (const stop of this.unwatch) stop();
      this.unwatch = undefined;
    }
  }

  /** One observe-decide-act turn (the loop's body; unit tests drive it directly). */
  async reconcileOnce(
    signal: AbortSignal = this.stopper.signal,
  ): Promise<{ step: Step; snap: Snapshot | undefined }> {
    // Quiet: nothing of ours is in the cluster and only we could put it there, so while the
    // sentinel says no reboot there is nothing to read (kured's 0 requests per idle hour).
    if (this.quiet) {
      if (!(await this.d.sentinel.rebootRequired())) {
        this.d.telemetry.setRebootRequired(false);
        this.progressed = false;
        return { step: { action: 'idle' }, snap: undefined };
      }
      this.quiet = false;
      // Patch day: a pool's unattended upgrades finish together and a thousand sentinels appear in
      // the same second. Each agent's first look and first writes start at a random moment of the
      // next few seconds, so the API server sees a stream, not a wall (a reboot waits far longer).
      await this.d.clock.sleep(Math.random() * FIRST_LOOK_SPREAD_MS, signal);
      if (signal.aborted) return { step: { action: 'idle' }, snap: undefined };
    }
    const snap = await this.observe();
    const policy = {
      rebootTimeoutMs: this.s.rebootTimeoutMs,
      lockReleaseDelayMs: this.s.lockReleaseDelayMs,
      postRebootTimeoutMs: this.s.postRebootTimeoutMs,
      haltOnFailure: this.s.haltOnFailure,
      namedGraceMs: NAMED_GRACE_MS,
    };
    let step = decide(snap.observation, policy);
    if (step.action === 'checkGates') {
      await this.annotateRebootNeeded(snap);
      const now = snap.observation.now;
      const memo = this.gateMemo && now.getTime() < this.gateMemo.until ? this.gateMemo.verdict : undefined;
      snap.observation.gate = memo ?? (await this.askGates(now));
      step = decide(snap.observation, policy);
      // Our turn: right before the lock, the gates as they are now, the costly pre-flight included.
      if (step.action === 'acquire' || (step.action === 'claim' && snap.observation.lock.acquirable)) {
        if (memo) snap.observation.gate = await this.askGates(now);
        if (snap.observation.gate.open) snap.observation.gate = await this.preflight(now);
        step = decide(snap.observation, policy);
      } else if (
        step.action === 'wait' &&
        snap.observation.lock.namedMe &&
        snap.observation.lock.acquirable
      ) {
        // Named in a wave, behind the nodes taking its other slots: ask the pre-flight now.
        await this.preflight(now);
      }
    }
    if (step.action === 'checkHealth') {
      // Watch first, then read: a pod that turns Ready in between still wakes us.
      this.followPods(true);
      snap.observation.health = await this.checkHealth(snap);
      step = decide(snap.observation, policy);
    }
    const cycle = snap.observation.node.cycle;
    this.followPods(cycle?.phase === 'settling' && step.action !== 'settle' && step.action !== 'forget');
    this.report(step, snap);
    if (step.action === 'idle' && snap.node.annotations[NEEDED_ANNOTATION])
      await this.d.node.setAnnotations({ [NEEDED_ANNOTATION]: null });
    const decorated = await this.decorate(step, snap);
    this.progressed = await this.actions.perform(step, snap, signal);
    this.quiet = step.action === 'idle' && !decorated;
    return { step, snap };
  }

  /**
   * The ordinary gates (not the pre-flight), remembered: a waiting node woken by a lock change
   * that is not its turn reuses the verdict for up to a minute (or until a closed gate said it
   * opens) instead of asking Prometheus or listing pods at every hand-over of the fleet.
   */
  private async askGates(now: Date): Promise<Verdict> {
    const verdict = asVerdict(await evaluateGates(this.d.gates, now, { beforeLock: false }));
    const opensAt = verdict.open ? undefined : verdict.retryAt?.getTime();
    this.gateMemo = { verdict, until: Math.min(now.getTime() + this.s.gateRecheckMs, opensAt ?? Infinity) };
    return verdict;
  }

  /**
   * The gates asked right before the lock (the budget pre-flight), at most PREFLIGHT_FRESH_MS old.
   * A wave's slots are taken one after another, each when the one before has written: a named node
   * asks while it waits behind the others, so that at its turn it only writes, instead of making
   * every node behind it wait for its LIST too.
   */
  private async preflight(now: Date): Promise<Verdict> {
    const memo = this.preflightMemo;
    if (memo && now.getTime() - memo.at < PREFLIGHT_FRESH_MS) return memo.verdict;
    const verdict = asVerdict(await evaluateGates(this.d.gates, now, { beforeLock: true }));
    this.preflightMemo = { verdict, at: now.getTime() };
    return verdict;
  }

  private checkHealth(snap: Snapshot) {
    const rebootedAfter = snap.observation.node.cycle?.rebootedAfter;
    const alerts = this.s.postRebootCheckAlerts
      ? this.d.gates.find((g) => g.name === 'prometheus')
      : undefined;
    return evaluateHealth(
      { pods: this.d.podHealth, alerts },
      rebootedAfter ? new Date(rebootedAfter) : undefined,
      snap.observation.now,
      this.s.gateRecheckMs,
    );
  }

  /** The pod watch exists only on a node settling after its reboot: an idle fleet watches no pods. */
  private followPods(on: boolean): void {
    if (on && !this.stopPodWatch) this.stopPodWatch = this.d.podHealth.watch(this.wake);
    if (!on && this.stopPodWatch) {
      this.stopPodWatch();
      this.stopPodWatch = undefined;
    }
  }

  /** observe(), plus how long we have seen the lock as it is; a Node deleted under us lets the lock go. */
  private async observe(): Promise<Snapshot> {
    let snap: Snapshot;
    try {
      snap = await observe({ ...this.d, now: () => this.d.clock.now() }, this.s);
    } catch (err) {
      if (err instanceof NodeGone) await this.actions.releaseIfHeld('our Node was deleted');
      throw err;
    }
    const key = JSON.stringify([snap.lock, snap.queue.next]);
    const now = snap.observation.now.getTime();
    if (key !== this.lockSeen.key) this.lockSeen = { key, at: now };
    // Counted from when we got in line at the earliest: agents whose gates open together (a
    // window, a patch day) would otherwise all find the lock "stalled" and all name the next.
    const inLineSince = Number(snap.node.labels[WAITING_LABEL]) || now;
    snap.observation.lock.unchangedMs = now - Math.max(this.lockSeen.at, inLineSince);
    return snap;
  }

  /** When to look again after a step that waits. */
  private nextLook(step: Step, resyncAt: number, snap: Snapshot | undefined): number {
    let at = resyncAt;
    if (!snap) return at;
    // Waiting for a turn: a little jitter, so that waiters woken together do not act together.
    const jitter = Math.random() * NAMED_GRACE_MS;
    if (step.action === 'claim') at = Math.min(at, this.now() + NAMED_GRACE_MS + jitter);
    if (step.action === 'wait') {
      if (step.until) at = Math.min(at, step.until.getTime() + (step.taint ? jitter : 0));
      // A gate that says when it opens (the window) is trusted; the others are asked again soon.
      if (step.gate && !step.until) at = Math.min(at, this.now() + this.s.gateRecheckMs);
      if (step.phase === 'rebooting') at = Math.min(at, this.now() + this.s.nodePollMs);
    }
    // A lock held with a TTL frees itself without an event: look again when it expires.
    for (const e of liveEntries(snap.lock, snap.observation.now)) {
      if (e.TTL > 0) at = Math.min(at, Date.parse(e.created) + e.TTL / 1e6 + 100);
    }
    return at;
  }

  /**
   * Written when a reboot is first seen to be needed, before the gates: ours (for `kured-ts plan`)
   * always, kured's with --annotate-nodes. One patch per transition, none while nothing changes.
   */
  private async annotateRebootNeeded(snap: Snapshot): Promise<void> {
    const now = snap.observation.now.toISOString().replace(/\.\d+Z$/, 'Z');
    const patch: Record<string, string> = {};
    if (!snap.node.annotations[NEEDED_ANNOTATION]) patch[NEEDED_ANNOTATION] = now;
    if (this.s.annotateNodes && !snap.node.annotations[KURED_IN_PROGRESS]) {
      patch[KURED_IN_PROGRESS] = now;
      patch[KURED_MOST_RECENT] = now;
    }
    if (Object.keys(patch).length) await this.d.node.setAnnotations(patch);
  }

  /** The PreferNoSchedule taint while waiting for the lock; metrics; blocked notifications. True if it wrote. */
  private async decorate(step: Step, snap: Snapshot): Promise<boolean> {
    const { telemetry } = this.d;
    telemetry.setRebootRequired(snap.observation.rebootRequired);
    telemetry.setPhase(phaseOf(step, snap));
    telemetry.setLockHolders(liveEntries(snap.lock, snap.observation.now).map((e) => e.nodeID));
    const gate = step.action === 'wait' ? step.gate : undefined;
    telemetry.setBlocked(gate);
    const cycle = snap.observation.node.cycle;
    telemetry.setHalted(cycle?.phase === 'settling' ? cycle.halted : undefined);
    await this.notifyLongBlock(step);
    const waiting = step.action === 'wait' && step.taint === true;
    let wrote = false;
    // In line for the lock (src/core/lock/queue.ts): the label says since when; taking the lock removes it.
    const inLine = waiting || step.action === 'claim' || step.action === 'acquire';
    if (inLine !== WAITING_LABEL in snap.node.labels) {
      await this.d.node.setLabels({
        [WAITING_LABEL]: inLine ? String(snap.observation.now.getTime()) : null,
      });
      wrote = true;
    }
    const key = this.s.preferNoScheduleTaint;
    if (!key) return wrote;
    const has = snap.node.taints.some((t) => t.key === key && t.effect === 'PreferNoSchedule');
    if (waiting === has) return wrote;
    await this.d.node.setPreferNoScheduleTaint(key, waiting);
    return true;
  }

  private async notifyLongBlock(step: Step): Promise<void> {
    if (step.action !== 'wait' || step.phase !== 'waiting') {
      this.blockedSince = undefined;
      this.blockedNotified = false;
      return;
    }
    this.blockedSince ??= this.now();
    const after = this.s.notifyBlockedAfterMs;
    if (after > 0 && !this.blockedNotified && this.now() - this.blockedSince >= after) {
      this.blockedNotified = true;
      this.d.notifier.notify({ kind: 'blocked', node: this.s.nodeId, detail: step.reason });
    }
  }

  /**
   * One log line per decision that differs from the previous one (a wait for the lock: when it
   * starts and when we become next, not at each holder's change). One Event when a wait starts
   * (or its gate changes), not at every hand-over: a rollout's Events grow with K, not K squared.
   */
  private report(step: Step, snap: Snapshot): void {
    const reason = step.action === 'wait' || step.action === 'abort' ? step.reason : undefined;
    // Waiting in line, a new line only when we become next: not at every hand-over of the fleet.
    const inLine = step.action === 'wait' && step.taint === true;
    const line = inLine ? `wait|lock|${snap.observation.lock.namedMe}` : `${step.action}|${reason ?? ''}`;
    if (line === this.lastLine) return;
    this.lastLine = line;
    this.d.logger.info(
      { action: step.action, ...(reason ? { reason } : {}), rebootRequired: snap.observation.rebootRequired },
      describeStep(step),
    );
    this.reportWait(step, snap);
    // One Event when the healthy wait begins, not one per pod that turns Ready.
    const settling = step.action === 'wait' && step.phase === 'settling';
    if (settling && !this.settlingReported) {
      this.d.events.record('Normal', 'WaitingForHealthy', 'Wait', `Back on a new boot; ${step.reason}`);
    }
    this.settlingReported = settling;
  }

  /** One Event when a wait starts (or its gate changes), not at every hand-over. */
  private reportWait(step: Step, snap: Snapshot): void {
    // A claim is a moment within a wait for the lock: it neither starts nor ends one.
    if (step.action === 'claim') return;
    const waiting = step.action === 'wait' && step.phase === 'waiting';
    const waitKind = waiting ? (step.taint ? 'lock' : `${step.gate ?? ''}|${step.reason}`) : '';
    if (waitKind === this.lastWait) return;
    this.lastWait = waitKind;
    if (!waiting) return;
    const zone = this.s.maxZones > 0 ? `zone ${zoneName(snap.zone)}, ` : '';
    const note = step.taint
      ? `Reboot needed; waiting for the lock (${zone}held by ${snap.observation.lock.holders})`
      : `Reboot needed; ${step.reason}`;
    this.d.events.record('Normal', step.taint ? 'WaitingForLock' : 'RebootBlocked', 'Wait', note);
  }

  private sleepUntil(at: number, signal: AbortSignal): Promise<void> {
    if (this.woken) return Promise.resolve();
    const inner = new AbortController();
    const onAbort = () => inner.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.wakeUp = onAbort;
    return this.d.clock.sleep(Math.max(0, at - this.now()), inner.signal).finally(() => {
      this.wakeUp = undefined;
      signal.removeEventListener('abort', onAbort);
    });
  }

  private now(): number {
    return this.d.clock.now().getTime();
  }
}

type Verdict = NonNullable<Observation['gate']>;

function asVerdict(v: GatesVerdict): Verdict {
  return v.open ? v : { ...v, gate: v.gate ?? 'gate' };
}

function phaseOf(step: Step, snap: Snapshot): Phase {
  if (step.action === 'idle') return 'idle';
  if (step.action === 'wait') return step.phase;
  const cycle = snap.observation.node.cycle?.phase;
  if (step.action === 'halt') return 'halted';
  if (cycle === 'rebooting' || cycle === 'settling' || cycle === 'releasing') return cycle;
  return cycle === 'draining' ? 'draining' : 'waiting';
}

function describeStep(step: Step): string {
  switch (step.action) {
    case 'idle':
      return 'no reboot needed';
    case 'wait':
      return `reboot held back: ${step.reason}`;
    case 'checkGates':
      return 'checking the reboot gates';
    case 'checkHealth':
      return 'checking whether the node is healthy';
    case 'acquire':
      return 'reboot needed; taking the lock';
    case 'claim':
      return 'reboot needed; looking who is first in line for the lock';
    case 'drain':
      return step.cordon ? 'cordoning and draining' : 'draining';
    case 'reboot':
      return 'requesting the reboot';
    case 'finish':
      return step.uncordon
        ? 'node rebooted; uncordoning'
        : 'node rebooted; leaving it cordoned as it was before';
    case 'settle':
      return step.unhealthy
        ? 'not healthy in time; releasing anyway (--halt-on-failure=false)'
        : 'node is healthy';
    case 'halt':
      return `rollout halted: ${step.reason}`;
    case 'release':
      return 'releasing the lock';
    case 'abort':
      return `aborting the reboot attempt: ${step.reason}`;
    case 'adoptLock':
      return 'found our lock without a reboot cycle; releasing it';
    case 'forget':
      return 'reboot cycle over';
  }
}
