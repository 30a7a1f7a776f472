/** Message templates: kured's `%s` is the node name; the failure, blocked and halted templates take a second `%s`, the cause. */
import type { Notification, NotificationKind } from '../core/ports.ts';

export type MessageTemplates = Record<NotificationKind, string>;

/** kured's defaults for drain, reboot and uncordon; ours for the three kured lacks. */
export const DEFAULT_TEMPLATES: Readonly<MessageTemplates> = Object.freeze({
  drain: 'Draining node %s',
  reboot: 'Rebooting node %s',
  uncordon: 'Node %s rebooted & uncordoned successfully!',
  drainFailed: 'Draining node %s failed: %s',
  blocked: 'Reboot of node %s is blocked: %s',
  halted: 'Rollout halted: node %s did not come back healthy: %s',
});

/**
 * Fills the first `%s` with the node and the second with the detail, like Go's Sprintf for the
 * templates kured users already have; `%%` is a literal `%`. A missing placeholder drops its value
 * rather than printing Go's `%!s(MISSING)`.
 */
export function renderMessage(templates: MessageTemplates, n: Notification): string {
  const values = [n.node, n.detail ?? ''];
  let next = 0;
  return templates[n.kind].replace(/%[%s]/g, (token) => (token === '%%' ? '%' : (values[next++] ?? '')));
}
