/**
 * The ports the agent depends on. Each has one adapter against the cluster or the host, and one in
 * memory for unit tests (test/unit/fakes). Nothing here imports @kubernetes/client-node.
 */

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
  bootID: string;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  taints: { key: string; effect: string; value?: string }[];
}

export interface NodePort {
  readonly name: string;
  read(): Promise<NodeView>;
  setUnschedulable(unschedulable: boolean): Promise<unknown>;
  /** null removes an annotation. */
  setAnnotations(annotations: Record<string, string | null>): Promise<unknown>;
  setLabels(labels: Record<string, string>): Promise<unknown>;
  setPreferNoScheduleTaint(key: string, present: boolean): Promise<void>;
}

/** The cluster-wide lock (kured's DaemonSet annotation). Types from src/lock/codec.ts. */
export interface LockPort {
  read(): Promise<{ value: import('../lock/codec.ts').LockValue }>;
  acquire(nodeID: string, unschedulable: boolean): Promise<import('../lock/codec.ts').AcquireOutcome>;
  release(nodeID: string): Promise<void>;
}

export interface EventsPort {
  record(type: 'Normal' | 'Warning', reason: string, action: string, note: string): Promise<void>;
}

/** What the agent reports as metrics (src/observe/metrics.ts implements it). */
export interface Telemetry {
  setRebootRequired(required: boolean): void;
  setPhase(phase: import('./decide.ts').Phase): void;
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
