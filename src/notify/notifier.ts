/**
 * The Notifier the agent calls: renders the template, then delivers in the background, in order,
 * with bounded retries. It never throws, never blocks the caller, and never logs a secret.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Notification, Notifier } from '../core/ports.ts';
import { DeliveryError, type Target } from './delivery.ts';
import { slackHookToNotifyUrl } from './services/slack.ts';
import { parseNotifyUrl } from './targets.ts';
import { DEFAULT_TEMPLATES, type MessageTemplates, renderMessage } from './templates.ts';

export type NotifyConfig = Pick<
  Config,
  | 'notifyUrl'
  | 'notifyUrlFile'
  | 'slackHookUrl'
  | 'messageTemplateDrain'
  | 'messageTemplateReboot'
  | 'messageTemplateUncordon'
  | 'messageTemplateDrainFailed'
  | 'messageTemplateBlocked'
  | 'messageTemplateHalted'
>;

export interface NotifierOptions {
  /** Tests only: send every request to this origin instead of the service's (see DeliveryOptions). */
  baseUrl?: string;
  /** Waits between tries; its length + 1 is the number of tries. Default 1 s then 5 s (3 tries). */
  retryDelaysMs?: number[];
  /** Per request. Default 10 s. */
  timeoutMs?: number;
}

export interface FlushableNotifier extends Notifier {
  /** Where notifications go, safe to log; undefined when none is configured. */
  readonly destination: string | undefined;
  /** Resolves once everything queued so far was delivered or given up, or after timeoutMs. */
  flush(timeoutMs?: number): Promise<void>;
}

/** Reads the URL (file, then --notify-url, then the deprecated --slack-hook-url); throws ConfigError. */
export function createNotifier(
  config: NotifyConfig,
  logger: Logger,
  options: NotifierOptions = {},
): FlushableNotifier {
  const target = resolveTarget(config, logger);
  const templates = templatesFrom(config);
  const delays = options.retryDelaysMs ?? [1000, 5000];
  const delivery = {
    timeoutMs: options.timeoutMs ?? 10_000,
    ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
  };
  // One chain so that messages arrive in the order they happened (drain before reboot).
  let queue: Promise<void> = Promise.resolve();

  async function deliver(message: string, n: Notification, t: Target): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await t.send(message, delivery);
        logger.debug({ notify: t.display, kind: n.kind, attempt }, 'notification sent');
        return;
      } catch (err) {
        const permanent = err instanceof DeliveryError && err.permanent;
        const error = scrub(err instanceof Error ? err.message : String(err), t.secrets);
        const delay = delays[attempt - 1];
        if (permanent || delay === undefined) {
          logger.warn(
            { notify: t.display, kind: n.kind, node: n.node, attempts: attempt, error },
            'notification failed',
          );
          return;
        }
        logger.debug({ notify: t.display, kind: n.kind, attempt, error }, 'notification failed, retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  return {
    destination: target?.display,
    notify(n: Notification): void {
      if (!target) return;
      let message: string;
      try {
        message = renderMessage(templates, n);
      } catch {
        return; // an unknown kind from a caller bug must not break the cycle
      }
      queue = queue.then(() => deliver(message, n, target)).catch(() => undefined);
    },
    async flush(timeoutMs?: number): Promise<void> {
      const done = queue;
      if (timeoutMs === undefined) return done;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
    },
  };
}

export function templatesFrom(config: NotifyConfig): MessageTemplates {
  return {
    drain: config.messageTemplateDrain || DEFAULT_TEMPLATES.drain,
    reboot: config.messageTemplateReboot || DEFAULT_TEMPLATES.reboot,
    uncordon: config.messageTemplateUncordon || DEFAULT_TEMPLATES.uncordon,
    drainFailed: config.messageTemplateDrainFailed || DEFAULT_TEMPLATES.drainFailed,
    blocked: config.messageTemplateBlocked || DEFAULT_TEMPLATES.blocked,
    halted: config.messageTemplateHalted || DEFAULT_TEMPLATES.halted,
  };
}

function resolveTarget(config: NotifyConfig, logger: Logger): Target | undefined {
  if (config.notifyUrlFile) {
    let content: string;
    try {
      content = readFileSync(config.notifyUrlFile, 'utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new ConfigError(
        `--notify-url-file: cannot read ${config.notifyUrlFile} (${code}); check the Secret mount`,
      );
    }
    if (!content)
      throw new ConfigError(
        `--notify-url-file: ${config.notifyUrlFile} is empty; put the notification URL in it`,
      );
    return parseNotifyUrl(content, '--notify-url-file');
  }
  if (config.notifyUrl.trim()) return parseNotifyUrl(config.notifyUrl, '--notify-url');
  if (config.slackHookUrl.trim()) {
    logger.warn('--slack-hook-url is deprecated; use --notify-url=slack://tokenA/tokenB/tokenC');
    return parseNotifyUrl(slackHookToNotifyUrl(config.slackHookUrl.trim()), '--slack-hook-url');
  }
  return undefined;
}

/** Removes every secret (raw and URL-encoded) from a message. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s.length < 4) continue; // too short to be a secret, and would mangle the message
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('***');
  }
  return out;
}
