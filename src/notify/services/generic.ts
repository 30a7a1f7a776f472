/**
 * A generic webhook, in shoutrrr's URL forms `generic://host/path` (HTTPS unless ?disabletls=yes),
 * `generic+http://…` and `generic+https://…`: a JSON POST of `{"message": …}`. As in shoutrrr,
 * `@Header=value` adds a header, `$key=value` adds a field to the JSON, `title=`, `messagekey=`,
 * `titlekey=`, `requestmethod=` and `contenttype=` are options, and any other parameter is kept on
 * the target URL.
 */
import { post, type Target } from '../delivery.ts';
import { badUrl, yes } from './common.ts';

const OPTIONS = new Set([
  'template',
  'contenttype',
  'messagekey',
  'titlekey',
  'title',
  'requestmethod',
  'disabletls',
]);

export function parseGeneric(url: URL, flag: string, scheme: string): Target {
  if (!url.hostname)
    throw badUrl(flag, 'generic', 'has no host', 'generic://host/path or generic+https://host/path');
  const option = (k: string): string | undefined => {
    for (const [key, v] of url.searchParams) if (key.toLowerCase() === k) return v;
    return undefined;
  };
  const tls = scheme === 'generic+https' || (scheme === 'generic' && !yes(option('disabletls'), false));
  const target = new URL(`${tls ? 'https' : 'http'}://${url.host}${url.pathname}`);
  const headers: Record<string, string> = { 'content-type': option('contenttype') || 'application/json' };
  const extra: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    if (key.startsWith('@')) headers[key.slice(1).toLowerCase()] = value;
    else if (key.startsWith('$')) extra[key.slice(1)] = value;
    else if (!OPTIONS.has(key.toLowerCase())) target.searchParams.append(key, value);
  }
  const secrets: string[] = [url.pathname, target.search].filter((s) => s.length > 1);
  if (url.username) {
    const userinfo = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.authorization = `Basic ${Buffer.from(userinfo).toString('base64')}`;
    secrets.push(decodeURIComponent(url.password));
  }
  const method = (option('requestmethod') || 'POST').toUpperCase();
  const messageKey = option('messagekey') || 'message';
  const titleKey = option('titlekey') || 'title';
  const title = option('title');
  return {
    service: 'generic',
    display: `generic webhook on ${target.protocol}//${target.host}`,
    secrets: secrets.filter((s) => s !== ''),
    async send(message, opts) {
      const body = { ...extra, ...(title ? { [titleKey]: title } : {}), [messageKey]: message };
      await post(target.href, JSON.stringify(body), headers, { ...opts, method });
    },
  };
}
