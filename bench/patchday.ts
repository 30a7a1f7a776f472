/**
 * Patch day (issue 18): bench/fleet.ts at 1,000 and 5,000 simulated nodes with 20% of them needing
 * a reboot at once, at --concurrency=1, 10 and 50 --max-zones=1. A whole rollout of 1,000 one at a
 * time would take most of an hour on this machine, so each setting is a timed slice: the first
 * waves holding at least PATCHDAY_SLICE hand-overs (default 30), with the whole line waiting behind
 * them; then the rest of the line is let go (its sentinels removed) and must empty without a reboot.
 *
 * Environment: PATCHDAY_NODES (default 1000,5000), PATCHDAY_SLICE (30), and FLEET_* passed through.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const env = {
  ...process.env,
  FLEET_NODES: process.env.PATCHDAY_NODES ?? '1000,5000',
  FLEET_REBOOTS: process.env.FLEET_REBOOTS ?? '20%',
  FLEET_SETTINGS: process.env.FLEET_SETTINGS ?? '1,10,50z1',
  FLEET_SLICE: process.env.PATCHDAY_SLICE ?? '30',
  FLEET_IDLE_SECONDS: process.env.FLEET_IDLE_SECONDS ?? '30',
};
console.log(
  `patch day: FLEET_NODES=${env.FLEET_NODES} FLEET_REBOOTS=${env.FLEET_REBOOTS} FLEET_SETTINGS=${env.FLEET_SETTINGS} FLEET_SLICE=${env.FLEET_SLICE}`,
);
const r = spawnSync(process.execPath, [join(import.meta.dirname, 'fleet.ts')], { env, stdio: 'inherit' });
process.exit(r.status ?? 1);
