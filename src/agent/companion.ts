/**
 * The CycleCompanion of src/core/ports.ts: an Alertmanager silence held from the cordon until the
 * node is healthy (src/gates/silence.ts), and the post-reboot hook (src/gates/hooks.ts). Neither
 * stops a cycle: a silence that cannot be made is reported (an Event, a warning) and the reboot goes
 * on, since the silence only spares people pages; the gates already held the node while
 * Alertmanager did not answer.
 */
import type { Cycle } from '../core/cycle.ts';
import { NEEDED_ANNOTATION } from '../core/history.ts';
import type { Logger } from '../core/log.ts';
import type { Clock, CycleCompanion, EventsPort } from '../core/ports.ts';
import type { HookCall, Outcome, PostRebootHook } from '../gates/hooks.ts';
import type { RebootSilences } from '../gates/silence.ts';

export interface CompanionDeps {
  silences?: RebootSilences | undefined;
  postHook?: PostRebootHook | undefined;
  events: EventsPort;
  logger: Logger;
  clock: Clock;
}

/** The id a cycle goes by outside the cluster: when the need was first seen (the pre-hook's too). */
export function cycleId(cycle: Cycle | undefined, annotations: Record<string, string>): string {
  return annotations[NEEDED_ANNOTATION] ?? cycle?.started ?? cycle?.since ?? 'unknown';
}

export function cycleCompanion(d: CompanionDeps): CycleCompanion {
  return {
    async beforeCordon(cycle, annotations) {
      if (!d.silences) return {};
      try {
        const ids = await d.silences.create(cycleId(cycle, annotations), d.clock.now());
        d.logger.info({ silences: ids }, 'silenced the alerts of this reboot in Alertmanager');
        d.events.record(
          'Normal',
          'Silenced',
          'Silence',
          `Alertmanager silence(s) ${ids.join(', ')} until healthy`,
        );
        return { silences: ids };
      } catch (err) {
        const why = d.silences.describe(err);
        d.logger.warn({ reason: why }, 'could not silence the alerts of this reboot; going on without');
        d.events.record(
          'Warning',
          'SilenceFailed',
          'Silence',
          `Could not create the silence (${why}); rebooting without it`,
        );
        return { silences: [] };
      }
    },

    async ended(cycle, outcome: Outcome, reason, annotations) {
      if (d.silences && cycle.silences?.length) {
        try {
          await d.silences.expire(cycle.silences);
          d.events.record(
            'Normal',
            'SilenceExpired',
            'Silence',
            `Expired Alertmanager silence(s) ${cycle.silences.join(', ')}`,
          );
        } catch (err) {
          // It ends by itself at --silence-max-duration.
          d.logger.warn(
            { reason: d.silences.describe(err) },
            'could not expire the silence; it ends by itself',
          );
        }
      }
      d.postHook?.notify(cycleId(cycle, annotations), outcome, reason, () => d.clock.now());
    },
  };
}

/** The node's last hook calls, newest first (what `kured-ts history` shows beside the cycles). */
export const HOOK_HISTORY_ANNOTATION = 'kured-ts.dev/hook-calls';
const MAX_HOOK_CALLS = 10;

/** Each hook call: a log line, an Event, and a line in the node's hook history (one write each, in order). */
export function hookReporter(
  node: {
    read(): Promise<{ annotations: Record<string, string> }>;
    setAnnotations(a: Record<string, string>): Promise<unknown>;
  },
  events: EventsPort,
  logger: Logger,
): (call: HookCall) => void {
  let chain: Promise<void> = Promise.resolve();
  return (call) => {
    const line = `${call.hook} hook: ${call.ok ? 'accepted' : 'refused'} (${call.detail})`;
    (call.ok ? logger.info.bind(logger) : logger.warn.bind(logger))({ cycle: call.cycle }, line);
    events.record(
      call.ok ? 'Normal' : 'Warning',
      call.hook === 'pre-reboot' ? 'PreRebootHook' : 'PostRebootHook',
      'Hook',
      line,
    );
    chain = chain.then(async () => {
      try {
        const raw = (await node.read()).annotations[HOOK_HISTORY_ANNOTATION];
        let old: HookCall[] = [];
        try {
          old = raw ? (JSON.parse(raw) as HookCall[]) : [];
        } catch {
          old = [];
        }
        const next = [call, ...(Array.isArray(old) ? old : [])].slice(0, MAX_HOOK_CALLS);
        await node.setAnnotations({ [HOOK_HISTORY_ANNOTATION]: JSON.stringify(next) });
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'could not record the hook call on the node');
      }
    });
  };
}
