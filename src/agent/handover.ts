/**
 * The lock's hand-over between nodes: who takes a slot and who is named next. Claiming a turn,
 * removing a ghost holder, naming, acquiring and releasing: every write of the lock an agent makes
 * goes through here, each conditional on what was read (src/core/lock/ has the formats).
 */
import type { Cycle } from '../core/cycle.ts';
import { type Forgotten, type LockEntry, liveEntries } from '../core/lock/codec.ts';
import {
  enoughToName,
  letTurnPass,
  NAMED_GRACE_MS,
  nameNext,
  pickNext,
  type Waiter,
} from '../core/lock/queue.ts';
import type { Clock, FleetPort, LockPort } from '../core/ports.ts';
import type { Snapshot } from './observe.ts';
import type { Reporter } from './reporting.ts';
import type { AgentSettings } from './settings.ts';

/** A holder's Node answered 404: asked again this much later before its entry is removed. */
const GHOST_RECHECK_MS = 1500;

export interface HandoverDeps {
  lock: LockPort;
  fleet: FleetPort;
  clock: Clock;
}

export class Handover {
  /** Lock entries whose Node we saw exist (node and creation time): not asked again. */
  private readonly verified = new Set<string>();
  /** This process made or saw our entry in the line (see getInLine), and has not left it since. */
  private entered = false;
  /** The lock object (uid) for which no node was found in a cycle of another one (see forgotten). */
  private noneForgottenBy: string | undefined;

  private readonly d: HandoverDeps;
  private readonly s: AgentSettings;
  private readonly report: Reporter;

  constructor(d: HandoverDeps, s: AgentSettings, report: Reporter) {
    this.d = d;
    this.s = s;
    this.report = report;
  }

  /**
   * The head of the line when our write must name the next ones; undefined when the nodes already
   * named do. Taking a slot: others still named go after us (the chain of a wave), so only the last
   * of them reads the line. Freeing one: the named still fill the freed slots, except under the zone
   * rule, where the last holder of a zone frees slots for another zone than the named one's.
   */
  private async waitersToName(snap: Snapshot, taking: boolean): Promise<Waiter[] | undefined> {
    const named = snap.queue.next.filter((n) => n !== this.s.nodeId).length;
    const holders = liveHolders(snap).length;
    // Taking, the names must keep a spare (nameNext) behind the next taker: the last but one of a
    // wave reads nothing, the last reads the line. Freeing, the named must fill the freed slots.
    const namedSuffice = taking
      ? named >= 2
      : named >= this.s.concurrency - holders + 1 && (this.s.maxZones === 0 || this.zoneStays(snap));
    return namedSuffice ? undefined : this.headOfLine(snap);
  }

  /**
   * Another holder of our zone stays after we go: the zones open to the named are the same as when
   * they were named. (A wave of 50 in one zone releases together: only its last reads the line.)
   */
  private zoneStays(snap: Snapshot): boolean {
    return liveHolders(snap).some((h) => h !== this.s.nodeId && snap.queue.zones[h] === snap.zone);
  }

  /** As much of the line as decides who is named: its head, a page or so (src/kube/line.ts). */
  private headOfLine(snap: Snapshot, holders = liveHolders(snap)): Promise<Waiter[]> {
    return this.d.fleet.waiting((line) => enoughToName(line, holders, snap.queue.zones, this.s));
  }

  /**
   * In line: our entry first, then our label says so (src/kube/line.ts). A label already there is
   * taken at its word once per process only, its entry made again if missing: a restart, or an
   * upgrade from a release that kept no entries.
   */
  async getInLine(since: number, zone: string, labelled: boolean): Promise<void> {
    if (labelled && this.entered) return;
    await this.d.fleet.join(since, zone);
    this.entered = true;
  }

  /**
   * Out of line, once our label is gone: every entry of ours. `labelled`: the label was there as
   * read; an entry made this turn, before the label the same look then saw missing, counts too.
   */
  async leaveLine(labelled: boolean): Promise<void> {
    if (!labelled && !this.entered) return;
    await this.d.fleet.leave();
    this.entered = false;
  }

  /**
   * Our turn: takes a slot, naming the next in line in the same write. The entry if taken. Nodes
   * still in a cycle of a lock DaemonSet since recreated count as holders, and go back in the lock.
   */
  async acquire(snap: Snapshot, waiters?: Waiter[]): Promise<LockEntry | undefined> {
    const line = waiters ?? (await this.waitersToName(snap, true));
    const forgotten = await this.forgotten(snap.observation.lock.uid);
    const outcome = await this.d.lock.acquire(this.s.nodeId, snap.node.unschedulable, {
      zone: snap.zone,
      waiters: line,
      wake: this.wakeOnce(),
      forgotten,
    });
    if (outcome.ok) return outcome.entry;
    this.report.lostRace(outcome.reason);
    return undefined;
  }

  /** A couple of writes from our turn: what taking the slot reads, read now (see forgotten). */
  async getReady(snap: Snapshot): Promise<void> {
    await this.forgotten(snap.observation.lock.uid);
  }

  /**
   * Nodes still in a cycle of a lock object since recreated (they count as holders). An empty
   * answer stays true for the lock object asked about: a cycle's label names the lock object its
   * slot was taken in, and in this one only this one's uid is written; so it is read once. (The
   * read scans every Node, and was one of the two requests of each step of a wave whose nodes take
   * their slots one write after another.) A node that took its slot in the old object a moment
   * before it went, and writes its label after our read, is missed as it was before: its agent
   * puts it back at its next look.
   */
  private async forgotten(uid: string | undefined): Promise<Forgotten[]> {
    if (!uid || uid === this.noneForgottenBy) return [];
    const found = await this.d.fleet.forgotten(uid);
    if (found.length === 0) this.noneForgottenBy = uid;
    return found;
  }

  /**
   * Nobody's turn was known: the head of the line says who is first in it. If that is us, take the
   * free slot (the entry), or with the lock full name ourselves, so the others stop asking. Named
   * nodes that let their turn pass are taken out of line only by whoever's write then lands: many
   * waiters may find the same turn let pass at once (an API server too slow for the named to act
   * within the grace), and each taking the same nodes out of line made it slower still.
   */
  async claim(passOver: string[], snap: Snapshot): Promise<LockEntry | undefined> {
    const { fleet, lock } = this.d;
    // No line to read (not granted): kured's race for a free slot, the lock's conditional write
    // keeping it to one; nobody is named.
    if (fleet.hasLine === false)
      return snap.observation.lock.acquirable ? this.acquire(snap, undefined) : undefined;
    const holders = liveHolders(snap);
    const line = await this.headOfLine(snap, holders);
    const passed = letTurnPass(passOver, line, holders, snap.queue.zones, this.s);
    const waiters = line.filter((w) => !passed.includes(w.name));
    if (!waiters.some((w) => w.name === this.s.nodeId)) {
      waiters.push({ name: this.s.nodeId, since: snap.observation.now.getTime(), zone: snap.zone });
    }
    const heads = pickNext(waiters, holders, snap.queue.zones, this.s);
    const first = heads.includes(this.s.nodeId);
    if (first && snap.observation.lock.acquirable) {
      const entry = await this.acquire(snap, waiters);
      if (entry) await this.takeOutOfLine(passed);
      return entry;
    }
    // Name who is first: ourselves (the lock is full), or, when a turn was let pass or nobody
    // acted for a while, whoever it is, so that a dead head in line is passed over in its turn.
    const stalled = passOver.length > 0 || snap.observation.lock.unchangedMs >= NAMED_GRACE_MS;
    if (first || stalled) {
      const names = nameNext(waiters, holders, snap.queue.zones, this.s);
      // As the store does: names written where nobody was named wake nobody (all of them watch).
      const newlyNamed = names.filter((n) => !snap.queue.next.includes(n));
      if (snap.queue.next.length > 0 && newlyNamed.length > 0) await this.wakeOnce()(newlyNamed);
      if (await lock.name(names, snap.lockVersion)) await this.takeOutOfLine(passed);
      else this.report.lineMoved();
    } else this.report.notFirst(heads);
    return undefined;
  }

  /** Named nodes that let their turn pass, once the names without them are written. */
  private async takeOutOfLine(passed: string[]): Promise<void> {
    for (const n of passed) {
      this.report.passedOver(n);
      await this.d.fleet.dropWaiting(n);
    }
  }

  /**
   * First in line with the lock full: a holder whose Node does not exist (404, twice, a moment
   * apart) will never release; its entry is removed. A NotReady node is the TTL's business. True if
   * one was removed.
   */
  async removeGhosts(snap: Snapshot): Promise<boolean> {
    const { fleet, lock } = this.d;
    const ghosts: LockEntry[] = [];
    for (const e of liveEntries(snap.lock, snap.observation.now)) {
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
    for (const n of removed) this.report.ghostRemoved(n);
    return removed.length > 0;
  }

  /** Hands our slot back; the same write names who goes next (`readLine`: from the line, read afresh). */
  async release(snap: Snapshot, readLine = false): Promise<void> {
    const waiters = readLine ? await this.headOfLine(snap) : await this.waitersToName(snap, false);
    await this.d.lock.release(this.s.nodeId, waiters, this.wakeOnce());
  }

  /**
   * Marks the turn of nodes about to be named: not ours (we watch the lock already), and each once
   * however often a conflict makes the write computed again (the holders of a wave release
   * together: without this, a wave of 50 marked its nodes over and over).
   */
  private wakeOnce(): (nodes: string[]) => Promise<void> {
    const done = new Set([this.s.nodeId]);
    return async (nodes) => {
      const fresh = nodes.filter((n) => !done.has(n));
      for (const n of fresh) done.add(n);
      if (fresh.length > 0) await this.d.fleet.markTurn(fresh);
    };
  }

  /** The lock's DaemonSet was recreated during our cycle: our entry back in it (see IN_CYCLE_LABEL). */
  async putBack(snap: Snapshot, cycle: Cycle): Promise<void> {
    const holder = { nodeID: this.s.nodeId, unschedulable: !cycle.cordonedByUs, zone: snap.zone };
    await this.d.lock.putBack(holder);
  }

  /** Our Node is gone: lets our slot go without naming anyone (nobody else would free it). */
  async releaseGone(why: string): Promise<void> {
    await this.d.lock.release(this.s.nodeId);
    this.report.releasedGone(why);
  }
}

/** The nodes holding a slot of the lock as read (expired entries left out). */
function liveHolders(snap: Snapshot): string[] {
  return liveEntries(snap.lock, snap.observation.now).map((e) => e.nodeID);
}
