/** Request shape, credentials and startup errors of the Prometheus gate, against a local HTTP stub of the query API. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../../src/core/errors.ts';
import { prometheusGate } from '../../../src/gates/prometheus.ts';

const noFilter = { regexp: undefined, matchOnly: false, firingOnly: false };

describe('prometheusGate over HTTP', () => {
  let server: Server;
  let url = '';
  let dir = '';
  const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  let reply: { status: number; body: unknown } = { status: 200, body: {} };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kured-ts-prom-'));
    server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply.body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/prometheus`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const success = (names: string[]) => ({
    status: 200,
    body: {
      status: 'success',
      data: {
        resultType: 'vector',
        result: names.map((n) => ({ metric: { alertname: n, alertstate: 'firing' }, value: [1, '1'] })),
      },
    },
  });

  it('queries ALERTS under the URL path and is open when nothing fires', async () => {
    reply = success([]);
    seen.length = 0;
    assert.deepEqual(await prometheusGate({ url, ...noFilter }).check(new Date()), { open: true });
    assert.equal(seen[0]?.url, '/prometheus/api/v1/query?query=ALERTS');
    assert.equal(seen[0]?.headers.authorization, undefined);
  });

  it('sends the bearer token from its file, re-reading it at each query', async () => {
    reply = success(['X']);
    seen.length = 0;
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'first-token\n');
    const gate = prometheusGate({ url, ...noFilter, bearerTokenFile: tokenFile });
    await gate.check(new Date());
    writeFileSync(tokenFile, 'rotated-token');
    await gate.check(new Date());
    assert.deepEqual(
      seen.map((s) => s.headers.authorization),
      ['Bearer first-token', 'Bearer rotated-token'],
    );
  });

  it('sends basic auth from a user:password file and from credentials in the URL', async () => {
    reply = success([]);
    seen.length = 0;
    const authFile = join(dir, 'basic');
    writeFileSync(authFile, 'kured:pa:ss\n');
    await prometheusGate({ url, ...noFilter, basicAuthFile: authFile }).check(new Date());
    await prometheusGate({ url: url.replace('http://', 'http://u%40x:p%3Aw@'), ...noFilter }).check(
      new Date(),
    );
    assert.deepEqual(
      seen.map((s) =>
        Buffer.from(String(s.headers.authorization).replace('Basic ', ''), 'base64').toString(),
      ),
      ['kured:pa:ss', 'u@x:p:w'],
    );
  });

  it('blocks on an error answer, quoting Prometheus', async () => {
    reply = { status: 400, body: { status: 'error', errorType: 'bad_data', error: 'parse error' } };
    const verdict = await prometheusGate({ url, ...noFilter }).check(new Date());
    assert.deepEqual(verdict, {
      open: false,
      reason: `cannot query Prometheus at ${url}/ (HTTP 400: parse error); blocking until it answers`,
    });
  });

  it('blocks when the token file disappears after startup', async () => {
    reply = success([]);
    const tokenFile = join(dir, 'vanishing');
    writeFileSync(tokenFile, 't');
    const gate = prometheusGate({ url, ...noFilter, bearerTokenFile: tokenFile });
    rmSync(tokenFile);
    const verdict = await gate.check(new Date());
    assert.equal(verdict.open, false);
    assert.match(verdict.open ? '' : verdict.reason, /cannot read .*vanishing: ENOENT/);
  });

  it('rejects bad settings at startup with one line', () => {
    const cases: Array<[Parameters<typeof prometheusGate>[0], RegExp]> = [
      [{ url: 'prometheus:9090', ...noFilter }, /^--prometheus-url: scheme prometheus: is not supported/],
      [{ url: 'not a url', ...noFilter }, /^--prometheus-url: "not a url" is not a URL/],
      [
        { url, ...noFilter, bearerTokenFile: join(dir, 'missing') },
        /^--prometheus-bearer-token-file: cannot read .*missing \(ENOENT\)/,
      ],
      [{ url, ...noFilter, caFile: join(dir, 'missing.pem') }, /^--prometheus-ca-file: cannot read/],
      [{ url, ...noFilter, bearerTokenFile: 'a', basicAuthFile: 'b' }, /both set; keep only one/],
    ];
    for (const [opts, message] of cases) {
      assert.throws(
        () => prometheusGate(opts),
        (e: unknown) => e instanceof ConfigError && message.test(e.message),
      );
    }
    const noColon = join(dir, 'nocolon');
    writeFileSync(noColon, 'justuser\n');
    assert.throws(
      () => prometheusGate({ url, ...noFilter, basicAuthFile: noColon }),
      /expected "user:password" on the first line/,
    );
  });
});
