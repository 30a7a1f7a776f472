/**
 * Fault injection at fleet scale (issue 21): `make chaos DURATION=40m SEED=42`.
 *
 * A testbed cluster of CHAOS_NODES (100) simulated nodes with their agents (most in this process, a
 * few as the bundle in their own process), workloads under PodDisruptionBudgets, nodes that keep
 * needing reboots, and faults of every kind at random times for DURATION, split between the settings
 * (--concurrency=1, then --concurrency=5 --max-zones=1). The invariants are checked from watches as
 * the run goes, the end state after a settle period. Exit 1 on any violation or failed end check.
 *
 * CHAOS_SELFTEST=1: the checker's own test. Agents at --concurrency=3 while the checker allows 1, no
 * faults: the run must report a violation (exit 0 when it does, 1 when the checker missed it).
 *
 * Environment: DURATION (40m; 90s, 5m...), SEED (random), CHAOS_NODES (100), CHAOS_SETTINGS
 * ("1,5z1"), CHAOS_FAULT_INTERVAL (mean gap between faults; default DURATION / 1100),
 * CHAOS_PROCESS_AGENTS (3), CHAOS_SETTLE_TIMEOUT (10m), CHAOS_SKIP (fault kinds not to inject, comma-separated).
 */
import { FAULT_KINDS, type FaultKind } from './chaos/faults.ts';
import { formatReport, runChaos, type Setting } from './chaos/run.ts';

function duration(raw: string | undefined, fallbackMs: number, name: string): number {
  if (raw === undefined || raw === '') return fallbackMs;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) {
    console.error(`chaos: ${name}="${raw}" is not a duration such as 90s, 40m or 1h`);
    process.exit(2);
  }
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

function settings(raw: string): Setting[] {
  return raw.split(',').map((s) => {
    const m = /^(\d+)(?:z(\d+))?$/.exec(s.trim());
    if (!m) {
      console.error(`chaos: CHAOS_SETTINGS entry "${s}" is not like 1 or 5z1 (concurrency, z, max zones)`);
      process.exit(2);
    }
    return { concurrency: Number(m[1]), maxZones: Number(m[2] ?? 0) };
  });
}

function skipped(raw: string | undefined): FaultKind[] {
  const kinds = (raw ?? '').split(',').filter(Boolean) as FaultKind[];
  for (const k of kinds) {
    if (!FAULT_KINDS.includes(k)) {
      console.error(`chaos: CHAOS_SKIP names "${k}", not a fault kind (${FAULT_KINDS.join(', ')})`);
      process.exit(2);
    }
  }
  return kinds;
}

const env = process.env;
const selfTest = env.CHAOS_SELFTEST === '1';
const seed = env.SEED ? Number(env.SEED) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isInteger(seed)) {
  console.error(`chaos: SEED="${env.SEED}" is not a whole number`);
  process.exit(2);
}
const total = duration(env.DURATION, selfTest ? 60_000 : 40 * 60_000, 'DURATION');
const list = selfTest
  ? [{ concurrency: 3, maxZones: 0, checkConcurrency: 1 }]
  : settings(env.CHAOS_SETTINGS ?? '1,5z1');
const faultMs = total / list.length;
const report = await runChaos({
  nodes: Number(env.CHAOS_NODES ?? (selfTest ? 8 : 100)),
  seed,
  faultMs,
  settings: list,
  faultIntervalMs: duration(env.CHAOS_FAULT_INTERVAL, total / 1100, 'CHAOS_FAULT_INTERVAL'),
  processAgents: Number(env.CHAOS_PROCESS_AGENTS ?? 3),
  settleTimeoutMs: duration(env.CHAOS_SETTLE_TIMEOUT, 10 * 60_000, 'CHAOS_SETTLE_TIMEOUT'),
  noFaults: selfTest,
  skip: skipped(env.CHAOS_SKIP),
});
console.log(formatReport(report));
const violations = report.phases.reduce((s, p) => s + p.violations.length, 0);
const endFailures = report.phases.reduce((s, p) => s + p.endFailures.length, 0);
if (selfTest) {
  console.log(
    violations > 0
      ? `self-test: the checker saw the breach (${violations} violation(s)): ok`
      : 'self-test FAILED: agents ran above the checked concurrency and the checker saw nothing',
  );
  process.exit(violations > 0 ? 0 : 1);
}
console.log(
  violations + endFailures === 0 ? `chaos: 0 violations (seed ${seed})` : `chaos: FAILED (seed ${seed})`,
);
process.exit(violations + endFailures === 0 ? 0 : 1);
