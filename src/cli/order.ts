/**
 * The order in which the agents would take the lock, under the current flags. The one place that
 * knows it: `plan` prints it. Waiting order is first come, first served (since when the node
 * needs its reboot), then by name; holders already in a cycle come first; --concurrency groups
 * the nodes into waves. A node held back by a gate of its own (blocking pods, a budget) waits
 * and leaves its place to the next, so it is listed after the nodes that can go.
 */
export interface Candidate {
  name: string;
  /** Holds the lock now (a cycle in progress). */
  holder: boolean;
  /** Epoch ms since when the node needs its reboot (its agent's record). */
  since: number;
  /** Something of its own holds it back now. */
  blocked: boolean;
}

export interface Placed {
  name: string;
  /** 1 = the first `concurrency` nodes to go (holders included). */
  wave: number;
}

export function rolloutOrder(nodes: readonly Candidate[], concurrency: number): Placed[] {
  const rank = (c: Candidate) => (c.holder ? 0 : c.blocked ? 2 : 1);
  const line = [...nodes].sort(
    (a, b) => rank(a) - rank(b) || a.since - b.since || a.name.localeCompare(b.name),
  );
  const per = Math.max(1, concurrency);
  return line.map((c, i) => ({ name: c.name, wave: Math.floor(i / per) + 1 }));
}
