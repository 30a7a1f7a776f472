/** Reads a notification URL (shoutrrr syntax, as in kured's --notify-url) into a Target. */
import { ConfigError } from '../core/errors.ts';
import type { Target } from './delivery.ts';
import { parseDiscord } from './services/discord.ts';
import { parseGeneric } from './services/generic.ts';
import { parseSlack } from './services/slack.ts';
import { parseSmtp } from './services/smtp.ts';
import { parseTeams } from './services/teams.ts';
import { parseTelegram } from './services/telegram.ts';

type Parser = (url: URL, flag: string, scheme: string) => Target;

const PARSERS: Record<string, Parser> = {
  slack: parseSlack,
  teams: parseTeams,
  discord: parseDiscord,
  telegram: parseTelegram,
  smtp: parseSmtp,
  generic: parseGeneric,
  'generic+http': parseGeneric,
  'generic+https': parseGeneric,
};

export const SUPPORTED_SCHEMES: readonly string[] = Object.keys(PARSERS);

/** kured strips quotes a values file may leave around the URL. */
export function stripQuotes(raw: string): string {
  return raw.trim().replace(/^(["'])(.*)\1$/, '$2');
}

/** Throws ConfigError naming the scheme (never the URL: it holds secrets). */
export function parseNotifyUrl(raw: string, flag = '--notify-url'): Target {
  const text = stripQuotes(raw);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (!scheme) {
    throw new ConfigError(
      `${flag}: not a URL of the form scheme://…; supported schemes: ${SUPPORTED_SCHEMES.join(', ')}`,
    );
  }
  const parse = PARSERS[scheme];
  if (!parse) {
    throw new ConfigError(
      `${flag}: the "${scheme}" scheme is not supported by kured-ts; supported: ${SUPPORTED_SCHEMES.join(', ')}`,
    );
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`${flag}: malformed ${scheme} URL; check its escaping (e.g. @ in a token is %40)`);
  }
  return parse(url, flag, scheme);
}
