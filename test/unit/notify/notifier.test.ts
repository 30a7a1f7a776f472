import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ConfigError } from '../../../src/core/errors.ts';
import { createNotifier, type NotifyConfig } from '../../../src/notify/index.ts';
import { captureLogger, notifyConfig, type Receiver, startReceiver } from './receiver.ts';

const config = notifyConfig;

describe('notifier payloads per service', () => {
  let rx: Receiver;
  before(async () => {
    rx = await startReceiver();
  });
  after(() => rx.close());
  beforeEach(() => {
    rx.requests.length = 0;
    rx.answers.length = 0;
  });

  async function send(notifyUrl: string, over: Partial<NotifyConfig> = {}) {
    const { logger, lines } = captureLogger();
    const n = createNotifier(config({ notifyUrl, ...over }), logger, {
      baseUrl: rx.baseUrl,
      retryDelaysMs: [],
    });
    n.notify({ kind: 'drain', node: 'node-1' });
    await n.flush();
    return { request: rx.requests[0], lines: lines() };
  }

  it('slack webhook (legacy tokens): {text} to /services/A/B/C', async () => {
    const { request } = await send('slack://T000/B000/XXXX');
    assert.equal(request?.method, 'POST');
    assert.equal(request?.path, '/services/T000/B000/XXXX');
    assert.equal(request?.headers['content-type'], 'application/json');
    assert.deepEqual(request?.json(), { text: 'Draining node node-1' });
  });

  it('slack webhook (hook: token, bot name and icon)', async () => {
    const { request } = await send('slack://hook:T000-B000-XXXX@webhook?botname=kured&icon=:robot_face:');
    assert.equal(request?.path, '/services/T000/B000/XXXX');
    assert.deepEqual(request?.json(), {
      text: 'Draining node node-1',
      username: 'kured',
      icon_emoji: ':robot_face:',
    });
  });

  it('slack bot token: chat.postMessage with a bearer token and the channel', async () => {
    const { request } = await send('slack://xoxb:1234-5678-abcd@C001CH4NN3L');
    assert.equal(request?.path, '/api/chat.postMessage');
    assert.equal(request?.headers.authorization, 'Bearer xoxb-1234-5678-abcd');
    assert.deepEqual(request?.json(), { channel: 'C001CH4NN3L', text: 'Draining node node-1' });
  });

  it('slack bot token: ok:false from the Web API is a failure, logged without the token', async () => {
    rx.answers.push({ status: 200, body: '{"ok":false,"error":"channel_not_found"}' });
    const { lines } = await send('slack://xoxb:1234-5678-abcd@C001');
    const warn = lines.find((l) => l.includes('notification failed'));
    assert.ok(warn?.includes('channel_not_found'), warn);
    assert.ok(!lines.join('').includes('5678-abcd'));
  });

  it('teams: a MessageCard to the webhook path on ?host=', async () => {
    const { request } = await send('teams://g-1@t-2/alt3/owner4?host=org.webhook.office.com&title=kured');
    assert.equal(request?.path, '/webhookb2/g-1@t-2/IncomingWebhook/alt3/owner4');
    assert.deepEqual(request?.json(), {
      '@type': 'MessageCard',
      '@context': 'http://schema.org/extensions',
      markdown: true,
      summary: 'kured',
      title: 'kured',
      sections: [{ text: 'Draining node node-1' }],
    });
  });

  it('teams: the newer webhook URLs with a fifth part', async () => {
    const { request } = await send('teams://g@t/alt/owner/V2extra?host=org.webhook.office.com');
    assert.equal(request?.path, '/webhookb2/g@t/IncomingWebhook/alt/owner/V2extra');
  });

  it('discord: {content} to /api/webhooks/id/token', async () => {
    const { request } = await send('discord://t0ken@123456?username=kured');
    assert.equal(request?.path, '/api/webhooks/123456/t0ken');
    assert.deepEqual(request?.json(), { content: 'Draining node node-1', username: 'kured' });
  });

  it('telegram: sendMessage to every chat', async () => {
    const { logger } = captureLogger();
    const n = createNotifier(
      config({ notifyUrl: 'telegram://110201543:AAHdq@telegram?chats=@ops,-100123&notification=no' }),
      logger,
      {
        baseUrl: rx.baseUrl,
        retryDelaysMs: [],
      },
    );
    n.notify({ kind: 'reboot', node: 'node-1' });
    await n.flush();
    assert.deepEqual(
      rx.requests.map((r) => [r.path, r.json()]),
      [
        [
          '/bot110201543:AAHdq/sendMessage',
          { chat_id: '@ops', text: 'Rebooting node node-1', disable_notification: true },
        ],
        [
          '/bot110201543:AAHdq/sendMessage',
          { chat_id: '-100123', text: 'Rebooting node node-1', disable_notification: true },
        ],
      ],
    );
  });

  it('generic: a JSON POST with extra fields, headers, basic auth and the remaining query', async () => {
    const { request } = await send(
      'generic+http://u:p4ss@example.com/hook?$cluster=prod&@X-Team=ops&title=kured&keep=1',
    );
    assert.equal(request?.method, 'POST');
    assert.equal(request?.path, '/hook?keep=1');
    assert.equal(request?.headers['x-team'], 'ops');
    assert.equal(request?.headers.authorization, `Basic ${Buffer.from('u:p4ss').toString('base64')}`);
    assert.deepEqual(request?.json(), { cluster: 'prod', title: 'kured', message: 'Draining node node-1' });
  });

  it('custom templates', async () => {
    const { request } = await send('discord://t@1', { messageTemplateDrain: 'kured-ts drains %s now' });
    assert.deepEqual(request?.json(), { content: 'kured-ts drains node-1 now' });
  });
});

describe('notifier delivery', () => {
  let rx: Receiver;
  let dir = '';
  before(async () => {
    rx = await startReceiver();
    dir = mkdtempSync(join(tmpdir(), 'kured-ts-notify-'));
  });
  after(async () => {
    await rx.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    rx.requests.length = 0;
    rx.answers.length = 0;
  });

  it('retries a failing send a bounded number of times, then logs the failure redacted', async () => {
    rx.answers.push(
      { status: 503 },
      { status: 502 },
      { status: 500, body: 'boom at /services/T0/B0/S3CR3TTOKEN' },
    );
    const { logger, lines } = captureLogger();
    const n = createNotifier(config({ notifyUrl: 'slack://T0/B0/S3CR3TTOKEN' }), logger, {
      baseUrl: rx.baseUrl,
      retryDelaysMs: [5, 5],
    });
    n.notify({ kind: 'drain', node: 'n1' });
    await n.flush();
    assert.equal(rx.requests.length, 3);
    const failure = lines().find((l) => l.includes('"msg":"notification failed"'));
    assert.ok(failure, lines().join(''));
    const entry = JSON.parse(failure);
    assert.equal(entry.attempts, 3);
    assert.equal(entry.notify, 'slack webhook');
    assert.match(entry.error, /^HTTP 500: boom at \/services\/\*\*\*$/);
    assert.ok(!lines().join('').includes('S3CR3TTOKEN'));
  });

  it('recovers when a retry succeeds', async () => {
    rx.answers.push({ status: 503 });
    const { logger, lines } = captureLogger();
    const n = createNotifier(config({ notifyUrl: 'discord://tok@1' }), logger, {
      baseUrl: rx.baseUrl,
      retryDelaysMs: [5, 5],
    });
    n.notify({ kind: 'drain', node: 'n1' });
    await n.flush();
    assert.equal(rx.requests.length, 2);
    assert.ok(lines().some((l) => l.includes('"msg":"notification sent"')));
    assert.ok(!lines().some((l) => l.includes('"msg":"notification failed"')));
  });

  it('does not retry a permanent refusal (4xx)', async () => {
    rx.answers.push({ status: 404 });
    const { logger } = captureLogger();
    const n = createNotifier(config({ notifyUrl: 'discord://tok@1' }), logger, {
      baseUrl: rx.baseUrl,
      retryDelaysMs: [5, 5],
    });
    n.notify({ kind: 'drain', node: 'n1' });
    await n.flush();
    assert.equal(rx.requests.length, 1);
  });

  it('never throws nor waits: an unreachable service returns at once and is logged', async () => {
    const closed = await startReceiver();
    await closed.close(); // a port nobody listens on any more
    const { logger, lines } = captureLogger();
    const n = createNotifier(config({ notifyUrl: 'discord://tok@1' }), logger, {
      baseUrl: closed.baseUrl,
      retryDelaysMs: [5],
    });
    const started = performance.now();
    n.notify({ kind: 'drain', node: 'n1' });
    assert.ok(performance.now() - started < 20, 'notify returned at once');
    await n.flush();
    assert.ok(lines().some((l) => l.includes('notification failed') && l.includes('ECONNREFUSED')));
  });

  it('delivers in order', async () => {
    const { logger } = captureLogger();
    const n = createNotifier(config({ notifyUrl: 'discord://tok@1' }), logger, {
      baseUrl: rx.baseUrl,
      retryDelaysMs: [],
    });
    n.notify({ kind: 'drain', node: 'n1' });
    n.notify({ kind: 'reboot', node: 'n1' });
    n.notify({ kind: 'uncordon', node: 'n1' });
    await n.flush();
    assert.deepEqual(
      rx.requests.map((r) => (r.json() as { content: string }).content),
      ['Draining node n1', 'Rebooting node n1', 'Node n1 rebooted & uncordoned successfully!'],
    );
  });

  it('flush(timeout) gives up waiting on a slow delivery', async () => {
    // A receiver that accepts the connection and never answers.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const { logger } = captureLogger();
      const n = createNotifier(config({ notifyUrl: 'discord://tok@1' }), logger, {
        baseUrl: `http://127.0.0.1:${(silent.address() as { port: number }).port}`,
        timeoutMs: 5_000,
        retryDelaysMs: [],
      });
      n.notify({ kind: 'drain', node: 'n1' });
      const started = performance.now();
      await n.flush(100);
      const waited = performance.now() - started;
      assert.ok(waited >= 90 && waited < 1_000, `flush waited ${waited} ms`);
      assert.equal(sockets.length, 1, 'the request was under way');
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('without a URL it does nothing', async () => {
    const n = createNotifier(config({}), captureLogger().logger);
    assert.equal(n.destination, undefined);
    n.notify({ kind: 'drain', node: 'n1' });
    await n.flush();
  });

  it('the URL file wins over --notify-url, which wins over --slack-hook-url', () => {
    const file = join(dir, 'url');
    writeFileSync(file, 'telegram://1:x@telegram?chats=1\n');
    const { logger, lines } = captureLogger();
    assert.equal(
      createNotifier(config({ notifyUrlFile: file, notifyUrl: 'discord://a@1' }), logger).destination,
      'telegram bot to 1 chat',
    );
    assert.equal(
      createNotifier(
        config({ notifyUrl: 'discord://a@1', slackHookUrl: 'https://hooks.slack.com/services/A/B/C' }),
        logger,
      ).destination,
      'discord webhook',
    );
    assert.equal(lines().length, 0);
    assert.equal(
      createNotifier(config({ slackHookUrl: 'https://hooks.slack.com/services/A/B/C' }), logger).destination,
      'slack webhook',
    );
    assert.ok(lines().some((l) => l.includes('--slack-hook-url is deprecated')));
  });

  it('a missing or empty URL file is a startup error', () => {
    const { logger } = captureLogger();
    assert.throws(
      () => createNotifier(config({ notifyUrlFile: join(dir, 'nope') }), logger),
      (e: unknown) =>
        e instanceof ConfigError && /cannot read .*nope \(ENOENT\); check the Secret mount/.test(e.message),
    );
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    assert.throws(() => createNotifier(config({ notifyUrlFile: empty }), logger), /is empty/);
    assert.throws(
      () => createNotifier(config({ notifyUrl: 'ntfy://x' }), logger),
      /"ntfy" scheme is not supported/,
    );
  });
});
