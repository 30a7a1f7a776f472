/**
 * When the reboot window (kured's window with the maintenance windows and not-allowed dates) next
 * opens, computed when scraped so it is right at any moment without the agent waking up.
 */
import { Gauge, type Registry } from './prom.ts';

export function registerScheduleMetrics(
  registry: Registry,
  node: string,
  /** The schedule's next opening (src/gates/schedule.ts), passed in: observe sits beside gates. */
  schedule: { nextOpening(now: Date): Date | undefined },
  now: () => Date = () => new Date(),
): void {
  new Gauge({
    name: 'kured_ts_reboot_window_next_opening_timestamp_seconds',
    help: 'Unix time at which a reboot may next start (now while the window is open; 0 if it never opens within two years).',
    labelNames: ['node'],
    registers: [registry],
    collect() {
      const next = schedule.nextOpening(now());
      this.labels(node).set(next ? Math.floor(next.getTime() / 1000) : 0);
    },
  });
}
