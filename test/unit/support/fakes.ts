import type { AgentSettings } from '../../../src/agent/settings.ts';

/**
 * In-memory implementations of the agent's ports, for unit tests. The "cluster" they share is a
 * plain object that survives an agent being thrown away, like the real cluster survives a kill.
 * A write budget makes any write throw once spent: a kill between any two writes.
 */

import {
  type AcquireOutcome,
  acquire,
  type Forgotten,
  liveEntries,
  parseLock,
  putBack,
  release,
} from '../../../src/core/lock/codec.ts';
import { parsePause } from '../../../src/core/lock/pause.ts';
import {
  holderZones,
  nameNext,
  parseQueue,
  type Queue,
  serializeQueue,
  type Waiter,
} from '../../../src/core/lock/queue.ts';
import type {
  Clock,
  Drainer,
  DrainResult,
  EventsPort,
  FleetPort,
  LockPort,
  NodePort,
  NodeView,
  Notification,
  Notifier,
  PodHealth,
  Rebooter,
  Sentinel,
  Telemetry,
} from '../../../src/core/ports.ts';

export class Killed extends Error {}

export class FakeClock implements Clock {
  private t: number;
  constructor(start = Date.parse('2026-11-23T12:00:00Z')) {
    this.t = start;
  }
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t += ms;
  }
  /** Sleeping moves fake time forward at once: tests never wait for real. */
  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }
}

/** Real time, every sleep cut to a few ms: an agent's own loop (start()) turns quickly. */
export const fastClock = {
  now: () => new Date(),
  sleep: (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Math.min(ms, 5));
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    }),
} as FakeClock;

/** The world outside the agent: one node, the lock annotation, the host. */
export class World {
  node: NodeView = {
    name: 'n1',
    uid: 'uid-1',
    resourceVersion: '1',
    unschedulable: false,
    ready: true,
    bootID: 'boot-1',
    annotations: {},
    labels: {},
    taints: [],
  };
  lock: string | undefined;
  /** The hand-over annotation beside the lock (src/core/lock/queue.ts). */
  queue: string | undefined;
  /** Other nodes waiting for the lock. */
  otherWaiters: Waiter[] = [];
  /** Our own entry in the line (src/kube/line.ts): since when, if in it. */
  lineEntry: number | undefined;
  /** The zone our entry in the line records. */
  lineZone = '';
  /** How many entries of the line one read returns, and how many reads were made. */
  linePage = Number.POSITIVE_INFINITY;
  linePagesRead = 0;
  /** Nodes whose turn was marked on their Node (TURN_ANNOTATION), in order. */
  turnsMarked: string[] = [];
  /** Nodes that exist besides ours (a lock holder not listed here is a ghost). */
  otherNodes = new Set<string>(['n2', 'n3']);
  /** The `kured-ts pause` record beside the lock. */
  pause: string | undefined;
  /** The lock DaemonSet's uid (a new one: deleted and created again). */
  lockUid = 'lock-uid-1';
  /** Other nodes in a cycle of another lock DaemonSet than the current one (IN_CYCLE_LABEL). */
  inCycleElsewhere: Forgotten[] = [];
  /** How often the nodes in a cycle of another lock DaemonSet were listed. */
  forgottenReads = 0;
  sentinel = false;
  /** The boot ID of the host's kernel, new at each reboot: what an agent started now reads. */
  kernelBootID = 'kernel-1';
  /** The node's annotations when the host was asked to reboot. */
  annotationsAtReboot: Record<string, string> | undefined;
  reboots = 0;
  /** Writes left before the agent is "killed"; Infinity = never. */
  budget = Number.POSITIVE_INFINITY;
  /** Writes made so far (a probe run counts them, to kill before each one in turn). */
  writes = 0;
  drainResult: DrainResult = { ok: true, evicted: 2 };
  /** Set: the host refuses the reboot request with this error (the command exits non-zero). */
  rebootRefused: string | undefined;
  notifications: Notification[] = [];
  events: string[] = [];
  maxCordonedByAgent = 0;
  /** The node's pods after a reboot: what keeps it from counting as back, until podsReadyAt. */
  podProblems: string[] = ['pod kube-system/cni-x not Ready'];
  /** When (fake time, ms) the node's pods are all Ready; Infinity: never. */
  podsReadyAt = Number.NEGATIVE_INFINITY;
  /** When (fake time, ms) the lock was last released. */
  lockReleasedAt: number | undefined;
  /** What the agent last reported as the reason the rollout is halted. */
  halted: string | undefined;
  /** Pod watches open right now (the agent should hold one only while the node settles). */
  podWatches = 0;

  spend(): void {
    if (this.budget <= 0) throw new Killed('killed');
    this.budget--;
    this.writes++;
  }

  /** What the host does when asked to reboot: goes down, comes back with a new boot ID, no sentinel. */
  rebootNow(): void {
    this.reboots++;
    this.kernelBootID = `kernel-${this.reboots + 1}`;
    this.node = { ...this.node, bootID: `boot-${this.reboots + 1}`, ready: true };
    this.sentinel = false;
  }
}

export function ports(world: World, clock: FakeClock, concurrency = 1) {
  const node: NodePort = {
    name: 'n1',
    read: async () => structuredClone(world.node),
    setUnschedulable: async (u) => {
      world.spend();
      world.node.unschedulable = u;
    },
    setAnnotations: async (a, also) => {
      world.spend();
      const l = also?.labels;
      if (also?.unschedulable !== undefined) world.node.unschedulable = also.unschedulable;
      for (const [k, v] of Object.entries(a)) {
        if (v === null) delete world.node.annotations[k];
        else world.node.annotations[k] = v;
      }
      for (const [k, v] of Object.entries(l ?? {})) {
        if (v === null) delete world.node.labels[k];
        else world.node.labels[k] = v;
      }
    },
    setLabels: async (l) => {
      world.spend();
      for (const [k, v] of Object.entries(l)) {
        if (v === null) delete world.node.labels[k];
        else world.node.labels[k] = v;
      }
    },
    setPreferNoScheduleTaint: async (key, present) => {
      world.spend();
      world.node.taints = world.node.taints.filter((t) => t.key !== key);
      if (present) world.node.taints.push({ key, effect: 'PreferNoSchedule' });
    },
  };
  const holders = () => liveEntries(parseLock(world.lock), clock.now()).map((e) => e.nodeID);
  const writeQueue = (q: Queue) => {
    world.queue = serializeQueue(q) ?? undefined;
  };
  const rule = { concurrency, maxZones: 0 };
  // Any change of the lock or its hand-over is a new version (tests also set them directly).
  const version = () => JSON.stringify([world.lock ?? null, world.queue ?? null]);
  const lock: LockPort = {
    read: async () => ({
      value: parseLock(world.lock),
      queue: parseQueue(world.queue),
      resourceVersion: version(),
      uid: world.lockUid,
      pause: parsePause(world.pause),
    }),
    acquire: async (nodeID, unschedulable, opts): Promise<AcquireOutcome> => {
      const queue = parseQueue(world.queue);
      const out = acquire(parseLock(world.lock), {
        nodeID,
        unschedulable,
        concurrency,
        ttlMs: 0,
        now: clock.now(),
        ...(opts.forgotten ? { forgotten: opts.forgotten } : {}),
      });
      if (!out.ok && out.annotation !== undefined) {
        world.spend();
        world.lock = out.annotation;
      }
      if (out.ok) {
        const hs = [...new Set([...holders(), nodeID])];
        const zones = holderZones(queue.zones, hs, { name: nodeID, zone: opts.zone });
        const next = opts.waiters
          ? nameNext(opts.waiters, hs, zones, rule)
          : queue.next.filter((n) => n !== nodeID);
        // As the store does: the newly named are woken before the write that names them.
        const newlyNamed = next.filter((n) => !queue.next.includes(n));
        if (queue.next.length > 0 && newlyNamed.length > 0) await opts.wake?.(newlyNamed);
        world.spend();
        world.lock = out.annotation;
        writeQueue({ next, zones });
      }
      return out;
    },
    release: async (nodeID, waiters, wake) => {
      const queue = parseQueue(world.queue);
      const hs = holders().filter((h) => h !== nodeID);
      const zones = holderZones(queue.zones, hs);
      const named = waiters ? nameNext(waiters, hs, zones, rule) : queue.next;
      const newlyNamed = named.filter((n) => !queue.next.includes(n));
      if (queue.next.length > 0 && newlyNamed.length > 0) await wake?.(newlyNamed);
      world.spend();
      const next = release(parseLock(world.lock), nodeID, concurrency, clock.now());
      if (next !== false) world.lock = next;
      world.lockReleasedAt = clock.now().getTime();
      writeQueue({ next: named, zones });
    },
    name: async (next, basis) => {
      if (basis !== version()) return false;
      world.spend();
      writeQueue({ ...parseQueue(world.queue), next });
      return true;
    },
    putBack: async (holder) => {
      const next = putBack(parseLock(world.lock), [holder], { concurrency, ttlMs: 0, now: clock.now() });
      if (next === false) return false;
      world.spend();
      world.lock = next;
      return true;
    },
    remove: async (entries) => {
      const gone = liveEntries(parseLock(world.lock), clock.now()).filter((e) =>
        entries.some((g) => g.nodeID === e.nodeID && g.created === e.created),
      );
      if (gone.length === 0) return [];
      world.spend();
      for (const g of gone) {
        const next = release(parseLock(world.lock), g.nodeID, concurrency, clock.now());
        if (next !== false) world.lock = next;
      }
      return gone.map((g) => g.nodeID);
    },
  };
  const fleet: FleetPort = {
    // In order and a page at a time, as the API server serves the line (src/kube/line.ts).
    waiting: async (enough) => {
      const own =
        world.lineEntry === undefined ? [] : [{ name: 'n1', since: world.lineEntry, zone: world.lineZone }];
      const line = [...own, ...world.otherWaiters].sort(
        (a, b) => a.since - b.since || (a.name < b.name ? -1 : 1),
      );
      const read: Waiter[] = [];
      do {
        read.push(...line.slice(read.length, read.length + world.linePage));
        world.linePagesRead++;
      } while (read.length < line.length && !enough?.(read));
      return read;
    },
    join: async (since, zone) => {
      world.spend();
      world.lineEntry = since;
      world.lineZone = zone;
    },
    leave: async () => {
      world.spend();
      world.lineEntry = undefined;
    },
    exists: async (n) => n === 'n1' || world.otherNodes.has(n),
    forgotten: async () => {
      world.forgottenReads++;
      return [...world.inCycleElsewhere];
    },
    dropWaiting: async (n) => {
      world.spend();
      world.otherWaiters = world.otherWaiters.filter((w) => w.name !== n);
    },
    markTurn: async (nodes) => {
      world.spend();
      world.turnsMarked.push(...nodes);
    },
  };
  const sentinel: Sentinel = { rebootRequired: async () => world.sentinel, watch: () => () => {} };
  const drainer: Drainer = { drain: async () => world.drainResult };
  const rebooter: Rebooter = {
    reboot: async () => {
      world.spend();
      if (world.rebootRefused !== undefined) throw new Error(world.rebootRefused);
      world.annotationsAtReboot = { ...world.node.annotations };
      world.rebootNow();
      // The agent dies with the node: its next write fails as if the process were gone.
      world.budget = 0;
    },
  };
  const notifier: Notifier = { notify: (n) => world.notifications.push(n) };
  const events: EventsPort = {
    record: (_type, reason) => {
      world.events.push(reason);
    },
    flush: async () => {},
  };
  const telemetry: Telemetry = {
    setRebootRequired() {},
    setPhase() {},
    setLockHolders() {},
    setBlocked() {},
    observeDrain() {},
    observeReboot() {},
    setCordonedSince() {},
    setHalted(reason) {
      world.halted = reason;
    },
    observeHealthyWait() {},
  };
  const podHealth: PodHealth = {
    problems: async () => (clock.now().getTime() < world.podsReadyAt ? [...world.podProblems] : []),
    watch: () => {
      world.podWatches++;
      return () => {
        world.podWatches--;
      };
    },
  };
  const { kernelBootID } = world;
  return {
    node,
    lock,
    fleet,
    sentinel,
    drainer,
    rebooter,
    notifier,
    events,
    telemetry,
    clock,
    podHealth,
    kernelBootID,
  };
}

/** Agent settings with every extra off (no delays, labels, taint or healthy wait): tests override what they need. */
export const plainSettings: AgentSettings = {
  nodeId: 'n1',
  periodMs: 3_600_000,
  rebootRequestPeriodMs: 0,
  scaleDownProtection: false,
  scaleDownGraceMs: 0,
  concurrency: 1,
  lockTtlMs: 0,
  lockReleaseDelayMs: 0,
  rebootTimeoutMs: 600_000,
  drainDelayMs: 0,
  drainTimeoutMs: 0,
  rebootDelayMs: 0,
  forceReboot: false,
  annotateNodes: false,
  preRebootNodeLabels: {},
  postRebootNodeLabels: {},
  preferNoScheduleTaint: '',
  gateRecheckMs: 60_000,
  nodePollMs: 5_000,
  notifyBlockedAfterMs: 0,
  postRebootTimeoutMs: 0,
  postRebootCheckAlerts: false,
  haltOnFailure: true,
  zoneLabel: 'topology.kubernetes.io/zone',
  maxZones: 0,
};
