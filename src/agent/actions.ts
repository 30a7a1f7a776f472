/**
 * Performs one step decided by decide.ts. Each action is idempotent and writes the cycle
 * annotation *before* the change it announces, so a kill at any instant leaves the cluster in a
 * state the next decision continues from (see the comments on ordering).
 */

import { CYCLE_ANNOTATION, type Cycle, serializeCycle } from '../core/cycle.ts';
import {
  appendHistory,
  type CycleRecord,
  carried,
  HISTORY_ANNOTATION,
  NEEDED_ANNOTATION,
  recordOf,
  seconds,
} from '../core/history.ts';
import { type LockEntry, liveEntries } from '../core/lock/codec.ts';
import { NAMED_GRACE_MS, pickNext, WAITING_LABEL, type Waiter, zoneName } from '../core/lock/queue.ts';
import type { Logger } from '../core/log.ts';
import type {
  Clock,
  Drainer,
  EventsPort,
  FleetPort,
  LockPort,
  NodeChange,
  NodePort,
  Notifier,
  Rebooter,
  Telemetry,
} from '../core/ports.ts';
import type { Step } from './decide.ts';
import type { Snapshot } from './observe.ts';
import type { AgentSettings } from './settings.ts';

export const KURED_IN_PROGRESS = 'weave.works/kured-reboot-in-progress';
export const KURED_MOST_RECENT = 'weave.works/kured-most-recent-reboot-needed';
/** A holder's Node answered 404: asked again this much later before its entry is removed. */
const GHOST_RECHECK_MS = 1500;

export interface ActionDeps {
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
}

export class Actions {
  private readonly d: ActionDeps;
  private readonly s: AgentSettings;
  /** Lock entries whose Node we saw exist (node and creation time): not asked again. */
  private readonly verified = new Set<string>();

  constructor(deps: ActionDeps, settings: AgentSettings) {
    this.d = deps;
    this.s = settings;
  }

  /** Performs the step; true when it changed something worth looking at again at once. */
  async perform(step: Step, snap: Snapshot, signal: AbortSignal): Promise<boolean> {
    switch (step.action) {
      case 'wait':
        return step.checkHolders === true && this.removeGhosts(snap);
      case 'claim':
        return this.claim(step.passOver, snap);
      default:
        await this.act(step, snap, signal);
        return false;
    }
  }

  private async act(step: Step, snap: Snapshot, signal: AbortSignal): Promise<unknown> {
    const cycle = snap.observation.node.cycle;
    switch (step.action) {
      case 'acquire':
        return this.acquire(snap, await this.waitersToName(snap, true));
      case 'drain':
        return this.drain(step.cordon, cycle!, snap, signal);
      case 'reboot':
        return this.reboot(step.bootID, cycle!, signal);
      case 'finish':
        return this.finish(step.uncordon, cycle!, snap);
      case 'settle':
        return this.settle(cycle!, step.unhealthy, snap);
      case 'halt':
        return this.halt(cycle!, step.reason);
      case 'release':
        return this.release(cycle, snap);
      case 'abort':
        return this.abort(step.uncordon, step.reason, cycle, snap);
      case 'adoptLock':
        return this.adoptLock(step.uncordon, snap);
      case 'forget':
        // A cycle forgotten after its reboot (the lock went meanwhile) still goes into the history.
        return this.writeCycle(undefined, {
          extra:
            cycle?.phase === 'releasing' || cycle?.phase === 'settling'
              ? this.history(cycle, snap.node.annotations, 'rebooted')
              : {},
        });
    }
  }

  /**
   * The waiting nodes (one LIST) when our write must name the next ones; undefined when the nodes
   * already named do. Taking a slot: others still named go after us (the chain of a wave), so only
   * the last of them lists. Freeing one: the named still fill the freed slots, except under the zone
   * rule, where the last holder of a zone frees slots for another zone than the named one's.
   */
  private async waitersToName(snap: Snapshot, taking: boolean): Promise<Waiter[] | undefined> {
    const named = snap.queue.next.filter((n) => n !== this.s.nodeId).length;
    const holders = liveEntries(snap.lock, snap.observation.now).length;
    const namedSuffice = taking
      ? named > 0
      : this.s.maxZones === 0 && named >= this.s.concurrency - holders + 1;
    return namedSuffice ? undefined : this.d.fleet.waiting();
  }

  /** Takes a slot, naming the next in line from `waiters` (or keeping those named) in the same write. True if taken. */
  private async acquire(snap: Snapshot, waiters: Waiter[] | undefined): Promise<boolean> {
    const outcome = await this.d.lock.acquire(this.s.nodeId, snap.node.unschedulable, {
      zone: snap.zone,
      waiters,
    });
    if (!outcome.ok) {
      this.d.logger.info({ reason: outcome.reason }, 'lost the race for the lock');
      return false;
    }
    // The lock is ours; record the cycle before cordoning, with whether the node was schedulable
    // before us (an admin's cordon is never undone). We are out of line: the label goes with it.
    const since = this.iso();
    await this.writeCycle(
      { phase: 'draining', cordonedByUs: !outcome.entry.metadata.unschedulable, since, started: since },
      { labels: { [WAITING_LABEL]: null } },
    );
    this.d.logger.info(
      { unschedulableBefore: outcome.entry.metadata.unschedulable, zone: snap.zone },
      'took the lock',
    );
    const zone = this.s.maxZones > 0 ? ` (zone ${zoneName(snap.zone)})` : '';
    this.d.events.record('Normal', 'LockAcquired', 'Lock', `Took the reboot lock${zone}`);
    return true;
  }

  /**
   * Nobody's turn was known: one LIST of the waiting nodes says who is first in line. If that is
   * us, take the free slot, or with the lock full name ourselves, so the others stop asking.
   */
  private async claim(passOver: string[], snap: Snapshot): Promise<boolean> {
    const { fleet, lock, logger } = this.d;
    for (const n of passOver) {
      logger.info({ node: n }, 'the node named next let its turn pass; taking it out of line');
      await fleet.dropWaiting(n);
    }
    const waiters = (await fleet.waiting()).filter((w) => !passOver.includes(w.name));
    if (!waiters.some((w) => w.name === this.s.nodeId)) {
      waiters.push({ name: this.s.nodeId, since: snap.observation.now.getTime(), zone: snap.zone });
    }
    const now = snap.observation.now;
    const holders = liveEntries(snap.lock, now).map((e) => e.nodeID);
    const heads = pickNext(waiters, holders, snap.queue.zones, this.s);
    const first = heads.includes(this.s.nodeId);
    if (first && snap.observation.lock.acquirable) return this.acquire(snap, waiters);
    // Name who is first: ourselves (the lock is full), or, when a turn was let pass or nobody
    // acted for a while, whoever it is, so that a dead head in line is passed over in its turn.
    const stalled = passOver.length > 0 || snap.observation.lock.unchangedMs >= NAMED_GRACE_MS;
    if (first || stalled) {
      if (!(await lock.name(heads, snap.lockVersion)))
        logger.debug('the line moved meanwhile; looking again');
    } else logger.debug({ next: heads }, 'not first in line');
    return false;
  }

  /**
   * First in line with the lock full: a holder whose Node does not exist (404, twice, a moment
   * apart) will never release; its entry is removed. A NotReady node is the TTL's business.
   */
  private async removeGhosts(snap: Snapshot): Promise<boolean> {
    const { fleet, lock, logger, events } = this.d;
    const entries = liveEntries(snap.lock, snap.observation.now);
    const ghosts: LockEntry[] = [];
    for (const e of entries) {
      const key = `${e.nodeID}|${e.created}`;
      if (this.verified.has(key) || (await fleet.exists(e.nodeID))) {
        this.verified.add(key);
        continue;
      }
      await this.d.clock.sleep(GHOST_RECHECK_MS);
      if (await fleet.exists(e.nodeID)) this.verified.add(key);
      else ghosts.push(e);
    }
    if (ghosts.length === 0) return false;
    const removed = await lock.remove(ghosts);
    for (const n of removed) {
      logger.warn({ holder: n }, 'removed the lock entry of a node that does not exist');
      events.record(
        'Warning',
        'GhostLockRemoved',
        'Lock',
        `Removed the lock entry of node ${n}, which does not exist`,
      );
    }
    return removed.length > 0;
  }

  /** Lets the lock go if we hold it (our Node was deleted: nobody else would). */
  async releaseIfHeld(why: string): Promise<void> {
    const { value } = await this.d.lock.read();
    if (!liveEntries(value, this.d.clock.now()).some((e) => e.nodeID === this.s.nodeId)) return;
    await this.d.lock.release(this.s.nodeId);
    this.d.logger.warn({ why }, 'released the lock');
  }

  private async drain(cordon: boolean, cycle: Cycle, snap: Snapshot, signal: AbortSignal): Promise<unknown> {
    const { node, notifier, events, logger, telemetry } = this.d;
    if (Object.keys(this.s.preRebootNodeLabels).length) await node.setLabels(this.s.preRebootNodeLabels);
    if (cordon) {
      if (this.s.drainDelayMs > 0) {
        logger.info({ delayMs: this.s.drainDelayMs }, 'waiting --drain-delay before cordoning');
        await this.d.clock.sleep(this.s.drainDelayMs, signal);
        if (signal.aborted) return;
      }
      notifier.notify({ kind: 'drain', node: this.s.nodeId });
      await node.setUnschedulable(true);
      telemetry.setCordonedSince(this.d.clock.now());
      logger.info('cordoned');
      events.record('Normal', 'Cordoned', 'Cordon', 'Cordoned the node before draining it for a reboot');
    }
    events.record('Normal', 'Draining', 'Drain', 'Draining the node before a reboot');
    const started = this.d.clock.now().getTime();
    const deadline =
      this.s.drainTimeoutMs > 0 ? new Date(Date.parse(cycle.since) + this.s.drainTimeoutMs) : undefined;
    const result = await this.d.drainer.drain(this.s.nodeId, { ...(deadline ? { deadline } : {}), signal });
    if (signal.aborted) return;
    telemetry.observeDrain((this.d.clock.now().getTime() - started) / 1000, result.ok);
    if (result.ok) {
      logger.info({ evicted: result.evicted }, 'drained');
      events.record('Normal', 'Drained', 'Drain', `Drained: ${result.evicted} pod(s) evicted`);
      const drainSeconds = seconds(started, this.d.clock.now().getTime());
      return this.writeCycle({
        ...cycle,
        phase: 'rebooting',
        bootID: snap.node.bootID,
        since: this.iso(),
        drainSeconds,
      });
    }
    logger.warn({ reason: result.reason, blockingPods: result.blockingPods }, 'drain failed');
    events.record('Warning', 'DrainFailed', 'Drain', `Drain failed: ${result.reason}`);
    notifier.notify({ kind: 'drainFailed', node: this.s.nodeId, detail: result.reason });
    if (this.s.forceReboot) {
      logger.warn('rebooting anyway (--force-reboot)');
      return this.writeCycle({ ...cycle, phase: 'rebooting', bootID: snap.node.bootID, since: this.iso() });
    }
    const { unschedulable } = await node.read();
    return this.abort(cycle.cordonedByUs && unschedulable, `drain failed: ${result.reason}`, cycle, snap);
  }

  private async reboot(bootID: string, cycle: Cycle, signal: AbortSignal): Promise<unknown> {
    const { logger, events } = this.d;
    if (cycle.bootID !== bootID) await this.writeCycle({ ...cycle, bootID });
    if (this.s.rebootDelayMs > 0) {
      logger.info({ delayMs: this.s.rebootDelayMs }, 'waiting --reboot-delay before rebooting');
      await this.d.clock.sleep(this.s.rebootDelayMs, signal);
      if (signal.aborted) return;
    }
    this.d.notifier.notify({ kind: 'reboot', node: this.s.nodeId });
    logger.info({ bootID }, 'rebooting');
    events.record('Normal', 'Rebooting', 'Reboot', `Rebooting (boot ID before: ${bootID})`);
    // The reboot may take this process with it: the Events so far are sent first.
    await events.flush();
    try {
      await this.d.rebooter.reboot();
    } catch (err) {
      const reason = `the reboot request failed: ${(err as Error).message}`;
      return this.abort(cycle.cordonedByUs, reason, cycle, undefined);
    }
    // Only now is the request known to be sent: from here a missing reboot is a timeout, not a retry.
    await this.writeCycle({ ...cycle, bootID, requestedAt: this.iso() });
  }

  private async finish(uncordon: boolean, cycle: Cycle, snap: Snapshot): Promise<void> {
    const { node, logger, events, telemetry } = this.d;
    // The request instant; when the node went down before it could be written, the phase's start plus --reboot-delay.
    const requested =
      cycle.phase === 'rebooting'
        ? cycle.requestedAt
          ? Date.parse(cycle.requestedAt)
          : Date.parse(cycle.since) + this.s.rebootDelayMs
        : undefined;
    // From here the lock is held until the node is healthy; the settling phase's clock starts now,
    // and pod states from before the reboot (before the rebooting phase began) count as stale.
    const back: Cycle =
      cycle.phase === 'rebooting'
        ? {
            phase: 'settling',
            cordonedByUs: cycle.cordonedByUs,
            since: this.iso(),
            rebootedAfter: cycle.since,
            ...(cycle.bootID ? { bootID: cycle.bootID } : {}),
            ...carried(cycle),
            ...(requested !== undefined
              ? { rebootSeconds: seconds(requested, readyAt(snap, requested, this.d.clock.now())) }
              : {}),
          }
        : cycle;
    // "Back" and the uncordon in one write: a kill before it finishes again, never reboots again.
    await this.writeCycle(back, uncordon ? { unschedulable: false } : {});
    if (cycle.phase === 'rebooting' && cycle.requestedAt) {
      telemetry.observeReboot((this.d.clock.now().getTime() - Date.parse(cycle.requestedAt)) / 1000);
    }
    telemetry.setCordonedSince(undefined);
    if (Object.keys(this.s.postRebootNodeLabels).length) await node.setLabels(this.s.postRebootNodeLabels);
    if (
      this.s.annotateNodes &&
      !snap.observation.rebootRequired &&
      snap.node.annotations[KURED_IN_PROGRESS]
    ) {
      await node.setAnnotations({ [KURED_IN_PROGRESS]: null });
    }
    const note = uncordon
      ? 'Back on a new boot; uncordoned'
      : 'Back on a new boot; left cordoned (it was cordoned before)';
    logger.info({ bootID: snap.node.bootID, uncordoned: uncordon }, 'node is back');
    events.record('Normal', uncordon ? 'Uncordoned' : 'RebootCompleted', 'Uncordon', note);
    if (uncordon) this.d.notifier.notify({ kind: 'uncordon', node: this.s.nodeId });
  }

  /**
   * Healthy (or given up on with --halt-on-failure=false): the release delay starts now. Without
   * one, the lock goes at once: a kill before the release settles again, one after it forgets.
   */
  private async settle(cycle: Cycle, unhealthy: string | undefined, snap: Snapshot): Promise<void> {
    const { logger, events, telemetry } = this.d;
    if (this.s.lockReleaseDelayMs > 0) {
      await this.writeCycle({
        phase: 'releasing',
        cordonedByUs: cycle.cordonedByUs,
        since: this.iso(),
        ...carried(cycle),
      });
    }
    telemetry.setHalted(undefined);
    const waitedS = (this.d.clock.now().getTime() - Date.parse(cycle.since)) / 1000;
    if (unhealthy) {
      logger.warn(
        { reason: unhealthy },
        'node not healthy; releasing the lock anyway (--halt-on-failure=false)',
      );
      events.record('Warning', 'NotHealthy', 'Release', `${unhealthy}; releasing the lock anyway`);
    } else {
      telemetry.observeHealthyWait(waitedS);
      const note = cycle.halted ? 'Healthy again; the halted rollout goes on' : 'Back and healthy';
      logger.info(
        { waitedSeconds: Math.round(waitedS) },
        cycle.halted ? 'node healthy again; rollout resumes' : 'node is healthy',
      );
      events.record('Normal', 'Healthy', 'Release', note);
    }
    if (this.s.lockReleaseDelayMs <= 0) await this.release(cycle, snap);
  }

  /** The rollout stops here: the cycle says why (status shows it), the lock stays ours, one notification. */
  private async halt(cycle: Cycle, reason: string): Promise<void> {
    const { logger, events, telemetry, notifier } = this.d;
    // The mark first: it is what status shows and what keeps a restarted agent from notifying again.
    await this.writeCycle({ ...cycle, halted: reason });
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

  private async release(cycle: Cycle | undefined, snap: Snapshot): Promise<void> {
    // Lock first, annotation second: a kill in between leaves "releasing" without a lock: forgotten.
    // The same write names who goes next, from one LIST of the waiting nodes.
    await this.d.lock.release(this.s.nodeId, await this.waitersToName(snap, false));
    // The cycle's end, its history entry and (the reboot done) the reboot-needed mark: one write.
    const needed: Record<string, null> = snap.observation.rebootRequired ? {} : { [NEEDED_ANNOTATION]: null };
    await this.writeCycle(undefined, {
      extra: { ...(cycle ? this.history(cycle, snap.node.annotations, 'rebooted') : {}), ...needed },
    });
    this.d.logger.info('released the lock');
    this.d.events.record('Normal', 'LockReleased', 'Lock', 'Released the reboot lock');
  }

  /** Gives an attempt up; the backoff phase is written first so a kill mid-way resumes the abort. */
  private async abort(
    uncordon: boolean,
    reason: string,
    cycle: Cycle | undefined,
    snap: Snapshot | undefined,
  ): Promise<void> {
    const { node, lock, logger, events, telemetry } = this.d;
    const backoff: Cycle =
      cycle?.phase === 'backoff'
        ? cycle
        : {
            phase: 'backoff',
            cordonedByUs: cycle?.cordonedByUs ?? false,
            since: this.iso(),
            until: new Date(this.d.clock.now().getTime() + this.s.periodMs).toISOString(),
            reason,
          };
    if (cycle?.phase !== 'backoff') {
      const annotations = snap?.node.annotations ?? (cycle ? (await node.read()).annotations : {});
      await this.writeCycle(backoff, {
        extra: cycle ? this.history(cycle, annotations, 'aborted', reason) : {},
      });
      logger.warn({ reason, uncordon }, 'giving this reboot attempt up');
      events.record('Warning', 'RebootAborted', 'Abort', `${reason}; uncordoning and releasing the lock`);
    }
    // Uncordon before releasing the lock: the release delay must never keep the node cordoned.
    if (uncordon) await node.setUnschedulable(false);
    telemetry.setCordonedSince(undefined);
    const value = snap?.lock ?? (await lock.read()).value;
    if (liveEntries(value, this.d.clock.now()).some((e) => e.nodeID === this.s.nodeId)) {
      await lock.release(this.s.nodeId, await this.d.fleet.waiting());
    }
    // A cordon we did not make is left alone, and so is anything else an operator set.
    if (!uncordon && !backoff.cordonedByUs)
      logger.info('node left cordoned: it was cordoned before the reboot cycle');
  }

  private async adoptLock(uncordon: boolean, snap: Snapshot): Promise<void> {
    const { node, logger, events } = this.d;
    logger.info(
      { uncordon },
      'holding the lock without a reboot cycle (kured left it, or we were killed just after taking it); finishing as kured would',
    );
    if (uncordon) {
      await node.setUnschedulable(false);
      if (Object.keys(this.s.postRebootNodeLabels).length) await node.setLabels(this.s.postRebootNodeLabels);
      this.d.notifier.notify({ kind: 'uncordon', node: this.s.nodeId });
    }
    if (
      this.s.annotateNodes &&
      !snap.observation.rebootRequired &&
      snap.node.annotations[KURED_IN_PROGRESS]
    ) {
      await node.setAnnotations({ [KURED_IN_PROGRESS]: null });
    }
    await this.d.lock.release(this.s.nodeId, await this.d.fleet.waiting());
    events.record(
      'Normal',
      'LockReleased',
      'Lock',
      `Released a lock this node held without a reboot cycle${uncordon ? '; uncordoned' : ''}`,
    );
  }

  /**
   * `extra` annotations, labels and the cordon ride on the same patch (all or nothing): the history
   * entry of a cycle is written with its end, the uncordon with "back".
   */
  private writeCycle(
    cycle: Cycle | undefined,
    also: NodeChange & { extra?: Record<string, string | null> } = {},
  ): Promise<unknown> {
    const { extra, ...change } = also;
    return this.d.node.setAnnotations(
      { ...extra, [CYCLE_ANNOTATION]: cycle ? serializeCycle(cycle) : null },
      change,
    );
  }

  /** The node's history annotation with this cycle's record first. */
  private history(
    cycle: Cycle,
    annotations: Record<string, string>,
    outcome: CycleRecord['outcome'],
    reason?: string,
  ): Record<string, string> {
    const record = recordOf(cycle, outcome, this.d.clock.now(), reason);
    return { [HISTORY_ANNOTATION]: appendHistory(annotations[HISTORY_ANNOTATION], record) };
  }

  private iso(): string {
    return this.d.clock.now().toISOString();
  }
}

/** When the node became Ready on its new boot: the condition's transition, else now (when we see it). */
function readyAt(snap: Snapshot, requested: number, now: Date): number {
  const since = snap.node.readySince ? Date.parse(snap.node.readySince) : Number.NaN;
  return since > requested && since <= now.getTime() ? since : now.getTime();
}
