/**
 * Alertmanager's label matchers (`severity=~"critical|page", team!="db"`, with or without braces),
 * parsed as Alertmanager reads them: =, !=, =~, !~; a value quoted with Go escapes or bare; a regex
 * anchored at both ends; a missing label matches as the empty string. Used to select which alerts
 * block (--alert-matchers) and, templated with the node's name, for the silence during a reboot.
 */
import { ConfigError } from '../core/errors.ts';

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
}

/** Parses a matcher list; throws ConfigError naming `flag` on a malformed one. */
export function parseMatchers(text: string, flag: string): Matcher[] {
  const fail = (why: string): never => {
    throw new ConfigError(
      `${flag}: cannot read ${JSON.stringify(text)} (${why}); write Alertmanager matchers, e.g. severity=~"critical|page",team!="db"`,
    );
  };
  let s = text.trim();
  if (s.startsWith('{')) {
    if (!s.endsWith('}')) fail('a "{" without its "}"');
    s = s.slice(1, -1).trim();
  }
  const out: Matcher[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  while (i < s.length) {
    skipSpace();
    const name = /^(?:[A-Za-z_][A-Za-z0-9_]*|"(?:[^"\\]|\\.)*")/.exec(s.slice(i))?.[0];
    if (!name) fail(`expected a label name at "${s.slice(i, i + 20)}"`);
    i += name!.length;
    skipSpace();
    const op = /^(=~|!~|!=|=)/.exec(s.slice(i))?.[0] as MatchOp | undefined;
    if (!op) fail(`expected =, !=, =~ or !~ after ${name}`);
    i += op!.length;
    skipSpace();
    let value: string;
    if (s[i] === '"') {
      const quoted = /^"(?:[^"\\]|\\.)*"/.exec(s.slice(i))?.[0];
      if (!quoted) fail(`an unterminated quoted value after ${name}${op}`);
      i += quoted!.length;
      value = unquote(quoted!) ?? fail(`a bad escape in ${quoted}`);
    } else {
      const bare = /^[^,"}]*/.exec(s.slice(i))?.[0] ?? '';
      i += bare.length;
      value = bare.trim();
    }
    const label = name!.startsWith('"') ? (unquote(name!) ?? fail(`a bad escape in ${name}`)) : name!;
    if (op === '=~' || op === '!~') {
      try {
        new RegExp(`^(?:${value})$`);
      } catch (err) {
        fail(`${label}${op}"${value}" is not a valid regular expression: ${(err as Error).message}`);
      }
    }
    out.push({ name: label, op: op!, value });
    skipSpace();
    if (i < s.length) {
      if (s[i] !== ',') fail(`expected "," at "${s.slice(i, i + 20)}"`);
      i++;
      skipSpace();
      if (i >= s.length) fail('a trailing ","');
    }
  }
  if (out.length === 0) fail('no matcher');
  return out;
}

/** Do these labels satisfy every matcher of at least one list? (no list: yes) */
export function matchesAny(labels: Record<string, string>, lists: Matcher[][]): boolean {
  return lists.length === 0 || lists.some((list) => matchesAll(labels, list));
}

/** Do these labels satisfy every matcher? */
export function matchesAll(labels: Record<string, string>, matchers: Matcher[]): boolean {
  return matchers.every((m) => matches(labels[m.name] ?? '', m));
}

function matches(actual: string, m: Matcher): boolean {
  switch (m.op) {
    case '=':
      return actual === m.value;
    case '!=':
      return actual !== m.value;
    case '=~':
      return anchored(m.value).test(actual);
    case '!~':
      return !anchored(m.value).test(actual);
  }
}

const compiled = new Map<string, RegExp>();
function anchored(re: string): RegExp {
  let r = compiled.get(re);
  if (!r) {
    r = new RegExp(`^(?:${re})$`);
    compiled.set(re, r);
  }
  return r;
}

/** Matchers as Alertmanager's API takes them in a silence. */
export function toSilenceMatchers(
  matchers: Matcher[],
): { name: string; value: string; isRegex: boolean; isEqual: boolean }[] {
  return matchers.map((m) => ({
    name: m.name,
    value: m.value,
    isRegex: m.op === '=~' || m.op === '!~',
    isEqual: m.op === '=' || m.op === '=~',
  }));
}

/** e.g. `severity=~"critical|page"` */
export function describeMatchers(matchers: Matcher[]): string {
  return matchers.map((m) => `${m.name}${m.op}${JSON.stringify(m.value)}`).join(',');
}

/** A Go-style double-quoted string (the escapes JSON shares with Go). */
function unquote(quoted: string): string | undefined {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return undefined;
  }
}
