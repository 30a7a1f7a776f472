/**
 * What the agent tells people, fed by the steps and their outcomes: log lines, Kubernetes Events,
 * notifications and metrics. Nothing here decides or writes to the cluster; its only memory is
 * what it already said, so that a long wait is one line and one Event, not one per turn.
 */
import { NEEDED_ANNOTATION } from '../core/history.ts';
import { liveEntries } from '../core/lock/codec.ts';
import { zoneName } from '../core/lock/queue.ts';
import type { Logger } from '../core/log.ts';
import type { Phase } from '../core/phase.ts';
import type { Clock, EventsPort, Notifier, Telemetry } from '../core/ports.ts';
import type { Step } from './decide.ts';
import type { Snapshot } from './observe.ts';
import type { AgentSettings } from './settings.ts';

export interface ReportDeps {
  logger: Logger;
  events: EventsPort;
  notifier: Notifier;
  telemetry: Telemetry;
  clock: Clock;
}

export class Reporter {
  private lastLine = '';
  private lastWait = '';
  private settlingReported = false;
  private blockedSince: number | undefined;
  private blockedNotified = false;

  private readonly d: ReportDeps;
  private readonly s: AgentSettings;

  constructor(d: ReportDeps, s: AgentSettings) {
    this.d = d;
    this.s = s;
  }

  get logger(): Logger {
    return this.d.logger;
  }

  /** The decision of a turn: its log line and Event when they differ from the last, the metrics, a long block. */
  decided(step: Step, snap: Snapshot): void {
    this.line(step, snap);
    const { telemetry } = this.d;
    const o = snap.observation;
    telemetry.setRebootRequired(o.rebootRequired);
    // Since when, from the node's annotation (it survives restarts); the annotation is written this turn if new.
    const needed = Date.parse(snap.node.annotations[NEEDED_ANNOTATION] ?? '');
    telemetry.setRebootNeededSince?.(
      o.rebootRequired ? (Number.isNaN(needed) ? o.now : new Date(needed)) : undefined,
    );
    telemetry.setPhase(phaseOf(step, snap));
    telemetry.setLockHolders(liveEntries(snap.lock, o.now).map((e) => e.nodeID));
    telemetry.setBlocked(step.action === 'wait' ? step.gate : undefined);
    const cycle = o.node.cycle;
    telemetry.setHalted(cycle?.phase === 'settling' ? cycle.halted : undefined);
    this.longBlock(step);
  }

  /** A quiet turn: nothing of ours in the cluster and no reboot needed. */
  quiet(): void {
    this.d.telemetry.setRebootRequired(false);
    this.d.telemetry.setRebootNeededSince?.(undefined);
  }

  turnFailed(err: string, retryInMs: number): void {
    this.d.logger.error({ err, retryInMs }, 'reconcile failed; will retry');
  }
  contended(err: string, retryInMs: number): void {
    this.d.logger.warn(
      { err, retryInMs },
      'others kept changing the object while we wrote it (HTTP 409); will try again',
    );
  }
  busy(err: string, retryAfterMs: number | undefined, retryInMs: number): void {
    this.d.logger.warn({ err, retryAfterMs, retryInMs }, 'the API server is busy (HTTP 429); will try again');
  }

  // The hand-over.
  lostRace(reason: string): void {
    this.d.logger.info({ reason }, 'lost the race for the lock');
  }
  lockTaken(unschedulableBefore: boolean, zone: string): void {
    this.d.logger.info({ unschedulableBefore, zone }, 'took the lock');
    const where = this.s.maxZones > 0 ? ` (zone ${zoneName(zone)})` : '';
    this.d.events.record('Normal', 'LockAcquired', 'Lock', `Took the reboot lock${where}`);
  }
  passedOver(node: string): void {
    this.d.logger.info({ node }, 'the node named next let its turn pass; taking it out of line');
  }
  lineMoved(): void {
    this.d.logger.debug('the line moved meanwhile; looking again');
  }
  notFirst(next: string[]): void {
    this.d.logger.debug({ next }, 'not first in line');
  }
  ghostRemoved(holder: string): void {
    this.d.logger.warn({ holder }, 'removed the lock entry of a node that does not exist');
    this.d.events.record(
      'Warning',
      'GhostLockRemoved',
      'Lock',
      `Removed the lock entry of node ${holder}, which does not exist`,
    );
  }
  /** The lock's DaemonSet was recreated during our cycle: `putBack`, our entry written back in it. */
  lockReclaimed(putBack: boolean, uid: string): void {
    this.d.logger.warn({ putBack, lockUid: uid }, 'the lock DaemonSet was recreated during our cycle');
    if (putBack)
      this.d.events.record(
        'Warning',
        'LockReclaimed',
        'Lock',
        'The reboot lock was recreated during this reboot cycle; the node took its slot back',
      );
  }
  releasedGone(why: string): void {
    this.d.logger.warn({ why }, 'released the lock');
  }
  released(): void {
    this.d.logger.info('released the lock');
    this.d.events.record('Normal', 'LockReleased', 'Lock', 'Released the reboot lock');
  }

  // The node's cycle.
  drainDelay(delayMs: number): void {
    this.d.logger.info({ delayMs }, 'waiting --drain-delay before cordoning');
  }
  cordoning(): void {
    this.d.notifier.notify({ kind: 'drain', node: this.s.nodeId });
  }
  cordoned(): void {
    this.d.telemetry.setCordonedSince(this.d.clock.now());
    this.d.logger.info('cordoned');
    this.d.events.record('Normal', 'Cordoned', 'Cordon', 'Cordoned the node before draining it for a reboot');
  }
  draining(): void {
    this.d.events.record('Normal', 'Draining', 'Drain', 'Draining the node before a reboot');
  }
  drained(evicted: number, seconds: number): void {
    this.d.telemetry.observeDrain(seconds, true);
    this.d.logger.info({ evicted }, 'drained');
    this.d.events.record('Normal', 'Drained', 'Drain', `Drained: ${evicted} pod(s) evicted`);
  }
  drainFailed(reason: string, blockingPods: string[], seconds: number): void {
    this.d.telemetry.observeDrain(seconds, false);
    this.d.logger.warn({ reason, blockingPods }, 'drain failed');
    this.d.events.record('Warning', 'DrainFailed', 'Drain', `Drain failed: ${reason}`);
    this.d.notifier.notify({ kind: 'drainFailed', node: this.s.nodeId, detail: reason });
  }
  forcingReboot(): void {
    this.d.logger.warn('rebooting anyway (--force-reboot)');
  }
  rebootDelay(delayMs: number): void {
    this.d.logger.info({ delayMs }, 'waiting --reboot-delay before rebooting');
  }
  /** The Events so far are sent before the reboot request: it may take this process with it. */
  async rebooting(bootID: string): Promise<void> {
    this.d.notifier.notify({ kind: 'reboot', node: this.s.nodeId });
    this.d.logger.info({ bootID }, 'rebooting');
    this.d.events.record('Normal', 'Rebooting', 'Reboot', `Rebooting (boot ID before: ${bootID})`);
    await this.d.events.flush();
  }
  back(bootID: string, uncordoned: boolean, requestedAt: string | undefined): void {
    const { telemetry, logger, events } = this.d;
    if (requestedAt) telemetry.observeReboot((this.d.clock.now().getTime() - Date.parse(requestedAt)) / 1000);
    telemetry.setCordonedSince(undefined);
    const note = uncordoned
      ? 'Back on a new boot; uncordoned'
      : 'Back on a new boot; left cordoned (it was cordoned before)';
    logger.info({ bootID, uncordoned }, 'node is back');
    events.record('Normal', uncordoned ? 'Uncordoned' : 'RebootCompleted', 'Uncordon', note);
    if (uncordoned) this.d.notifier.notify({ kind: 'uncordon', node: this.s.nodeId });
  }
  settled(unhealthy: string | undefined, waitedS: number, wasHalted: boolean): void {
    const { logger, events, telemetry } = this.d;
    telemetry.setHalted(undefined);
    if (unhealthy) {
      logger.warn(
        { reason: unhealthy },
        'node not healthy; releasing the lock anyway (--halt-on-failure=false)',
      );
      events.record('Warning', 'NotHealthy', 'Release', `${unhealthy}; releasing the lock anyway`);
      return;
    }
    telemetry.observeHealthyWait(waitedS);
    const note = wasHalted ? 'Healthy again; the halted rollout goes on' : 'Back and healthy';
    logger.info(
      { waitedSeconds: Math.round(waitedS) },
      wasHalted ? 'node healthy again; rollout resumes' : 'node is healthy',
    );
    events.record('Normal', 'Healthy', 'Release', note);
  }
  halted(reason: string): void {
    const { logger, events, telemetry, notifier } = this.d;
    telemetry.setHalted(reason);
    logger.error({ reason }, 'node did not come back healthy; rollout halted, keeping the lock');
    events.record(
      'Warning',
      'RolloutHalted',
      'Halt',
      `Did not come back healthy within --post-reboot-timeout: ${reason}; keeping the reboot lock`,
    );
    notifier.notify({ kind: 'halted', node: this.s.nodeId, detail: reason });
  }
  aborting(reason: string, uncordon: boolean): void {
    this.d.logger.warn({ reason, uncordon }, 'giving this reboot attempt up');
    this.d.events.record(
      'Warning',
      'RebootAborted',
      'Abort',
      `${reason}; uncordoning and releasing the lock`,
    );
  }
  aborted(leftCordoned: boolean): void {
    this.d.telemetry.setCordonedSince(undefined);
    // A cordon we did not make is left alone, and so is anything else an operator set.
    if (leftCordoned) this.d.logger.info('node left cordoned: it was cordoned before the reboot cycle');
  }
  adopting(uncordon: boolean): void {
    this.d.logger.info(
      { uncordon },
      'holding the lock without a reboot cycle (kured left it, or we were killed just after taking it); finishing as kured would',
    );
  }
  adoptUncordoned(): void {
    this.d.notifier.notify({ kind: 'uncordon', node: this.s.nodeId });
  }
  adopted(uncordon: boolean): void {
    this.d.events.record(
      'Normal',
      'LockReleased',
      'Lock',
      `Released a lock this node held without a reboot cycle${uncordon ? '; uncordoned' : ''}`,
    );
  }

  /**
   * One log line per decision that differs from the previous one (a wait for the lock: when it
   * starts and when we become next, not at each holder's change). One Event when a wait starts
   * (or its gate changes), not at every hand-over: a rollout's Events grow with K, not K squared.
   */
  private line(step: Step, snap: Snapshot): void {
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
    this.waitEvent(step, snap);
    // One Event when the healthy wait begins, not one per pod that turns Ready.
    const settling = step.action === 'wait' && step.phase === 'settling';
    if (settling && !this.settlingReported) {
      this.d.events.record('Normal', 'WaitingForHealthy', 'Wait', `Back on a new boot; ${step.reason}`);
    }
    this.settlingReported = settling;
  }

  /** One Event when a wait starts (or its gate changes), not at every hand-over. */
  private waitEvent(step: Step, snap: Snapshot): void {
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

  /** One notification when a needed reboot stays blocked past --notify-blocked-after. */
  private longBlock(step: Step): void {
    if (step.action !== 'wait' || step.phase !== 'waiting') {
      this.blockedSince = undefined;
      this.blockedNotified = false;
      return;
    }
    const now = this.d.clock.now().getTime();
    this.blockedSince ??= now;
    const after = this.s.notifyBlockedAfterMs;
    if (after > 0 && !this.blockedNotified && now - this.blockedSince >= after) {
      this.blockedNotified = true;
      this.d.notifier.notify({ kind: 'blocked', node: this.s.nodeId, detail: step.reason });
    }
  }
}

function phaseOf(step: Step, snap: Snapshot): Phase {
  if (step.action === 'idle' || step.action === 'nodeGone') return 'idle';
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
    case 'forceReboot':
      return `drain failed; rebooting anyway (--force-reboot): ${step.reason}`;
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
    case 'nodeGone':
      return step.release ? 'our Node was deleted; releasing the lock' : 'our Node does not exist';
    case 'reclaim':
      return 'the lock DaemonSet was recreated during our cycle; taking our slot back';
  }
}
