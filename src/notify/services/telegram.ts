/** Telegram bots, in shoutrrr's URL form `telegram://token@telegram?chats=@channel,12345`. */
import { postJson, type Target } from '../delivery.ts';
import { badUrl, query, yes } from './common.ts';

const EXPECTED = 'telegram://BOT_TOKEN@telegram?chats=@channel,12345';

export function parseTelegram(url: URL, flag: string): Target {
  // A bot token is `123456:ABC…`, so the URL splits it into user and password.
  const token = [url.username, url.password]
    .filter((p) => p !== '')
    .map(decodeURIComponent)
    .join(':');
  const chats = (query(url, 'chats') ?? query(url, 'channels') ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
  if (!token) throw badUrl(flag, 'telegram', 'has no bot token', EXPECTED);
  if (chats.length === 0) throw badUrl(flag, 'telegram', 'has no chats= list', EXPECTED);
  const parseMode = query(url, 'parsemode');
  const silent = !yes(query(url, 'notification'), true);
  const preview = yes(query(url, 'preview'), true);
  return {
    service: 'telegram',
    display: `telegram bot to ${chats.length} chat${chats.length === 1 ? '' : 's'}`,
    secrets: [token],
    async send(message, opts) {
      for (const chat of chats) {
        await postJson(
          `https://api.telegram.org/bot${token}/sendMessage`,
          {
            chat_id: chat,
            text: message,
            ...(parseMode && parseMode.toLowerCase() !== 'none' ? { parse_mode: parseMode } : {}),
            ...(silent ? { disable_notification: true } : {}),
            ...(preview ? {} : { disable_web_page_preview: true }),
          },
          opts,
        );
      }
    },
  };
}
