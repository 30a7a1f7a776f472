/** Discord webhooks, in shoutrrr's URL form `discord://token@webhookId`. */
import { postJson, type Target } from '../delivery.ts';
import { badUrl, query } from './common.ts';

const MAX_CONTENT = 2000; // Discord rejects longer messages

export function parseDiscord(url: URL, flag: string): Target {
  const token = decodeURIComponent(url.username);
  const id = decodeURIComponent(url.hostname);
  if (!token || !id)
    throw badUrl(flag, 'discord', 'needs a token and a webhook id', 'discord://token@webhookId');
  const username = query(url, 'username');
  const avatar = query(url, 'avatar') ?? query(url, 'avatarurl');
  return {
    service: 'discord',
    display: 'discord webhook',
    secrets: [token],
    async send(message, opts) {
      await postJson(
        `https://discord.com/api/webhooks/${id}/${token}`,
        {
          content: message.slice(0, MAX_CONTENT),
          ...(username ? { username } : {}),
          ...(avatar ? { avatar_url: avatar } : {}),
        },
        opts,
      );
    },
  };
}
