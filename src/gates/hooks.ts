/**
 * Approval hooks, for shops that must open a change in their ITSM system before a node goes down
 * and close it after. --pre-reboot-hook-url is a gate asked right before the lock is taken: it is
 * POSTed {node, cycle, reason, plannedTime} and only a 2xx answer opens it; any other answer, or
 * none within --hook-timeout, keeps the node waiting (fail-closed) with the answer's first line in
 * the reason, asked again with a growing backoff. An approval holds for its cycle (the instant the
 * need was first seen, which a restarted agent reads back from the node), so a lost race for the
 * lock does not open a second change. --post-reboot-hook-url is POSTed the outcome once the node is
 * healthy, or when its rollout halts or the attempt is given up, retried in the background.
 * Every call is reported (an Event and a line in the node's hook history) through `report`.
 */
import type { Gate, GateVerdict } from '../core/ports.ts';
import { describeError, type Endpoint } from './endpoint.ts';

export interface HookCall {
  hook: 'pre-reboot' | 'post-reboot';
  at: string;
  cycle: string;
  /** HTTP status, or 0 without an answer. */
  status: number;
  ok: boolean;
  /** The answer's first line, or why there was none. */
  detail: string;
}

export type HookReport = (call: HookCall) => void;

export interface PreRebootDocument {
  node: string;
  cycle: string;
  reason: string;
  plannedTime: string;
}

const FIRST_BACKOFF_MS = 10_000;
const MAX_BACKOFF_MS = 10 * 60_000;

export function preRebootHookGate(
  endpoint: Endpoint,
  node: string,
  reason: string,
  /** The cycle's id: when this node's need for a reboot was first seen (undefined: not recorded yet). */
  cycleId: () => Promise<string | undefined>,
  report: HookReport,
): Gate {
  let approved: string | undefined;
  let failures = 0;
  return {
    name: 'pre-reboot-hook',
    // Asked only when this node could take the lock now: a change is opened for a reboot about to start.
    beforeLock: true,
    async check(now: Date): Promise<GateVerdict> {
      const cycle = await cycleId();
      // The id must be the one a restart reads back: not before the agent has recorded it.
      if (cycle === undefined)
        return {
          open: false,
          reason: 'recording that a reboot is needed before asking the pre-reboot hook',
          retryAt: new Date(now.getTime() + 1000),
        };
      if (approved === cycle) return { open: true };
      const doc: PreRebootDocument = { node, cycle, reason, plannedTime: now.toISOString() };
      const call = await post(endpoint, doc, 'pre-reboot', cycle, now);
      report(call);
      if (call.ok) {
        approved = cycle;
        failures = 0;
        return { open: true };
      }
      const wait = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** failures);
      failures++;
      return {
        open: false,
        reason: `the pre-reboot hook at ${endpoint.display} did not approve: ${call.detail}`,
        retryAt: new Date(now.getTime() + wait),
      };
    },
  };
}

export type Outcome = 'healthy' | 'unhealthy' | 'halted' | 'aborted';

/** The post-reboot hook, called in the background with retries; never delays the cycle. */
export class PostRebootHook {
  private readonly endpoint: Endpoint;
  private readonly node: string;
  private readonly report: HookReport;
  private readonly delaysMs: number[];
  private pending: Promise<void> = Promise.resolve();

  constructor(
    endpoint: Endpoint,
    node: string,
    report: HookReport,
    delaysMs = [0, 10_000, 30_000, 90_000, 270_000],
  ) {
    this.endpoint = endpoint;
    this.node = node;
    this.report = report;
    this.delaysMs = delaysMs;
  }

  notify(cycle: string, outcome: Outcome, detail: string | undefined, now: () => Date): void {
    const doc = { node: this.node, cycle, outcome, ...(detail ? { detail } : {}), at: now().toISOString() };
    this.pending = this.pending.then(async () => {
      for (const delay of this.delaysMs) {
        if (delay > 0) await new Promise((r) => setTimeout(r, delay).unref());
        const call = await post(this.endpoint, doc, 'post-reboot', cycle, now());
        this.report(call);
        if (call.ok) return;
      }
    });
  }

  /** Waits for the calls in flight (tests; shutdown). */
  flush(): Promise<void> {
    return this.pending;
  }
}

async function post(
  endpoint: Endpoint,
  doc: object,
  hook: HookCall['hook'],
  cycle: string,
  now: Date,
): Promise<HookCall> {
  const base = { hook, at: now.toISOString(), cycle };
  try {
    const res = await endpoint.call(endpoint.base, 'POST', doc);
    const ok = res.status >= 200 && res.status <= 299;
    const line = (res.text.split(/\r?\n/)[0] ?? '').trim().slice(0, 200);
    return { ...base, status: res.status, ok, detail: `HTTP ${res.status}${line ? `: ${line}` : ''}` };
  } catch (err) {
    return { ...base, status: 0, ok: false, detail: `no answer (${describeError(err)})` };
  }
}
