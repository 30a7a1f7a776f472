/**
 * An idle agent: resident memory and CPU time over 60 s with nothing to do (DESIGN.md target:
 * below 64 MB RSS, near-zero CPU), running the bundle exactly as the image does.
 */
import { Fleet } from '../testbed/src/fleet.ts';
import { startCluster } from '../testbed/src/index.ts';
import { cpuSeconds, rssMb } from './support/proc.ts';

const IDLE_S = Number(process.env.IDLE_SECONDS ?? 60);
const cluster = await startCluster({ nodes: 1, log: () => {} });
try {
  const fleet = new Fleet(cluster, { args: ['--period=1h'] });
  await fleet.createLockDaemonSet();
  fleet.startAll();
  await new Promise((r) => setTimeout(r, 3000));
  const pid = fleet.pid('node-1')!;
  const cpu = () => cpuSeconds(pid);
  const rss = () => rssMb(pid);
  const cpu0 = cpu();
  const samples: number[] = [];
  for (let i = 0; i < IDLE_S; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    samples.push(rss());
  }
  const used = cpu() - cpu0;
  console.log(
    `idle agent RSS: ${samples.at(-1)!.toFixed(1)} MB at the end, ${Math.max(...samples).toFixed(1)} MB max over ${IDLE_S}s`,
  );
  console.log(
    `idle agent CPU: ${used.toFixed(2)} s over ${IDLE_S}s (${((used / IDLE_S) * 100).toFixed(2)}%)`,
  );
  await fleet.stopAll();
} finally {
  await cluster.stop();
}
