/**
 * The questions a turn may need answered beyond the cluster's state, each asked only when decide()
 * says so: the ordinary gates, the pre-flight, the node's health after its reboot. Their last
 * answers are remembered with when they were asked; decide() judges whether one still stands.
 */
import type { Gate, PodHealth } from '../core/ports.ts';
import { evaluateGates, type GatesVerdict } from '../gates/index.ts';
import { evaluateHealth } from '../health/evaluate.ts';
import type { Observation, Verdict } from './decide.ts';
import type { Snapshot } from './observe.ts';
import type { AgentSettings } from './settings.ts';

export type Remembered = Partial<Pick<Observation, 'gate' | 'gateAskedAt' | 'preflight'>>;

export class Asks {
  private gate: { verdict: Verdict; askedAt: Date } | undefined;
  private preflightAsked: { verdict: Verdict; askedAt: Date } | undefined;
  /** The gates an operator's reboot request waived when the ordinary gates were last asked. */
  private waived = '';

  private readonly d: { gates: Gate[]; podHealth: PodHealth };
  private readonly s: AgentSettings;

  constructor(d: { gates: Gate[]; podHealth: PodHealth }, s: AgentSettings) {
    this.d = d;
    this.s = s;
  }

  /** Is there a pre-flight at all (a gate asked only right before the lock)? */
  get hasPreflight(): boolean {
    return this.d.gates.some((g) => g.beforeLock === true);
  }

  /** The answers of earlier turns, for the next observation. */
  remembered(): Remembered {
    return {
      gate: this.gate?.verdict,
      ...(this.gate ? { gateAskedAt: this.gate.askedAt } : {}),
      ...(this.preflightAsked ? { preflight: this.preflightAsked } : {}),
    };
  }

  /** Was the remembered verdict asked with these gates waived (a `kured-ts reboot` request's)? */
  askedWith(waived: readonly string[]): boolean {
    return this.waived === waived.join(',');
  }

  /** The ordinary gates (not the pre-flight), as they are now, but those a reboot request waives. */
  async gates(now: Date, waived: readonly string[] = []): Promise<Remembered> {
    const gates = this.d.gates.filter((g) => !waived.includes(g.name));
    const verdict = asVerdict(await evaluateGates(gates, now, { beforeLock: false }));
    this.gate = { verdict, askedAt: now };
    this.waived = waived.join(',');
    return { gate: verdict, gateAskedAt: undefined };
  }

  /** The gates asked right before the lock (the budget pre-flight). */
  async preflight(now: Date): Promise<Remembered> {
    this.preflightAsked = {
      verdict: asVerdict(await evaluateGates(this.d.gates, now, { beforeLock: true })),
      askedAt: now,
    };
    return { preflight: this.preflightAsked };
  }

  /** The rebooted node's pods (and, with --post-reboot-check-alerts, the alerts). */
  async health(snap: Snapshot): Promise<Pick<Observation, 'health'>> {
    const rebootedAfter = snap.observation.node.cycle?.rebootedAfter;
    const alerts = this.s.postRebootCheckAlerts
      ? this.d.gates.find((g) => g.name === 'prometheus')
      : undefined;
    const health = await evaluateHealth(
      { pods: this.d.podHealth, alerts },
      rebootedAfter ? new Date(rebootedAfter) : undefined,
      snap.observation.now,
      this.s.gateRecheckMs,
    );
    return { health };
  }
}

function asVerdict(v: GatesVerdict): Verdict {
  return v.open ? v : { ...v, gate: v.gate ?? 'gate' };
}
