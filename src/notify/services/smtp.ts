/**
 * E-mail, in shoutrrr's URL form
 * `smtp://user:pass@host:port/?fromAddress=a@x&toAddresses=b@y,c@z[&subject=…&encryption=…]`, sent
 * with nodemailer, loaded at the first e-mail (bundled apart: dist/kured-ts-smtp.mjs).
 */
import type { Target } from '../delivery.ts';
import { DeliveryError } from '../delivery.ts';
import { badUrl, query, yes } from './common.ts';

const EXPECTED = 'smtp://user:pass@host:port/?fromAddress=kured@example.com&toAddresses=ops@example.com';
const ENCRYPTIONS = ['auto', 'none', 'explicittls', 'implicittls'];

export function parseSmtp(url: URL, flag: string): Target {
  const host = url.hostname;
  const port = url.port ? Number(url.port) : 25;
  const from = query(url, 'fromAddress');
  const fromName = query(url, 'fromName');
  const to = (query(url, 'toAddresses') ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (!host) throw badUrl(flag, 'smtp', 'has no host', EXPECTED);
  if (!from) throw badUrl(flag, 'smtp', 'has no fromAddress=', EXPECTED);
  if (to.length === 0) throw badUrl(flag, 'smtp', 'has no toAddresses=', EXPECTED);
  const encryption = (query(url, 'encryption') || 'auto').toLowerCase();
  if (!ENCRYPTIONS.includes(encryption)) {
    throw badUrl(
      flag,
      'smtp',
      `has an unknown encryption "${encryption}"`,
      'encryption=Auto, None, ExplicitTLS or ImplicitTLS',
    );
  }
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  const subject = query(url, 'subject') || 'kured-ts';
  const transport = {
    host,
    port,
    // Implicit TLS from the first byte; otherwise STARTTLS when offered, required or refused as asked.
    secure: encryption === 'implicittls' || (encryption === 'auto' && port === 465),
    requireTLS: encryption === 'explicittls',
    ignoreTLS: encryption === 'none' || (encryption === 'auto' && !yes(query(url, 'usestarttls'), true)),
    ...(user ? { auth: { user, pass } } : {}),
    ...(query(url, 'clienthost') ? { name: query(url, 'clienthost') } : {}),
  };
  return {
    service: 'smtp',
    display: `smtp via ${host}:${port}`,
    secrets: pass ? [pass] : [],
    async send(message, opts) {
      const { createTransport } = await mailer();
      const transporter = createTransport({
        ...transport,
        connectionTimeout: opts.timeoutMs,
        greetingTimeout: opts.timeoutMs,
        socketTimeout: opts.timeoutMs,
      });
      try {
        await transporter.sendMail({
          from: fromName ? { name: fromName, address: from } : from,
          to,
          subject,
          text: message,
        });
      } catch (err) {
        const code = (err as { responseCode?: number }).responseCode;
        // 5xx SMTP replies are permanent (bad address, auth refused); anything else may pass later.
        throw new DeliveryError((err as Error).message, code !== undefined && code >= 500);
      } finally {
        transporter.close();
      }
    },
  };
}

/** nodemailer: from the bundle file next to the agent's, or from the sources when run unbundled. */
function mailer(): Promise<typeof import('./mailer.ts')> {
  const bundled = !import.meta.url.endsWith('.ts');
  const file = bundled ? './kured-ts-smtp.mjs' : './mailer.ts';
  return import(file);
}
