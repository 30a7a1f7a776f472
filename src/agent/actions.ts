/**
 * Performs one step decided by decide.ts and records its outcome on the Node; it chooses nothing
 * (a failed drain or reboot is written down, and the next decision says what follows). Each action
 * is idempotent and writes the cycle annotation *before* the change it announces, so a kill at any
 * instant leaves the cluster in a state the next decision continues from.
 */
import { CYCLE_ANNOTATION, type Cycle, IN_CYCLE_LABEL, inCycleLabel, serializeCycle } from '../core/cycle.ts';
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
import { TURN_ANNOTATION, WAITING_LABEL } from '../core/lock/queue.ts';
import type { Clock, CycleCompanion, Drainer, NodeChange, NodePort, Rebooter } from '../core/ports.ts';
import { fulfilledBy, REQUEST_ANNOTATION } from '../reboot/request.ts';
import type { Step } from './decide.ts';
import type { Handover } from './handover.ts';
import type { Snapshot } from './observe.ts';
import type { Reporter } from './reporting.ts';
import { afterRelease, protection, recordAtAcquire } from './scale-down.ts';
import type { AgentSettings } from './settings.ts';

export const KURED_IN_PROGRESS = 'weave.works/kured-reboot-in-progress';
export const KURED_MOST_RECENT = 'weave.works/kured-most-recent-reboot-needed';

export interface ActionDeps {
  node: NodePort;
  drainer: Drainer;
  rebooter: Rebooter;
  clock: Clock;
  /** Silences and the post-reboot hook (absent: none configured). */
  companion?: CycleCompanion;
  /** The boot ID of the kernel this agent runs on, where readable (recorded with the reboot). */
  kernelBootID?: string | undefined;
}

export class Actions {
  private readonly d: ActionDeps;
  private readonly s: AgentSettings;
  private readonly handover: Handover;
  private readonly report: Reporter;
  /** When the autoscaler/Karpenter protection is due to be put back (see endProtection). */
  restoreAt: number | undefined;

  constructor(d: ActionDeps, s: AgentSettings, handover: Handover, report: Reporter) {
    this.d = d;
    this.s = s;
    this.handover = handover;
    this.report = report;
  }

  /** Performs the step; true when it changed something worth looking at again at once. */
  async perform(step: Step, snap: Snapshot, signal: AbortSignal): Promise<boolean> {
    const cycle = snap.observation.node.cycle;
    switch (step.action) {
      case 'idle':
      case 'checkGates':
      case 'checkHealth':
        return false;
      case 'wait':
        if (step.nearTurn) await this.handover.getReady(snap);
        return step.checkHolders === true && this.handover.removeGhosts(snap);
      case 'claim': {
        const entry = await this.handover.claim(step.passOver, snap);
        if (entry) await this.begin(entry, snap);
        return entry !== undefined;
      }
      case 'acquire': {
        const entry = await this.handover.acquire(snap);
        if (entry) await this.begin(entry, snap);
        return false;
      }
      case 'drain':
        await this.drain(step.cordon, cycle!, snap, signal);
        return false;
      case 'forceReboot': {
        this.report.forcingReboot();
        const { drainFailed: _, ...drained } = cycle!;
        await this.writeCycle(this.rebooting(drained, snap));
        return false;
      }
      case 'reboot':
        await this.reboot(step.bootID, cycle!, signal);
        return false;
      case 'finish':
        await this.finish(step.uncordon, cycle!, snap);
        return false;
      case 'settle':
        await this.settle(cycle!, step.unhealthy, snap);
        return false;
      case 'halt':
        // The mark first: it is what status shows and what keeps a restarted agent from notifying again.
        await this.writeCycle({ ...cycle!, halted: step.reason });
        this.report.halted(step.reason);
        await this.d.companion?.ended(cycle!, 'halted', step.reason, snap.node.annotations);
        return false;
      case 'release':
        await this.release(cycle, snap);
        return false;
      case 'abort':
        await this.abort(step.uncordon, step.reason, cycle, snap);
        return false;
      case 'adoptLock':
        await this.adoptLock(step.uncordon, snap);
        return false;
      case 'forget':
        // A cycle forgotten after its reboot (the lock went meanwhile) still goes into the history.
        await this.writeCycle(undefined, {
          extra:
            cycle?.phase === 'releasing' || cycle?.phase === 'settling'
              ? this.history(cycle, snap.node.annotations, 'rebooted')
              : {},
        });
        return false;
      case 'nodeGone':
        if (step.release) await this.handover.releaseGone('our Node was deleted');
        throw snap.gone;
      case 'reclaim': {
        // The entry first, the new uid second: a kill in between puts back nothing twice.
        const uid = snap.observation.lock.uid!;
        if (step.putBack) await this.handover.putBack(snap, cycle!);
        await this.writeCycle({ ...cycle!, lockUid: uid });
        this.report.lockReclaimed(step.putBack, uid);
        return false;
      }
    }
  }

  /**
   * The marks of a turn on the Node: since when a reboot is needed (written before the gates, and
   * removed once none is), the waiting label while in line for the lock, the PreferNoSchedule taint
   * while waiting for it. One patch per transition, none while nothing changes. True if it wrote.
   */
  async mark(step: Step, snap: Snapshot): Promise<boolean> {
    const o = snap.observation;
    const { node } = this.d;
    if (o.node.gone) return false;
    // Not a mark that keeps the agent watching: it remembers when to put them back (restoreAt).
    await this.endProtection(snap);
    // The Node's marks of this turn go in one write (a thousand nodes getting in line, or leaving
    // it, together: one PATCH each, not two).
    const annotations: Record<string, string | null> = {
      ...(step.action === 'idle' && snap.node.annotations[NEEDED_ANNOTATION]
        ? { [NEEDED_ANNOTATION]: null }
        : {}),
      ...(o.rebootRequired && !o.node.cycle && !o.lock.mine ? this.neededMarks(snap) : {}),
    };
    const waiting = step.action === 'wait' && step.taint === true;
    // In line for the lock (src/core/lock/queue.ts): the label says since when; taking the lock removes it.
    const inLine = waiting || step.action === 'claim' || step.action === 'acquire';
    const labelled = WAITING_LABEL in snap.node.labels;
    if (inLine) {
      const since = (labelled && Number(snap.node.labels[WAITING_LABEL])) || o.now.getTime();
      await this.handover.getInLine(since, snap.zone, labelled);
    }
    let wrote = false;
    if (inLine !== labelled) {
      // Out of line, our turn's mark goes in the same write (see TURN_ANNOTATION).
      if (!inLine && snap.node.annotations[TURN_ANNOTATION] !== undefined)
        annotations[TURN_ANNOTATION] = null;
      await node.setAnnotations(annotations, {
        labels: { [WAITING_LABEL]: inLine ? String(o.now.getTime()) : null },
      });
      if (!inLine) await this.handover.leaveLine(true);
      wrote = true;
    } else if (Object.keys(annotations).length > 0) await node.setAnnotations(annotations);
    const key = this.s.preferNoScheduleTaint;
    if (!key) return wrote;
    const has = snap.node.taints.some((t) => t.key === key && t.effect === 'PreferNoSchedule');
    if (waiting === has) return wrote;
    await node.setPreferNoScheduleTaint(key, waiting);
    return true;
  }

  /**
   * Once the lock is released: the grace's end recorded, then at the first look after it the
   * autoscaler's and Karpenter's annotations put back as they were (./scale-down.ts). True if it wrote.
   */
  private async endProtection(snap: Snapshot): Promise<boolean> {
    const cycle = snap.observation.node.cycle;
    const holding =
      (cycle !== undefined && cycle.phase !== 'backoff') || snap.observation.lock.mine !== undefined;
    const { patch, restoreAt } = afterRelease(
      snap.node.annotations,
      holding,
      snap.observation.now,
      this.s.scaleDownGraceMs,
    );
    this.restoreAt = restoreAt;
    if (!patch) return false;
    await this.d.node.setAnnotations(patch);
    return true;
  }

  /** Ours (for `kured-ts plan`) always, kured's with --annotate-nodes: those not there yet. */
  private neededMarks(snap: Snapshot): Record<string, string> {
    const now = snap.observation.now.toISOString().replace(/\.\d+Z$/, 'Z');
    const patch: Record<string, string> = {};
    if (!snap.node.annotations[NEEDED_ANNOTATION]) patch[NEEDED_ANNOTATION] = now;
    if (this.s.annotateNodes && !snap.node.annotations[KURED_IN_PROGRESS]) {
      patch[KURED_IN_PROGRESS] = now;
      patch[KURED_MOST_RECENT] = now;
    }
    return patch;
  }

  /**
   * The lock is ours: the cycle is recorded before cordoning, with whether the node was schedulable
   * before us (an admin's cordon is never undone). We are out of line: the label goes with it.
   */
  private async begin(entry: LockEntry, snap: Snapshot): Promise<void> {
    const since = this.iso();
    const lockUid = snap.observation.lock.uid;
    await this.writeCycle(
      {
        phase: 'draining',
        cordonedByUs: !entry.metadata.unschedulable,
        since,
        started: since,
        ...(lockUid ? { lockUid } : {}),
      },
      {
        labels: { [WAITING_LABEL]: null },
        extra: {
          [TURN_ANNOTATION]: null,
          // What the autoscaler's and Karpenter's annotations were, before the cordon touches them.
          ...(this.s.scaleDownProtection ? recordAtAcquire(snap.node.annotations) : {}),
        },
      },
    );
    // Out of line: the label went with the cycle's write, our entry goes now (made by this very
    // look's mark when we got in line and took a free slot in the same turn).
    await this.handover.leaveLine(WAITING_LABEL in snap.node.labels);
    this.report.lockTaken(entry.metadata.unschedulable, snap.zone);
  }

  private async drain(cordon: boolean, cycle: Cycle, snap: Snapshot, signal: AbortSignal): Promise<void> {
    const { node, clock, companion } = this.d;
    if (companion && cycle.silences === undefined) {
      // Recorded before the cordon: a restarted agent expires what this one made.
      cycle = { ...cycle, ...(await companion.beforeCordon(cycle, snap.node.annotations)) };
      await this.writeCycle(cycle);
    }
    if (Object.keys(this.s.preRebootNodeLabels).length) await node.setLabels(this.s.preRebootNodeLabels);
    // Kept from the autoscaler and Karpenter from the cordon on (written with it when we cordon).
    const protect = protection(snap.node.annotations);
    if (protect && !cordon) await node.setAnnotations(protect);
    if (cordon) {
      if (this.s.drainDelayMs > 0) {
        this.report.drainDelay(this.s.drainDelayMs);
        await clock.sleep(this.s.drainDelayMs, signal);
        if (signal.aborted) return;
      }
      this.report.cordoning();
      await node.setAnnotations(protect ?? {}, { unschedulable: true });
      this.report.cordoned();
    }
    this.report.draining();
    const started = clock.now().getTime();
    const deadline =
      this.s.drainTimeoutMs > 0 ? new Date(Date.parse(cycle.since) + this.s.drainTimeoutMs) : undefined;
    const result = await this.d.drainer.drain(this.s.nodeId, { ...(deadline ? { deadline } : {}), signal });
    if (signal.aborted) return;
    const took = (clock.now().getTime() - started) / 1000;
    if (!result.ok) {
      this.report.drainFailed(result.reason, result.blockingPods, took);
      await this.writeCycle({ ...cycle, drainFailed: result.reason });
      return;
    }
    this.report.drained(result.evicted, took);
    const drainSeconds = seconds(started, clock.now().getTime());
    await this.writeCycle({ ...this.rebooting(cycle, snap), drainSeconds });
  }

  /** The rebooting phase begins: the boot IDs it must change from, the Node's and the kernel's. */
  private rebooting(cycle: Cycle, snap: Snapshot): Cycle {
    const { kernelBootID } = this.d;
    return {
      ...cycle,
      phase: 'rebooting',
      bootID: snap.node.bootID,
      since: this.iso(),
      ...(kernelBootID ? { kernelBootID } : {}),
    };
  }

  private async reboot(bootID: string, cycle: Cycle, signal: AbortSignal): Promise<void> {
    if (cycle.bootID !== bootID) await this.writeCycle({ ...cycle, bootID });
    if (this.s.rebootDelayMs > 0) {
      this.report.rebootDelay(this.s.rebootDelayMs);
      await this.d.clock.sleep(this.s.rebootDelayMs, signal);
      if (signal.aborted) return;
    }
    await this.report.rebooting(bootID);
    try {
      await this.d.rebooter.reboot();
    } catch (err) {
      await this.writeCycle({
        ...cycle,
        bootID,
        rebootFailed: `the reboot request failed: ${(err as Error).message}`,
      });
      return;
    }
    // Only now is the request known to be sent: from here a missing reboot is a timeout, not a retry.
    await this.writeCycle({ ...cycle, bootID, requestedAt: this.iso() });
  }

  private async finish(uncordon: boolean, cycle: Cycle, snap: Snapshot): Promise<void> {
    const { node } = this.d;
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
    // An operator's reboot request asked before this reboot began is done: it goes in the same write.
    const done = cycle.phase === 'rebooting' && snap.request && fulfilledBy(snap.request, cycle.since);
    await this.writeCycle(back, {
      ...(uncordon ? { unschedulable: false } : {}),
      ...(done ? { extra: { [REQUEST_ANNOTATION]: null } } : {}),
    });
    if (Object.keys(this.s.postRebootNodeLabels).length) await node.setLabels(this.s.postRebootNodeLabels);
    await this.clearInProgress(snap);
    this.report.back(snap.node.bootID, uncordon, cycle.phase === 'rebooting' ? cycle.requestedAt : undefined);
  }

  /**
   * Healthy (or given up on with --halt-on-failure=false): the release delay starts now. Without
   * one, the lock goes at once: a kill before the release settles again, one after it forgets.
   */
  private async settle(cycle: Cycle, unhealthy: string | undefined, snap: Snapshot): Promise<void> {
    if (this.s.lockReleaseDelayMs > 0) {
      await this.writeCycle({
        phase: 'releasing',
        cordonedByUs: cycle.cordonedByUs,
        since: this.iso(),
        ...carried(cycle),
      });
    }
    const waitedS = (this.d.clock.now().getTime() - Date.parse(cycle.since)) / 1000;
    this.report.settled(unhealthy, waitedS, cycle.halted !== undefined);
    await this.d.companion?.ended(
      cycle,
      unhealthy ? 'unhealthy' : 'healthy',
      unhealthy,
      snap.node.annotations,
    );
    if (this.s.lockReleaseDelayMs <= 0) await this.release(cycle, snap);
  }

  private async release(cycle: Cycle | undefined, snap: Snapshot): Promise<void> {
    // Lock first, annotation second: a kill in between leaves "releasing" without a lock: forgotten.
    await this.handover.release(snap);
    // The cycle's end, its history entry and (the reboot done) the reboot-needed mark: one write.
    const needed: Record<string, null> = snap.observation.rebootRequired ? {} : { [NEEDED_ANNOTATION]: null };
    await this.writeCycle(undefined, {
      extra: { ...(cycle ? this.history(cycle, snap.node.annotations, 'rebooted') : {}), ...needed },
    });
    this.report.released();
  }

  /** Gives an attempt up; the backoff phase is written first so a kill mid-way resumes the abort. */
  private async abort(
    uncordon: boolean,
    reason: string,
    cycle: Cycle | undefined,
    snap: Snapshot,
  ): Promise<void> {
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
      await this.writeCycle(backoff, {
        extra: cycle ? this.history(cycle, snap.node.annotations, 'aborted', reason) : {},
      });
      this.report.aborting(reason, uncordon);
      if (cycle) await this.d.companion?.ended(cycle, 'aborted', reason, snap.node.annotations);
    }
    // Uncordon before releasing the lock: the release delay must never keep the node cordoned.
    if (uncordon) await this.d.node.setUnschedulable(false);
    if (liveEntries(snap.lock, this.d.clock.now()).some((e) => e.nodeID === this.s.nodeId)) {
      await this.handover.release(snap, true);
    }
    this.report.aborted(!uncordon && !backoff.cordonedByUs);
  }

  private async adoptLock(uncordon: boolean, snap: Snapshot): Promise<void> {
    const { node } = this.d;
    this.report.adopting(uncordon);
    if (uncordon) {
      await node.setUnschedulable(false);
      if (Object.keys(this.s.postRebootNodeLabels).length) await node.setLabels(this.s.postRebootNodeLabels);
      this.report.adoptUncordoned();
    }
    await this.clearInProgress(snap);
    await this.handover.release(snap, true);
    this.report.adopted(uncordon);
  }

  /** kured's in-progress mark (--annotate-nodes) goes once the reboot is no longer needed. */
  private async clearInProgress(snap: Snapshot): Promise<void> {
    if (
      this.s.annotateNodes &&
      !snap.observation.rebootRequired &&
      snap.node.annotations[KURED_IN_PROGRESS]
    ) {
      await this.d.node.setAnnotations({ [KURED_IN_PROGRESS]: null });
    }
  }

  /**
   * `extra` annotations, labels and the cordon ride on the same patch (all or nothing): the history
   * entry of a cycle is written with its end, the uncordon with "back". The in-cycle label follows
   * the cycle in the same write.
   */
  private writeCycle(
    cycle: Cycle | undefined,
    also: NodeChange & { extra?: Record<string, string | null> } = {},
  ): Promise<unknown> {
    const { extra, labels, ...change } = also;
    return this.d.node.setAnnotations(
      { ...extra, [CYCLE_ANNOTATION]: cycle ? serializeCycle(cycle) : null },
      { ...change, labels: { ...labels, [IN_CYCLE_LABEL]: inCycleLabel(cycle) } },
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
