/**
 * The reconcile loop, and nothing else: observe, decide, report, act, then sleep until the time
 * decide() gave or until something may have changed (the sentinel file, the lock, the Node) or the
 * --period resync. What to do is decide.ts; doing it is actions.ts and handover.ts; saying it is
 * reporting.ts.
 */

import { NAMED_GRACE_MS, TURN_ANNOTATION, WAITING_LABEL } from '../core/lock/queue.ts';
import type { Logger } from '../core/log.ts';
import type {
  Clock,
  CycleCompanion,
  Drainer,
  EventsPort,
  FleetPort,
  Gate,
  LockPort,
  NodePort,
  Notifier,
  PodHealth,
  Rebooter,
  Sentinel,
  Telemetry,
} from '../core/ports.ts';
import { statusMessage as describe, isConflict, isTooManyRequests, retryAfterMs } from '../kube/errors.ts';
import { REQUEST_ANNOTATION, waivedGates } from '../reboot/request.ts';
import { Actions } from './actions.ts';
import { Asks } from './asks.ts';
import { type Decision, decide, type Policy, type Step } from './decide.ts';
import { Handover } from './handover.ts';
import { answered, Observer, type Snapshot } from './observe.ts';
import { Reporter } from './reporting.ts';
import type { AgentSettings } from './settings.ts';

export interface AgentDeps {
  node: NodePort;
  lock: LockPort;
  fleet: FleetPort;
  drainer: Drainer;
  rebooter: Rebooter;
  notifier: Notifier;
  events: EventsPort;
  telemetry: Telemetry;
  clock: Clock;
  logger: Logger;
  sentinel: Sentinel;
  gates: Gate[];
  /**
   * Subscriptions that call wake() when the lock or the Node changes; each returns a stop function.
   * Started only while this node has a reboot to do or a cycle / lock entry in the cluster.
   */
  watches: ((wake: () => void) => () => void)[];
  /**
   * The lock's watch, held with the others except while this node stands by in line, unnamed
   * while others are named: then its own Node (TURN_ANNOTATION) wakes it when its turn is near.
   */
  lockWatch?: (wake: () => void) => () => void;
  /** The node's pods after a reboot (watched only while the node settles). */
  podHealth: PodHealth;
  /** Alertmanager silences and the post-reboot hook along the cycle (absent: none configured). */
  companion?: CycleCompanion;
  /** The boot ID of the kernel this agent runs on (src/reboot/kernel.ts), where readable. */
  kernelBootID?: string | undefined;
}

/**
 * Over how long the first looks of agents whose sentinels appear together are spread: 10 ms per
 * node of the fleet, at least 3 s, at most 5 min (5,000 nodes: 50 s; a pool's thousand nodes in
 * line then arrive at about 20 a second, which the API server takes without a 429).
 */
export function firstLookSpreadMs(fleetSize: number): number {
  return Math.min(300_000, Math.max(3000, fleetSize * 10));
}

/** How old a pre-flight verdict may be at our turn: about as long as a wave's slots take to fill. */
const PREFLIGHT_FRESH_MS = 2000;

export class Agent {
  private readonly d: AgentDeps;
  private readonly s: AgentSettings;
  private readonly policy: Policy;
  private readonly observer: Observer;
  private readonly asks: Asks;
  private readonly report: Reporter;
  private readonly actions: Actions;
  private readonly stopper = new AbortController();
  private wakeUp: (() => void) | undefined;
  private woken = false;
  /** Stops the watch of the node's pods; set only while the node settles after a reboot. */
  private stopPodWatch: (() => void) | undefined;
  /** True once the agent has read the cluster successfully: the /readyz answer. */
  ready = false;
  private done: Promise<void> | undefined;
  /** The last full look found no reboot needed, no cycle, no lock entry and no mark of ours. */
  private quiet = false;
  private unwatch: (() => void)[] | undefined;
  /** When a quiet agent next reads its Node for a reboot request (see requestLook). */
  private nextRequestLook = 0;
  private unwatchLock: (() => void) | undefined;
  /** The last turn found this node standing by in line: no lock watch (see lockWatch). */
  private standingBy = false;
  /** How many nodes run an agent, as last read (sets the first look's spread). */
  private fleetSize = 0;

  constructor(deps: AgentDeps, settings: AgentSettings) {
    this.d = deps;
    this.s = settings;
    this.report = new Reporter(deps, settings);
    this.observer = new Observer({ ...deps, now: () => deps.clock.now() }, settings);
    this.asks = new Asks(deps, settings);
    this.actions = new Actions(deps, settings, new Handover(deps, settings, this.report), this.report);
    this.policy = {
      rebootTimeoutMs: settings.rebootTimeoutMs,
      lockReleaseDelayMs: settings.lockReleaseDelayMs,
      postRebootTimeoutMs: settings.postRebootTimeoutMs,
      haltOnFailure: settings.haltOnFailure,
      // Without a line (no `list` on nodes) a claim is a poll of the lock: as often as the gates'.
      namedGraceMs: deps.fleet.hasLine === false ? settings.gateRecheckMs : NAMED_GRACE_MS,
      forceReboot: settings.forceReboot,
      preflight: this.asks.hasPreflight,
      preflightFreshMs: PREFLIGHT_FRESH_MS,
      gateRecheckMs: settings.gateRecheckMs,
      nodePollMs: settings.nodePollMs,
    };
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
        const { wake, changed } = await this.turn(signal);
        failures = 0;
        this.ready = true;
        if (wake !== 'now' && !changed)
          sleepUntil = Math.min(resyncAt, wake?.getTime() ?? Infinity, this.quietLookAt());
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
    // Conflicts that outlasted the writer's own attempts: the object is contended (a wave of 50
    // writing one lock), not broken; tried again like any failure, said as a warning.
    if (isConflict(err)) {
      const retryInMs = Math.round(backoff * (0.5 + Math.random()));
      this.report.contended(describe(err), retryInMs);
      return retryInMs;
    }
    if (isTooManyRequests(err)) {
      const told = retryAfterMs(err);
      const retryInMs = Math.round(Math.max(told ?? 0, backoff) * (1 + Math.random()));
      this.report.busy(describe(err), told, retryInMs);
      return retryInMs;
    }
    const retryInMs = Math.round(backoff * (0.5 + Math.random()));
    this.report.turnFailed(describe(err), retryInMs);
    return retryInMs;
  }

  /** One observe-decide-act turn (unit tests drive it directly). */
  async reconcileOnce(
    signal: AbortSignal = this.stopper.signal,
  ): Promise<{ step: Step; snap: Snapshot | undefined }> {
    const { step, snap } = await this.turn(signal);
    return { step, snap };
  }

  private async turn(
    signal: AbortSignal,
  ): Promise<Decision & { snap: Snapshot | undefined; changed: boolean }> {
    // Quiet: nothing of ours is in the cluster and only we could put it there, so while the
    // sentinel says no reboot there is nothing to read (kured's 0 requests per idle hour).
    if (this.quiet) {
      if (!(await this.d.sentinel.rebootRequired()) && !(await this.requestLook())) {
        this.report.quiet();
        return { step: { action: 'idle' }, wake: undefined, snap: undefined, changed: false };
      }
      this.quiet = false;
      // Patch day: a pool's unattended upgrades finish together and a thousand sentinels appear in
      // the same second. Each agent's first look and first writes start at a random moment of the
      // next seconds (more of them the larger the fleet), so the API server sees a stream, not a
      // wall (a reboot in a long line waits far longer).
      await this.d.clock.sleep(Math.random() * firstLookSpreadMs(this.fleetSize), signal);
      if (signal.aborted)
        return { step: { action: 'idle' }, wake: undefined, snap: undefined, changed: false };
    }
    let snap = await this.observer.look(this.asks.remembered());
    this.fleetSize = snap.fleetSize;
    // A reboot request that waives gates: a verdict remembered with other gates does not stand.
    const waived = waivedGates(snap.request);
    if (!this.asks.askedWith(waived)) snap = answered(snap, { gate: undefined, gateAskedAt: undefined });
    let decision = decide(snap.observation, this.policy);
    // An answer decide() asked for joins a new observation, decided again (reads only, no write).
    for (let asked = 0; asked < 3 && isQuestion(decision.step); asked++) {
      snap = answered(snap, await this.ask(decision.step, snap));
      decision = decide(snap.observation, this.policy);
    }
    const { step } = decision;
    const cycle = snap.observation.node.cycle;
    this.followPods(cycle?.phase === 'settling' && step.action !== 'settle' && step.action !== 'forget');
    this.report.decided(step, snap);
    const marked = await this.actions.mark(step, snap);
    if (step.action === 'wait' && step.askPreflight) await this.asks.preflight(snap.observation.now);
    const changed = await this.actions.perform(step, snap, signal);
    this.quiet = step.action === 'idle' && !marked;
    // This look read the Node: the next look for a reboot request is at most a period away, at a
    // random moment of its second half: agents started together (a DaemonSet's rollout, a
    // benchmark's thousands) would otherwise read their Nodes in the same second every period.
    if (this.quiet)
      this.nextRequestLook = this.now() + this.s.rebootRequestPeriodMs * (0.5 + Math.random() / 2);
    this.standingBy = !changed && standsBy(step, snap);
    // Standing by, a free slot's grace is not this node's to watch: the named and the spare (named
    // to pass over a named node that lets it go) watch the lock. Waking at its end, every node that
    // last looked during the first rush read the lock once more (at 1,000 nodes 161 GETs in 12 s).
    // A closed gate's recheck stays: only this node asks its gates.
    if (this.standingBy && step.action === 'wait' && step.gate === undefined)
      return { step, wake: undefined, snap, changed };
    return { ...decision, snap, changed };
  }

  /**
   * A quiet agent reads nothing, so it looks for an operator's reboot request on its Node (one GET)
   * every --reboot-request-period at most; an agent with a cycle or a reboot to do sees it at once.
   */
  private async requestLook(): Promise<boolean> {
    const every = this.s.rebootRequestPeriodMs;
    // The protection's end is due: put back at this look (without looks, at its own instant).
    const restoreAt = this.actions.restoreAt;
    const restoreDue = restoreAt !== undefined && this.now() >= restoreAt;
    if (every <= 0 || this.now() < this.nextRequestLook) return restoreDue && every <= 0;
    this.nextRequestLook = this.now() + every;
    const { annotations } = await this.d.node.read();
    return annotations[REQUEST_ANNOTATION] !== undefined || restoreDue;
  }

  /**
   * When a quiet agent looks again of its own accord: its next look for a reboot request, which
   * also puts the autoscaler/Karpenter annotations back once due (without looks: at that instant).
   */
  private quietLookAt(): number {
    if (!this.quiet) return Infinity;
    if (this.s.rebootRequestPeriodMs <= 0) return this.actions.restoreAt ?? Infinity;
    return Math.max(this.nextRequestLook, this.now() + 1000);
  }

  private ask(step: Step, snap: Snapshot) {
    const now = snap.observation.now;
    if (step.action === 'checkHealth') {
      // Watch first, then read: a pod that turns Ready in between still wakes us.
      this.followPods(true);
      return this.asks.health(snap);
    }
    return step.action === 'checkGates' && step.preflight
      ? this.asks.preflight(now)
      : this.asks.gates(now, waivedGates(snap.request));
  }

  /** Starts or stops the watches (lock, own Node): held only while this node has something going on. */
  private follow(on: boolean): void {
    if (on && !this.unwatch) this.unwatch = this.d.watches.map((w) => w(this.wake));
    if (!on && this.unwatch) {
      for (const stop of this.unwatch) stop();
      this.unwatch = undefined;
    }
    const lock = on && !this.standingBy;
    if (lock && !this.unwatchLock) this.unwatchLock = this.d.lockWatch?.(this.wake);
    if (!lock && this.unwatchLock) {
      this.unwatchLock();
      this.unwatchLock = undefined;
    }
  }

  /** The pod watch exists only on a node settling after its reboot: an idle fleet watches no pods. */
  private followPods(on: boolean): void {
    if (on && !this.stopPodWatch) this.stopPodWatch = this.d.podHealth.watch(this.wake);
    if (!on && this.stopPodWatch) {
      this.stopPodWatch();
      this.stopPodWatch = undefined;
    }
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

/**
 * Waiting in line for the lock, not named while others are, and not woken for a turn: nothing the
 * lock does concerns this node until whoever names it marks its Node. (A closed gate, too: the lock
 * is read afresh when the gate opens.) Holders, the named, the marked, and everyone while nobody is
 * named (the first rush, a kured holder) watch the lock.
 */
function standsBy(step: Step, snap: Snapshot): boolean {
  const o = snap.observation;
  if (o.node.cycle || o.lock.mine || step.action !== 'wait' || step.phase !== 'waiting') return false;
  if (step.gate !== undefined) return true;
  // New in line (under the grace): a holder may have read the line just before our entry was in
  // it, and write names without us, or none at all, a moment later. Watching the lock a little
  // longer, we see that write; standing by at once, we would wait for a name nobody writes.
  const inLineSince = Number(snap.node.labels[WAITING_LABEL]) || o.now.getTime();
  if (o.now.getTime() - inLineSince < NAMED_GRACE_MS) return false;
  return (
    step.taint === true &&
    !o.lock.namedMe &&
    o.lock.named.length > 0 &&
    snap.node.annotations[TURN_ANNOTATION] === undefined
  );
}

function isQuestion(step: Step): boolean {
  return step.action === 'checkGates' || step.action === 'checkHealth';
}
