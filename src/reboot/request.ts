/**
 * "Reboot this node now" (kured#110): `kured-ts reboot NODE` writes this annotation on the Node;
 * the node's agent takes it as its sentinel saying yes, and goes through the lock, the drain and the
 * budgets as always. The request may waive the window and the alerts, nothing else. It is removed
 * in the write that records the node back on a new boot, so a crash never reboots twice for it.
 */
export const REQUEST_ANNOTATION = 'kured-ts.dev/reboot-request';

export interface RebootRequest {
  /** When it was asked (RFC 3339). */
  at: string;
  /** Who asked, as the operator's client knows itself (optional). */
  by?: string;
  reason?: string;
  /** Reboot even outside --reboot-days/--start-time/--end-time. */
  ignoreWindow?: boolean;
  /** Reboot even while Prometheus or Alertmanager alerts would block. */
  ignoreAlerts?: boolean;
}

/**
 * The gates a request may waive, by their names in src/gates: the reboot window and the maintenance
 * windows ('window'), the firing alerts of Prometheus and Alertmanager. Never the lock, the pods,
 * a PromQL query, the budgets or an approval hook.
 */
export function waivedGates(r: RebootRequest | undefined): string[] {
  if (!r) return [];
  return [...(r.ignoreWindow ? ['window'] : []), ...(r.ignoreAlerts ? ['prometheus', 'alertmanager'] : [])];
}

/**
 * The request on a Node, if any. Anything else than our JSON (a hand-written `true`) still asks
 * for a reboot, but waives nothing: a typo never bypasses a gate.
 */
export function parseRequest(raw: string | undefined): RebootRequest | undefined {
  if (raw === undefined) return undefined;
  try {
    const r = JSON.parse(raw) as Partial<RebootRequest>;
    if (typeof r === 'object' && r !== null && typeof r.at === 'string') {
      return {
        at: r.at,
        ...(typeof r.by === 'string' ? { by: r.by } : {}),
        ...(typeof r.reason === 'string' ? { reason: r.reason } : {}),
        ...(r.ignoreWindow === true ? { ignoreWindow: true } : {}),
        ...(r.ignoreAlerts === true ? { ignoreAlerts: true } : {}),
      };
    }
  } catch {
    // fall through
  }
  return { at: '' };
}

export function serializeRequest(r: RebootRequest): string {
  return JSON.stringify(r);
}

/**
 * Is the request fulfilled by a reboot that began at `rebootBegan` (RFC 3339)? Only one asked
 * before the reboot began: a request made while the node was already going down still stands.
 */
export function fulfilledBy(r: RebootRequest, rebootBegan: string | undefined): boolean {
  if (!r.at || !rebootBegan) return true;
  return Date.parse(r.at) <= Date.parse(rebootBegan);
}
