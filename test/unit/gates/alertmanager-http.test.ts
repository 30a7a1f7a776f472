/** The Alertmanager gate's request, credentials, filtering and failures, against a local HTTP stub of its v2 API. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../../src/core/errors.ts';
import { alertmanagerEndpoint, alertmanagerGate } from '../../../src/gates/alertmanager.ts';
import { parseMatchers } from '../../../src/gates/matchers.ts';

const noFilter = { regexp: undefined, matchOnly: false };
const alert = (alertname: string, severity: string, state = 'active', silencedBy: string[] = []) => ({
  labels: { alertname, severity },
  status: { state, silencedBy, inhibitedBy: [] },
});

describe('alertmanagerGate over HTTP', () => {
  let server: Server;
  let url = '';
  let dir = '';
  const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  let reply: { status: number; body: unknown } = { status: 200, body: [] };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kured-ts-am-'));
    server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/am`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('asks for active, unsilenced, uninhibited alerts under the URL path, with basic auth from a file', async () => {
    const auth = join(dir, 'auth');
    writeFileSync(auth, 'kured:pa:ss\n');
    reply = { status: 200, body: [] };
    seen.length = 0;
    const gate = alertmanagerGate(alertmanagerEndpoint({ url, basicAuthFile: auth }), noFilter);
    assert.deepEqual(await gate.check(new Date()), { open: true });
    assert.equal(
      seen[0]?.url,
      '/am/api/v2/alerts?active=true&silenced=false&inhibited=false&unprocessed=false',
    );
    assert.equal(seen[0]?.headers.authorization, `Basic ${Buffer.from('kured:pa:ss').toString('base64')}`);
  });

  it('blocks on the selected alerts only, and never on a suppressed one an old server still returns', async () => {
    reply = {
      status: 200,
      body: [
        alert('DiskFull', 'critical'),
        alert('Noise', 'info'),
        alert('Muted', 'critical', 'suppressed', ['s1']),
        alert('KuredTsLockHeldTooLong', 'critical'),
      ],
    };
    const gate = alertmanagerGate(alertmanagerEndpoint({ url }), {
      regexp: /^KuredTs/,
      matchOnly: false,
      matchers: [parseMatchers('severity=~"critical|page"', '--alert-matchers')],
    });
    assert.deepEqual(await gate.check(new Date()), {
      open: false,
      reason: '1 firing alert in Alertmanager: DiskFull',
    });
  });

  it('fails closed with the cause when Alertmanager answers an error or nothing', async () => {
    reply = { status: 500, body: 'boom\nmore' };
    const v = await alertmanagerGate(alertmanagerEndpoint({ url }), noFilter).check(new Date());
    assert.equal(v.open, false);
    assert.match(
      !v.open ? v.reason : '',
      /^cannot query Alertmanager at http:\/\/127\.0\.0\.1:\d+\/am\/ \(HTTP 500: boom\); blocking until it answers$/,
    );
    const down = alertmanagerGate(alertmanagerEndpoint({ url: 'http://127.0.0.1:1' }), noFilter);
    assert.match(((await down.check(new Date())) as { reason: string }).reason, /ECONNREFUSED/);
  });

  it('a bad URL or credential file is a startup error naming the flag', () => {
    assert.throws(
      () => alertmanagerEndpoint({ url: 'am:9093' }),
      (e: unknown) =>
        e instanceof ConfigError && e.message.startsWith('--alertmanager-url: scheme am: is not supported'),
    );
    assert.throws(
      () => alertmanagerEndpoint({ url, bearerTokenFile: join(dir, 'missing') }),
      (e: unknown) =>
        e instanceof ConfigError && e.message.startsWith('--alertmanager-bearer-token-file: cannot read'),
    );
  });
});
