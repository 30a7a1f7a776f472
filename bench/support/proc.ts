/** Figures about one process from /proc, and a compact summary of a list of durations. */
import { readFileSync } from 'node:fs';

/** CPU time (user + system) the process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 10 ms
}

/** Resident memory, in MB. */
export function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

export interface Spread {
  n: number;
  median: number;
  p95: number;
  max: number;
}

export function spread(xs: number[]): Spread | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { n: s.length, median: at(0.5), p95: at(0.95), max: s.at(-1)! };
}

export function formatSpread(s: Spread | undefined, unit = 'ms'): string {
  return s ? `median ${s.median} ${unit}, p95 ${s.p95} ${unit}, max ${s.max} ${unit} (n=${s.n})` : 'none';
}
