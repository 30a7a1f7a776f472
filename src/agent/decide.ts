/**
 * The decision core: from what the agent observed, the one next step and when to look again (as
 * controller-runtime's Reconcile returns a Result). Pure: no I/O, no clock, no memory of earlier
 * calls, so a restarted agent decides exactly as the one that was killed would have. Every choice
 * of the cycle is made here: which gates to ask and when (the pre-flight at the node's turn), what
 * a failed drain or reboot leads to, what a deleted Node does with the lock, when a TTL frees a
 * slot. test/unit/agent/decide.test.ts reads as its state table.
 */

import type { Cycle } from '../core/cycle.ts';
import type { LockEntry } from '../core/lock/codec.ts';
import type { Health, Phase } from '../core/phase.ts';

/** A gate's verdict as decide reads it: a closed one names the gate. */
export type Verdict = { open: true } | { open: false; gate: string; reason: string; retryAt?: Date };

export interface Observation {
  readonly now: Date;
  readonly rebootRequired: boolean;
  readonly node: {
    readonly name: string;
    /** Our Node does not exist (deleted, or KURED_NODE_ID is wrong): the other fields say nothing. */
    readonly gone?: boolean;
    readonly unschedulable: boolean;
    readonly ready: boolean;
    readonly bootID: string;
    readonly cycle: Cycle | undefined;
  };
  /** The boot ID of the kernel this agent runs on, where it can read it (src/reboot/kernel.ts). */
  readonly kernelBootID?: string;
  readonly lock: {
    /** Our unexpired entry in the lock, if we hold it. */
    readonly mine: LockEntry | undefined;
    /** The lock DaemonSet's uid (a cycle records it: another one means the DaemonSet was recreated). */
    readonly uid?: string;
    /** Could we take a slot now? (free slot, zone rule, no manual stop, readable) */
    readonly acquirable: boolean;
    /** Who holds it, in words. */
    readonly holders: string;
    /** An operator's manual stop or an unreadable value: nobody's turn comes. */
    readonly stopped: boolean;
    /** The annotation is unreadable (malformed): whether we hold the lock is unknown, not "no". */
    readonly unreadable?: boolean;
    /**
     * The nodes named to take the next free slots (src/core/lock/queue.ts), in order; `namedMe` if we
     * are one. They take their slots one at a time, in that order: each acquisition is one write
     * that the next named sees through its watch, so named nodes never race each other.
     */
    readonly named: readonly string[];
    readonly namedMe: boolean;
    /** How long this agent has seen the lock unchanged, in ms. */
    readonly unchangedMs: number;
    /** When the first entry held with a TTL expires: the slot frees itself without an event. */
    readonly expiresAt?: Date;
  };
  /**
   * The ordinary gates' verdict (all but the pre-flight), when known: asked in this turn, or
   * remembered from an earlier one (`gateAskedAt` then says when it was asked).
   */
  readonly gate: Verdict | undefined;
  readonly gateAskedAt?: Date;
  /** The pre-flight's last verdict (the gates asked right before the lock) and when it was asked. */
  readonly preflight?: { readonly verdict: Verdict; readonly askedAt: Date };
  /** Is the node healthy again after its reboot? Only evaluated when asked (checkHealth). */
  readonly health: Health | undefined;
  /** A random number in [0, 1), drawn for this turn: waiters woken together do not act together. */
  readonly jitter?: number;
}

export interface Policy {
  rebootTimeoutMs: number;
  lockReleaseDelayMs: number;
  /** How long a rebooted node may take to be healthy; 0 skips the healthy wait. */
  postRebootTimeoutMs: number;
  /** When it is not healthy in time: keep the lock (halt the rollout), or release as kured does. */
  haltOnFailure: boolean;
  /** How long named nodes have to take a free slot before anyone waiting may. */
  namedGraceMs: number;
  /** --force-reboot: a failed drain reboots anyway. */
  forceReboot?: boolean;
  /** Is there a pre-flight (a gate asked only right before the lock: the budgets)? */
  preflight?: boolean;
  /** How old a pre-flight verdict may be at the node's turn. */
  preflightFreshMs?: number;
  /** How long an ordinary gates' verdict stands (they cannot all be watched); 0: asked at every turn. */
  gateRecheckMs?: number;
  /** How often a rebooting node is looked at, on top of the Node watch. */
  nodePollMs?: number;
}

export type Step =
  /** Nothing to do: no reboot needed. */
  | { action: 'idle' }
  /**
   * A reboot is needed but something holds it back; `taint` (waiting for the lock) asks for the
   * PreferNoSchedule taint and the waiting label; `checkHolders`: first in line, look for ghosts;
   * `nearTurn`: named a few places behind others of a wave, get ready now (the reads a slot's
   * taking needs) so that at our turn we only write; `askPreflight`: the pre-flight too.
   */
  | {
      action: 'wait';
      phase: Phase;
      reason: string;
      until?: Date;
      taint?: boolean;
      gate?: string;
      checkHolders?: boolean;
      nearTurn?: boolean;
      askPreflight?: boolean;
    }
  /** Evaluate the gates first: the ordinary ones, or (`preflight`) those asked right before the lock. */
  | { action: 'checkGates'; preflight?: boolean }
  /** Evaluate the node's health first (the observation did not include it). */
  | { action: 'checkHealth' }
  /** Our turn: take a lock slot (naming who goes next), then record the cycle before touching the node. */
  | { action: 'acquire' }
  /**
   * Nobody's turn is known (or the named let a free slot pass): find who is first in line; if
   * that is us, take the slot or, the lock being full, name ourselves. `passOver`: the named
   * nodes that let their turn pass.
   */
  | { action: 'claim'; passOver: string[] }
  /** Cordon (if ours to cordon) and drain; on success go on to reboot, on failure record why. */
  | { action: 'drain'; cordon: boolean }
  /** The drain failed and --force-reboot is set: go on to the reboot all the same. */
  | { action: 'forceReboot'; reason: string }
  /** Record the boot ID and ask the host to reboot. */
  | { action: 'reboot'; bootID: string }
  /** The node is back on a new boot: uncordon if we cordoned it, then wait for it to be healthy. */
  | { action: 'finish'; uncordon: boolean }
  /** Healthy (or given up on, `unhealthy` says why): hold the lock for the release delay, then release. */
  | { action: 'settle'; unhealthy?: string }
  /** Not healthy within --post-reboot-timeout: keep the lock, mark the cycle halted, notify once. */
  | { action: 'halt'; reason: string }
  /** Hand the lock back, then forget the cycle. */
  | { action: 'release' }
  /** Give this attempt up: uncordon if ours, release the lock if held, back off. */
  | { action: 'abort'; uncordon: boolean; reason: string }
  /** A lock of ours with no cycle: kured's, or ours from a crash just after taking it. */
  | { action: 'adoptLock'; uncordon: boolean }
  /** The cycle is over: remove its annotation. */
  | { action: 'forget' }
  /** Our Node was deleted: let the lock go if we hold it (nobody else would); the turn then fails. */
  | { action: 'nodeGone'; release: boolean }
  /**
   * The lock's DaemonSet was deleted and created again during our cycle (its uid is not the one
   * the cycle recorded): put our entry back if the new lock lacks it (`putBack`), record the new uid.
   */
  | { action: 'reclaim'; putBack: boolean };

/**
 * The step, and when to look again if nothing wakes the agent earlier (a watch, the sentinel, the
 * --period resync): 'now' after a step that changes something, a deadline of the step, or
 * undefined (no deadline of its own).
 */
export interface Decision {
  step: Step;
  wake: 'now' | Date | undefined;
}

/**
 * How many places behind the first of the named a node gets ready for its turn: a couple of writes
 * away, so that what it read is still fresh when the turn comes.
 */
const READY_PLACES = 2;

/** The steps that change something: their outcome is looked at again at once. */
const PROGRESS: ReadonlySet<Step['action']> = new Set([
  'acquire',
  'drain',
  'forceReboot',
  'reboot',
  'finish',
  'settle',
  'halt',
  'release',
  'abort',
  'adoptLock',
  'forget',
  'nodeGone',
  'reclaim',
]);

export function decide(o: Observation, p: Policy): Decision {
  const step = nextStep(o, p);
  return { step, wake: wakeFor(step, o, p) };
}

function nextStep(o: Observation, p: Policy): Step {
  const cycle = o.node.cycle;
  const mine = o.lock.mine;
  if (o.node.gone) return { action: 'nodeGone', release: mine !== undefined };
  if (cycle) return continueCycle(o, cycle, p);
  if (mine) return { action: 'adoptLock', uncordon: !mine.metadata.unschedulable && o.node.unschedulable };
  if (!o.rebootRequired) return { action: 'idle' };
  const gate = standing(o, p);
  if (!gate) return { action: 'checkGates' };
  if (!gate.open) return closed(gate);
  const turn = takeTurn(o, p);
  // Our turn: right before the lock, the gates as they are now, the costly pre-flight included.
  if (turn.action === 'acquire' || (turn.action === 'claim' && o.lock.acquirable)) {
    if (o.gateAskedAt) return { action: 'checkGates' };
    if (!p.preflight) return turn;
    const preflight = freshPreflight(o, p);
    if (!preflight) return { action: 'checkGates', preflight: true };
    return preflight.open ? turn : closed(preflight);
  }
  // Named in a wave, a few places behind the nodes taking its other slots: get ready while waiting.
  // Further back, a pre-flight asked now would be stale at our turn (a wave of 50 takes its slots one
  // write after another), and every named node asking it at every step was most of a wave's reads.
  const place = o.lock.named.indexOf(o.node.name);
  if (turn.action === 'wait' && o.lock.acquirable && place > 0 && place <= READY_PLACES) {
    const askPreflight = p.preflight === true && !freshPreflight(o, p);
    return { ...turn, nearTurn: true, ...(askPreflight ? { askPreflight } : {}) };
  }
  return turn;
}

/** The ordinary gates' verdict if it still stands: asked this turn, or remembered and not yet due. */
function standing(o: Observation, p: Policy): Verdict | undefined {
  if (!o.gate || !o.gateAskedAt) return o.gate;
  const now = o.now.getTime();
  const opensAt = o.gate.open ? undefined : o.gate.retryAt?.getTime();
  const until = Math.min(o.gateAskedAt.getTime() + (p.gateRecheckMs ?? 0), opensAt ?? Infinity);
  return now < until ? o.gate : undefined;
}

function freshPreflight(o: Observation, p: Policy): Verdict | undefined {
  const asked = o.preflight;
  if (!asked || o.now.getTime() - asked.askedAt.getTime() >= (p.preflightFreshMs ?? 0)) return undefined;
  return asked.verdict;
}

function closed(v: Verdict & { open: false }): Step {
  const { reason, gate, retryAt } = v;
  return { action: 'wait', phase: 'waiting', reason, gate, ...(retryAt ? { until: retryAt } : {}) };
}

/** When to look again after this step, if nothing wakes the agent first. */
function wakeFor(step: Step, o: Observation, p: Policy): Decision['wake'] {
  if (PROGRESS.has(step.action)) return 'now';
  const now = o.now.getTime();
  let at = Infinity;
  // Waiting for a turn: a little jitter, so that waiters woken together do not act together.
  const jitter = (o.jitter ?? 0) * p.namedGraceMs;
  if (step.action === 'claim') at = now + p.namedGraceMs + jitter;
  if (step.action === 'wait') {
    if (step.until) at = Math.min(at, step.until.getTime() + (step.taint ? jitter : 0));
    // A gate that says when it opens (the window) is trusted; the others are asked again soon.
    if (step.gate && !step.until) at = Math.min(at, now + (p.gateRecheckMs ?? 0));
    if (step.phase === 'rebooting') at = Math.min(at, now + (p.nodePollMs ?? 0));
  }
  // A lock held with a TTL frees itself without an event: look again when it expires.
  if (o.lock.expiresAt) at = Math.min(at, o.lock.expiresAt.getTime() + 100);
  return at === Infinity ? undefined : new Date(at);
}

/** Gates open, waiting only for the lock: only the named (next in line) write, one at a time. */
function takeTurn(o: Observation, p: Policy): Step {
  const { lock } = o;
  const held = `waiting for the lock, held by ${lock.holders}`;
  if (lock.stopped) return { action: 'wait', phase: 'waiting', reason: held, taint: true };
  const graceLeft = p.namedGraceMs - lock.unchangedMs;
  const graceUntil = { until: new Date(o.now.getTime() + graceLeft) };
  if (lock.namedMe) {
    // Our turn when we are first of the named, or when the ones before us let it pass.
    const myTurn = lock.named[0] === o.node.name || graceLeft <= 0;
    if (lock.acquirable && myTurn) return { action: 'acquire' };
    if (lock.acquirable) {
      const before = lock.named.slice(0, lock.named.indexOf(o.node.name)).join(',');
      return {
        action: 'wait',
        phase: 'waiting',
        reason: `${held}; next after ${before}`,
        taint: true,
        ...graceUntil,
      };
    }
    return {
      action: 'wait',
      phase: 'waiting',
      reason: `${held}; next in line`,
      taint: true,
      checkHolders: true,
    };
  }
  if (lock.named.length === 0) return { action: 'claim', passOver: [] };
  if (lock.acquirable && graceLeft <= 0) return { action: 'claim', passOver: [...lock.named] };
  return {
    action: 'wait',
    phase: 'waiting',
    reason: `${held}; ${lock.named.join(',')} next`,
    taint: true,
    ...(lock.acquirable ? graceUntil : {}),
  };
}

function continueCycle(o: Observation, cycle: Cycle, p: Policy): Step {
  const now = o.now.getTime();
  const stillCordonedByUs = cycle.cordonedByUs && o.node.unschedulable;
  // Holding a slot in a lock object that is gone: the new one has forgotten us, not released us
  // (an operator's release leaves the uid as it was). Taken back first, whatever the phase.
  const recreated = cycle.lockUid !== undefined && o.lock.uid !== undefined && cycle.lockUid !== o.lock.uid;
  if (recreated && cycle.phase !== 'backoff' && !o.lock.unreadable)
    return { action: 'reclaim', putBack: !o.lock.mine };
  switch (cycle.phase) {
    case 'draining':
      // Lost the lock before rebooting (TTL, removed by hand): stop disrupting this node.
      if (!o.lock.mine)
        return (
          lockUnknown(o, 'draining') ?? {
            action: 'abort',
            uncordon: stillCordonedByUs,
            reason: 'the lock was lost while draining',
          }
        );
      if (cycle.drainFailed !== undefined) {
        if (p.forceReboot) return { action: 'forceReboot', reason: cycle.drainFailed };
        return { action: 'abort', uncordon: stillCordonedByUs, reason: `drain failed: ${cycle.drainFailed}` };
      }
      return { action: 'drain', cordon: cycle.cordonedByUs && !o.node.unschedulable };

    case 'rebooting': {
      if (o.node.bootID !== cycle.bootID) {
        // Rebooted. Finish even if the lock expired or was removed meanwhile: never leave it cordoned.
        if (o.node.ready) return { action: 'finish', uncordon: stillCordonedByUs };
        return { action: 'wait', phase: 'rebooting', reason: 'rebooted; waiting for the node to be Ready' };
      }
      // The kernel we run on booted since the phase was recorded, and the Node does not show it yet:
      // after a reboot the kubelet may start this pod before it reports the new boot ID. Asking for
      // a reboot now (the request's record never written) would reboot the node twice.
      if (cycle.kernelBootID && o.kernelBootID && cycle.kernelBootID !== o.kernelBootID)
        return {
          action: 'wait',
          phase: 'rebooting',
          reason: 'rebooted; waiting for the kubelet to report the new boot ID',
        };
      // The request itself failed (the command exited non-zero): give the attempt up.
      if (cycle.rebootFailed !== undefined)
        return { action: 'abort', uncordon: stillCordonedByUs, reason: cycle.rebootFailed };
      // Same boot: either the request was never confirmed sent (ask again: a second request to a
      // node already going down is harmless), or it was and the node has not gone down yet.
      if (!cycle.requestedAt) return { action: 'reboot', bootID: cycle.bootID ?? o.node.bootID };
      const deadline = Date.parse(cycle.requestedAt) + p.rebootTimeoutMs;
      if (now < deadline) {
        return {
          action: 'wait',
          phase: 'rebooting',
          reason: 'reboot requested; waiting for the node to go down',
          until: new Date(deadline),
        };
      }
      return {
        action: 'abort',
        uncordon: stillCordonedByUs,
        reason: `the node did not reboot within ${Math.round(p.rebootTimeoutMs / 1000)}s of the request`,
      };
    }

    case 'settling':
      return continueSettling(o, cycle, p, stillCordonedByUs);

    case 'releasing': {
      if (stillCordonedByUs) return { action: 'finish', uncordon: true };
      if (!o.lock.mine) return lockUnknown(o, 'releasing') ?? { action: 'forget' };
      const releaseAt = Date.parse(cycle.since) + p.lockReleaseDelayMs;
      if (now < releaseAt) {
        return {
          action: 'wait',
          phase: 'releasing',
          reason: 'holding the lock for --lock-release-delay',
          until: new Date(releaseAt),
        };
      }
      return { action: 'release' };
    }

    case 'backoff': {
      if (stillCordonedByUs || o.lock.mine)
        return { action: 'abort', uncordon: stillCordonedByUs, reason: cycle.reason ?? 'backing off' };
      const unknown = lockUnknown(o, 'waiting');
      if (unknown) return unknown;
      const until = Date.parse(cycle.until ?? cycle.since);
      if (now < until && o.rebootRequired) {
        return {
          action: 'wait',
          phase: 'waiting',
          reason: `backing off after: ${cycle.reason ?? 'a failed attempt'}`,
          until: new Date(until),
        };
      }
      return { action: 'forget' };
    }
  }
}

/**
 * An unreadable lock hides whether we hold it: a cycle that would end (or give up) because its
 * entry is gone waits instead, until an operator fixes the annotation. Ending it would leave our
 * entry behind once the old value is put back, a lock nobody releases (found by bench/chaos.ts).
 */
function lockUnknown(o: Observation, phase: Phase): Step | undefined {
  if (o.lock.mine || !o.lock.unreadable) return undefined;
  return {
    action: 'wait',
    phase,
    reason: `the lock is unreadable: ${o.lock.holders}; waiting until it is fixed`,
  };
}

/**
 * Back on a new boot and uncordoned, holding the lock until the node is healthy: its DaemonSet pods
 * and selected pods Ready (and, if asked, no alert firing) within --post-reboot-timeout. Otherwise
 * the rollout halts here: the lock stays, so no other node goes down, until the node is healthy or
 * an operator releases the lock.
 */
function continueSettling(o: Observation, cycle: Cycle, p: Policy, stillCordonedByUs: boolean): Step {
  // Killed between recording "back" and the uncordon: the uncordon never waits for health.
  if (stillCordonedByUs) return { action: 'finish', uncordon: true };
  // Released by an operator (kured-ts resume, or the lock removed by hand): the rollout goes on.
  if (!o.lock.mine) return lockUnknown(o, 'settling') ?? { action: 'forget' };
  if (p.postRebootTimeoutMs <= 0) return { action: 'settle' };
  if (!o.health) return { action: 'checkHealth' };
  if (o.health.healthy) return { action: 'settle' };
  const { reason, retryAt } = o.health;
  const deadline = Date.parse(cycle.since) + p.postRebootTimeoutMs;
  if (o.now.getTime() < deadline) {
    const until = new Date(Math.min(deadline, retryAt?.getTime() ?? deadline));
    return { action: 'wait', phase: 'settling', reason: `back; waiting until healthy: ${reason}`, until };
  }
  const late = `not healthy within ${Math.round(p.postRebootTimeoutMs / 1000)}s of being back: ${reason}`;
  if (!p.haltOnFailure) return { action: 'settle', unhealthy: late };
  if (!cycle.halted) return { action: 'halt', reason };
  return {
    action: 'wait',
    phase: 'halted',
    reason: `rollout halted: ${reason}`,
    ...(retryAt ? { until: retryAt } : {}),
  };
}
