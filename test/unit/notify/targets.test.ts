import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/core/errors.ts';
import { parseNotifyUrl, SUPPORTED_SCHEMES, slackHookToNotifyUrl } from '../../../src/notify/index.ts';

const rejects = (raw: string, message: RegExp, secret?: string) =>
  assert.throws(
    () => parseNotifyUrl(raw),
    (e: unknown) =>
      e instanceof ConfigError &&
      message.test(e.message) &&
      !e.message.includes('\n') &&
      (!secret || !e.message.includes(secret)),
    raw,
  );

describe('notification URLs', () => {
  it('supports the schemes kured users have', () => {
    assert.deepEqual(SUPPORTED_SCHEMES, [
      'slack',
      'teams',
      'discord',
      'telegram',
      'smtp',
      'generic',
      'generic+http',
      'generic+https',
    ]);
  });

  it('an unknown scheme names it and lists the supported ones', () => {
    rejects(
      'gotify://gotify.example.com/Aaa.bbb.ccc',
      /^--notify-url: the "gotify" scheme is not supported by kured-ts; supported: slack, teams, discord, telegram, smtp, generic, generic\+http, generic\+https$/,
    );
    rejects(
      'hooks.slack.com/services/A/B/C',
      /^--notify-url: not a URL of the form scheme:\/\/…; supported schemes: slack/,
    );
  });

  it('malformed URLs say what is missing without echoing secrets', () => {
    rejects(
      'slack://T0/B0',
      /^--notify-url: slack URL does not hold the three webhook tokens; expected slack:\/\//,
    );
    rejects('slack://hook:T0-B0@webhook', /three webhook tokens/, 'T0-B0');
    rejects('discord://@123', /discord URL needs a token and a webhook id/);
    rejects('telegram://110201543:AAHsecret@telegram', /telegram URL has no chats= list/, 'AAHsecret');
    rejects(
      'teams://group@tenant/alt?host=x.webhook.office.com',
      /teams URL does not hold group, tenant, altId and groupOwner/,
    );
    rejects('smtp://u:pw@mail.example.com:587/?toAddresses=a@b', /smtp URL has no fromAddress=/);
    rejects('smtp://mail.example.com/?fromAddress=a@b', /smtp URL has no toAddresses=/);
    rejects(
      'smtp://mail.example.com/?fromAddress=a@b&toAddresses=c@d&encryption=rot13',
      /unknown encryption "rot13"/,
    );
    rejects('generic+https://:8080/x', /malformed generic\+https URL|generic URL has no host/);
  });

  it('strips the quotes a values file leaves around the URL, like kured', () => {
    assert.equal(parseNotifyUrl('"slack://T0/B0/XYZ"').display, 'slack webhook');
    assert.equal(parseNotifyUrl("'discord://tok@123'").display, 'discord webhook');
  });

  it('describes each target without its secrets', () => {
    const cases: Array<[string, string, string]> = [
      ['slack://T000/B000/XXXXSECRET', 'slack webhook', 'XXXXSECRET'],
      ['slack://xoxb:123-SECRET@C001CHAN', 'slack chat.postMessage to C001CHAN', 'SECRET'],
      [
        'teams://g@t/alt/owner?host=org.webhook.office.com',
        'teams webhook on org.webhook.office.com',
        'owner',
      ],
      ['discord://SECRET@123', 'discord webhook', 'SECRET'],
      ['telegram://1:SECRET@telegram?chats=@a,42', 'telegram bot to 2 chats', 'SECRET'],
      [
        'smtp://u:SECRET@mail.example.com:587/?fromAddress=a@b&toAddresses=c@d',
        'smtp via mail.example.com:587',
        'SECRET',
      ],
      ['generic://hooks.example.com/SECRET?x=1', 'generic webhook on https://hooks.example.com', 'SECRET'],
      ['generic+http://127.0.0.1:9/SECRET', 'generic webhook on http://127.0.0.1:9', 'SECRET'],
    ];
    for (const [url, display, secret] of cases) {
      const t = parseNotifyUrl(url);
      assert.equal(t.display, display, url);
      assert.ok(!t.display.includes(secret), url);
      assert.ok(
        t.secrets.some((s) => s.includes(secret)),
        `${url} lists its secret for scrubbing`,
      );
    }
  });

  it("converts kured's deprecated --slack-hook-url", () => {
    assert.equal(slackHookToNotifyUrl('https://hooks.slack.com/services/T0/B0/XYZ'), 'slack://T0/B0/XYZ');
    assert.throws(
      () => slackHookToNotifyUrl('https://hooks.slack.com/services/T0/B0'),
      /--slack-hook-url: slack URL does not end in three tokens/,
    );
  });
});
