/**
 * Microsoft Teams incoming webhooks, in shoutrrr's URL form
 * `teams://group@tenant/altId/groupOwner[/extraId]?host=org.webhook.office.com`, posting a MessageCard.
 */
import { postJson, type Target } from '../delivery.ts';
import { badUrl, query, segments } from './common.ts';

const EXPECTED = 'teams://group@tenant/altId/groupOwner?host=<org>.webhook.office.com';
const LEGACY_HOST = 'outlook.office.com';

export function parseTeams(url: URL, flag: string): Target {
  let parts: string[];
  if (url.password) {
    // shoutrrr's legacy form: teams://group@tenant:altId@groupOwner
    const [group = '', tenant = ''] = decodeURIComponent(url.username).split('@');
    parts = [group, tenant, decodeURIComponent(url.password), decodeURIComponent(url.hostname)];
  } else {
    parts = [decodeURIComponent(url.username), decodeURIComponent(url.hostname), ...segments(url)];
  }
  if (parts.length < 4 || parts.length > 5 || parts.some((p) => p === '')) {
    throw badUrl(flag, 'teams', 'does not hold group, tenant, altId and groupOwner', EXPECTED);
  }
  const [group, tenant, ...rest] = parts;
  const host = query(url, 'host') || LEGACY_HOST;
  const path = host === LEGACY_HOST ? 'webhook' : 'webhookb2';
  const webhook = `https://${host}/${path}/${group}@${tenant}/IncomingWebhook/${rest.join('/')}`;
  const title = query(url, 'title');
  const color = query(url, 'color');
  return {
    service: 'teams',
    display: `teams webhook on ${host}`,
    secrets: [...rest, `${group}@${tenant}`],
    async send(message, opts) {
      const lines = message.split('\n');
      await postJson(
        webhook,
        {
          '@type': 'MessageCard',
          '@context': 'http://schema.org/extensions',
          markdown: true,
          summary: title || (lines[0] ?? '').slice(0, 80),
          ...(title ? { title } : {}),
          ...(color ? { themeColor: color } : {}),
          sections: lines.map((text) => ({ text })),
        },
        opts,
      );
    },
  };
}
