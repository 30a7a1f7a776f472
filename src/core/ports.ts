/**
 * The ports the agent depends on. Each has one adapter against the cluster or the host, and one in
 * memory for unit tests (test/unit/fakes). Nothing here imports @kubernetes/client-node.
 */
import type { Cycle } from './cycle.ts';
import type { AcquireOutcome, Forgotten, LockEntry, LockValue } from './lock/codec.ts';
import type { Queue, Waiter } from './lock/queue.ts';

/** Time, injectable so unit tests run on a fake clock. */
export interface Clock {
  now(): Date;
  /** Resolves after ms, or early (without throwing) when signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Does this node need a reboot? (the sentinel file or the sentinel command) */
export interface Sentinel {
  rebootRequired(): Promise<boolean>;
  /** Calls onChange when the answer may have changed (file watch); returns a stop function. */
  watch(onChange: () => void): () => void;
}

/** Something that can hold a reboot back: the window, Prometheus alerts, blocking pods. */
export interface Gate {
  readonly name: string;
  /** Asked only when this node could take the lock now (a costly pre-flight, e.g. budgets). */
  readonly beforeLock?: boolean;
  check(now: Date): Promise<GateVerdict>;
}
/** A closed gate may know when it opens again (the window does): the agent sleeps until then. */
export type GateVerdict = { open: true } | { open: false; reason: string; retryAt?: Date };

export type NotificationKind = 'drain' | 'reboot' | 'uncordon' | 'drainFailed' | 'blocked' | 'halted';
export interface Notification {
  kind: NotificationKind;
  node: string;
  /** Extra words for the failure, blocked and halted templates (the cause). */
  detail?: string;
}
/** Fire and forget: a notifier never throws and never delays the reboot cycle. */
export interface Notifier {
  notify(n: Notification): void;
}

/**
 * The node's pods after a reboot: which keep it from counting as back. Followed by one watch of the
 * node's pods, started only while the node settles (an idle agent watches no pods).
 */
export interface PodHealth {
  /** Why the node is not healthy yet, one phrase per pod (empty: healthy); pod states older than `since` are stale. */
  problems(since: Date | undefined): Promise<string[]>;
  /** Calls onChange when one of the node's pods may have changed readiness; returns a stop function. */
  watch(onChange: () => void): () => void;
}

export interface Rebooter {
  /** Asks the host to reboot. Resolves once the request is made, not when the node is back. */
  reboot(): Promise<void>;
}

export interface DrainOptions {
  /** Absolute deadline of the whole drain; undefined = no timeout. */
  deadline?: Date;
  signal?: AbortSignal;
}
export type DrainResult =
  | { ok: true; evicted: number }
  | { ok: false; reason: string; blockingPods: string[]; permanent: boolean };
export interface Drainer {
  /** Evicts what `kubectl drain` would; the node must already be cordoned. */
  drain(node: string, opts: DrainOptions): Promise<DrainResult>;
}

/** The agent's own Node, as far as the agent cares. */
export interface NodeView {
  name: string;
  uid: string;
  resourceVersion: string;
  unschedulable: boolean;
  ready: boolean;
  /** When the Ready condition last changed (RFC 3339), if the API said. */
  readySince?: string;
  bootID: string;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  taints: { key: string; effect: string; value?: string }[];
}

/** Our own Node does not exist (deleted, or KURED_NODE_ID is wrong). */
export class NodeGone extends Error {}

/** What else one write of a Node may change with its annotations (one patch: all or nothing). */
export interface NodeChange {
  labels?: Record<string, string | null>;
  unschedulable?: boolean;
}

export interface NodePort {
  readonly name: string;
  /** Throws NodeGone when the Node does not exist. */
  read(): Promise<NodeView>;
  setUnschedulable(unschedulable: boolean): Promise<unknown>;
  /** null removes an annotation (or label); labels and the cordon ride in the same write. */
  setAnnotations(annotations: Record<string, string | null>, also?: NodeChange): Promise<unknown>;
  /** null removes a label. */
  setLabels(labels: Record<string, string | null>): Promise<unknown>;
  setPreferNoScheduleTaint(key: string, present: boolean): Promise<void>;
}

/** The lock as read: kured's annotation, the hand-over beside it, and the object's version. */
export interface LockRead {
  /** The lock annotation verbatim (undefined: none). */
  annotation?: string;
  value: LockValue;
  queue: Queue;
  resourceVersion: string;
  /** The lock DaemonSet's uid: another one than a cycle recorded means it was deleted and created again. */
  uid: string;
  /** How many nodes the lock DaemonSet runs on (its status; 0: not said): the size of the fleet. */
  fleetSize?: number;
  /** The `kured-ts pause` record beside the lock (absent: not paused). */
  pause?: import('./lock/pause.ts').ParsedPause;
}

export interface AcquireOptions {
  /** Our zone ('' without the zone label). */
  zone: string;
  /** The nodes waiting for the lock: given, the write names the next ones. */
  waiters?: Waiter[];
  /** Wakes the nodes about to be named (not named before), before the write that names them. */
  wake?: (nodes: string[]) => Promise<void>;
  /** Holders the lock forgot (a recreated DaemonSet): counted, and put back by the same write. */
  forgotten?: readonly Forgotten[];
}

/** The cluster-wide lock (kured's DaemonSet annotation) and its hand-over (src/core/lock/queue.ts). */
export interface LockPort {
  read(): Promise<LockRead>;
  acquire(nodeID: string, unschedulable: boolean, opts: AcquireOptions): Promise<AcquireOutcome>;
  /** Lets go; given the waiting nodes, names the next ones in the same write. */
  release(nodeID: string, waiters?: Waiter[], wake?: (nodes: string[]) => Promise<void>): Promise<void>;
  /**
   * Names the next node(s) without touching the lock, only if the lock object is still at
   * `basis` (the resourceVersion the names were chosen from): false if it changed meanwhile.
   */
  name(next: string[], basis: string): Promise<boolean>;
  /** Removes these entries (ghosts) if still there as read; returns the nodes removed. */
  remove(entries: LockEntry[]): Promise<string[]>;
  /**
   * Puts a holder the lock forgot back in it (our own entry, after the DaemonSet was recreated during
   * our cycle), whatever --concurrency says; false when the lock is an operator's stop or unreadable.
   */
  putBack(holder: Forgotten): Promise<boolean>;
}

/** The other nodes, as far as the hand-over needs them, and the waiting line (ours included). */
export interface FleetPort {
  /** false: no waiting line (not granted): nobody is named, free slots are raced for. */
  readonly hasLine?: boolean;
  /**
   * The waiting line from its head, first come first served, read in pages until `enough` says
   * the part read decides who is named (without it: the whole line).
   */
  waiting(enough?: (line: Waiter[]) => boolean): Promise<Waiter[]>;
  /** Puts our node in line, since then (before its label says so: src/kube/line.ts). */
  join(since: number, zone: string): Promise<void>;
  /** Takes our node out of the line (after its label is gone). */
  leave(): Promise<void>;
  /** Does this Node exist? (false only on 404) */
  exists(node: string): Promise<boolean>;
  /** Takes a node that let its turn pass out of line (it labels itself again if still waiting). */
  dropWaiting(node: string): Promise<void>;
  /** Marks these nodes' turn on their own Node (TURN_ANNOTATION): their Node watch wakes them. */
  markTurn(nodes: string[]): Promise<void>;
  /**
   * The nodes in a cycle whose slot was taken in another lock DaemonSet than `lockUid` (one
   * metadata-only LIST by IN_CYCLE_LABEL, src/core/cycle.ts): holders a recreated lock forgot.
   */
  forgotten(lockUid: string): Promise<Forgotten[]>;
}

/**
 * Kubernetes Events, best effort and off the cycle's path: record() sends in the background and
 * returns at once; flush() waits for what was recorded (before the reboot, which may take the
 * process with it).
 */
export interface EventsPort {
  record(type: 'Normal' | 'Warning', reason: string, action: string, note: string): void;
  flush(): Promise<void>;
}

/** What the agent reports as metrics (src/observe/metrics.ts implements it). */
export interface Telemetry {
  setRebootRequired(required: boolean): void;
  /** Since when this node has needed a reboot (its reboot-needed annotation); undefined: it does not. */
  setRebootNeededSince?(since: Date | undefined): void;
  setPhase(phase: import('./phase.ts').Phase): void;
  setLockHolders(holders: string[]): void;
  setBlocked(gate: string | undefined): void;
  observeDrain(seconds: number, ok: boolean): void;
  observeReboot(seconds: number): void;
  setCordonedSince(since: Date | undefined): void;
  /** Why the rollout is halted on this node; undefined when it is not. */
  setHalted(reason: string | undefined): void;
  /** A rebooted node became healthy this long after it was back Ready. */
  observeHealthyWait(seconds: number): void;
}

/**
 * What goes along with a reboot cycle outside the cluster (src/agent/companion.ts): Alertmanager
 * silences and the post-reboot hook. Best effort: a failure is reported, never stops the cycle.
 */
export interface CycleCompanion {
  /** Before the cordon: what to record in the cycle (the silences' ids) before touching the node. */
  beforeCordon(cycle: Cycle, annotations: Record<string, string>): Promise<Partial<Cycle>>;
  /** The cycle is over: healthy, released unhealthy, halted, or given up. */
  ended(
    cycle: Cycle,
    outcome: 'healthy' | 'unhealthy' | 'halted' | 'aborted',
    reason: string | undefined,
    annotations: Record<string, string>,
  ): Promise<void>;
}
