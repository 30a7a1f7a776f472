/**
 * Slack, in shoutrrr's URL forms: the legacy `slack://[botname@]A/B/C` and `slack://hook:A-B-C@webhook`
 * post to an incoming webhook; `slack://xoxb:TOKEN@CHANNEL` posts with a bot token to chat.postMessage.
 */
import { DeliveryError, postJson, type Target } from '../delivery.ts';
import { badUrl, query, segments } from './common.ts';

const EXPECTED =
  'slack://tokenA/tokenB/tokenC, slack://hook:tokenA-tokenB-tokenC@webhook or slack://xoxb:TOKEN@CHANNEL';

export function parseSlack(url: URL, flag: string): Target {
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  const botname = query(url, 'botname') ?? (url.password ? undefined : user || undefined);
  const icon = query(url, 'icon');
  const identity = {
    ...(botname ? { username: botname } : {}),
    ...(icon ? (/^https?:/.test(icon) ? { icon_url: icon } : { icon_emoji: icon }) : {}),
  };

  if (user.startsWith('xox') && password) {
    const token = `${user}-${password}`;
    const channel = decodeURIComponent(url.hostname);
    if (!channel) throw badUrl(flag, 'slack', 'has no channel after the @', EXPECTED);
    const threadTs = query(url, 'thread_ts');
    return {
      service: 'slack',
      display: `slack chat.postMessage to ${channel}`,
      secrets: [token, password],
      async send(message, opts) {
        const payload = { channel, text: message, ...identity, ...(threadTs ? { thread_ts: threadTs } : {}) };
        const answer = await postJson('https://slack.com/api/chat.postMessage', payload, opts, {
          authorization: `Bearer ${token}`,
        });
        // The Web API answers 200 with ok:false on errors such as an unknown channel.
        const parsed = JSON.parse(answer || '{}') as { ok?: boolean; error?: string };
        if (parsed.ok !== true)
          throw new DeliveryError(`Slack refused: ${parsed.error ?? 'no ok in answer'}`, true);
      },
    };
  }

  const parts =
    user === 'hook' && password
      ? password.split(/[-/]/)
      : [decodeURIComponent(url.hostname), ...segments(url)];
  if (parts.length !== 3 || parts.some((p) => p === '')) {
    throw badUrl(flag, 'slack', 'does not hold the three webhook tokens', EXPECTED);
  }
  const webhook = `https://hooks.slack.com/services/${parts.join('/')}`;
  return {
    service: 'slack',
    display: 'slack webhook',
    secrets: [parts.join('/'), parts.join('-'), parts[2] ?? ''],
    async send(message, opts) {
      await postJson(webhook, { text: message, ...identity }, opts);
    },
  };
}

/** kured's deprecated --slack-hook-url: https://hooks.slack.com/services/A/B/C → slack://A/B/C. */
export function slackHookToNotifyUrl(hookUrl: string): string {
  let url: URL;
  try {
    url = new URL(hookUrl);
  } catch {
    throw badUrl('--slack-hook-url', 'slack', 'is not a URL', 'https://hooks.slack.com/services/A/B/C');
  }
  const parts = segments(url);
  const tokens = parts[0] === 'services' ? parts.slice(1) : parts;
  if (tokens.length !== 3) {
    throw badUrl(
      '--slack-hook-url',
      'slack',
      'does not end in three tokens',
      'https://hooks.slack.com/services/A/B/C',
    );
  }
  return `slack://${tokens.map(encodeURIComponent).join('/')}`;
}
