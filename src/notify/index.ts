/** Notifications: kured's --notify-url schemes, message templates, fire-and-forget delivery. */
export { DeliveryError, type DeliveryOptions, type Target } from './delivery.ts';
export {
  createNotifier,
  type FlushableNotifier,
  type NotifierOptions,
  type NotifyConfig,
  scrub,
} from './notifier.ts';
export { slackHookToNotifyUrl } from './services/slack.ts';
export { parseNotifyUrl, SUPPORTED_SCHEMES, stripQuotes } from './targets.ts';
export { DEFAULT_TEMPLATES, type MessageTemplates, renderMessage } from './templates.ts';
