/**
 * The Prometheus gate against a real Prometheus (Debian's package, installed by
 * scripts/ensure-prometheus.sh): one plain server, one behind TLS (our own CA) and basic auth.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GateVerdict } from '../../src/core/ports.ts';
import { type PrometheusGateOptions, prometheusGate } from '../../src/gates/prometheus.ts';
import { freePort, type RunningPrometheus, requirePrometheus, startPrometheus } from './prometheus-server.ts';

const RULES = `groups:
  - name: kured-ts-test
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
      - alert: RebootRequired
        expr: vector(1)
      - alert: SlowPending
        expr: vector(1)
        for: 1h
      - alert: NeverFires
        expr: vector(0) > 0
`;
// bcrypt of "s3cret" (cost 4, to keep the test fast).
const PASSWORD_HASH = '$2b$04$c/nIG6qT2UPKBY4HdaOxBeVflu8mt1exHHNMshvMgl5fAyZNlUOWO';

/** Polls the gate until every expected alert is reported (the rules evaluate every second). */
async function untilAlertsReported(opts: PrometheusGateOptions, server: RunningPrometheus): Promise<void> {
  const gate = prometheusGate(opts);
  const deadline = Date.now() + 60_000;
  let last: GateVerdict | undefined;
  while (Date.now() < deadline) {
    last = await gate.check(new Date());
    if (!last.open && last.reason.includes('AlwaysFiring, RebootRequired, SlowPending')) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `Prometheus never reported the test alerts; last verdict ${JSON.stringify(last)}\n${server.output()}`,
  );
}

const noFilter = { regexp: undefined, matchOnly: false, firingOnly: false };
const reasonOf = (v: GateVerdict): string => (v.open ? 'open' : v.reason);

describe('Prometheus gate against a real Prometheus', { timeout: 180_000 }, () => {
  let dir = '';
  let plain: RunningPrometheus;
  let secured: RunningPrometheus;

  before(async () => {
    requirePrometheus();
    dir = mkdtempSync(join(tmpdir(), 'kured-ts-prometheus-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-subj',
      '/CN=kured-ts test CA',
      '-days',
      '1',
    );
    ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    ssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '1',
      '-extfile',
      'san.ext',
    );
    writeFileSync(join(dir, 'basic-auth'), 'kured:s3cret\n');
    writeFileSync(join(dir, 'wrong-auth'), 'kured:nope\n');
    plain = await startPrometheus(join(dir, 'plain'), { rules: RULES });
    secured = await startPrometheus(join(dir, 'secured'), {
      rules: RULES,
      webConfig: `tls_server_config:\n  cert_file: ${join(dir, 'server.crt')}\n  key_file: ${join(dir, 'server.key')}\nbasic_auth_users:\n  kured: '${PASSWORD_HASH}'\n`,
    });
    await Promise.all([
      untilAlertsReported({ url: plain.url, ...noFilter }, plain),
      untilAlertsReported(
        {
          url: secured.url,
          ...noFilter,
          caFile: join(dir, 'ca.crt'),
          basicAuthFile: join(dir, 'basic-auth'),
        },
        secured,
      ),
    ]);
  });

  after(() => {
    plain?.stop();
    secured?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const check = async (opts: Partial<PrometheusGateOptions>): Promise<string> =>
    reasonOf(await prometheusGate({ url: plain.url, ...noFilter, ...opts }).check(new Date()));

  it('blocks on firing and pending alerts, listing them sorted; never on an alert that does not fire', async () => {
    assert.equal(await check({}), '3 active alerts in Prometheus: AlwaysFiring, RebootRequired, SlowPending');
  });

  it('ignores the alerts matching --alert-filter-regexp', async () => {
    assert.equal(
      await check({ regexp: /^RebootRequired$/ }),
      '2 active alerts in Prometheus: AlwaysFiring, SlowPending',
    );
  });

  it('with --alert-filter-match-only, only matching alerts block', async () => {
    assert.equal(
      await check({ regexp: /^Slow/, matchOnly: true }),
      '1 active alert in Prometheus: SlowPending',
    );
    assert.equal(await check({ regexp: /^NeverFires$/, matchOnly: true }), 'open');
  });

  it('with --alert-firing-only, pending alerts do not block', async () => {
    assert.equal(
      await check({ firingOnly: true }),
      '2 active alerts in Prometheus: AlwaysFiring, RebootRequired',
    );
    assert.equal(await check({ regexp: /^Slow/, matchOnly: true, firingOnly: true }), 'open');
  });

  it('an unreachable Prometheus blocks, naming the URL without credentials and the cause', async () => {
    const port = await freePort();
    const reason = await check({ url: `http://kured:hunter2@127.0.0.1:${port}/prom` });
    assert.equal(
      reason,
      `cannot query Prometheus at http://127.0.0.1:${port}/prom/ (connect ECONNREFUSED 127.0.0.1:${port}); blocking until it answers`,
    );
  });

  it('TLS with a custom CA and basic auth from a file', async () => {
    const base = { url: secured.url, ...noFilter };
    const caFile = join(dir, 'ca.crt');
    const untrusted = await prometheusGate({ ...base, basicAuthFile: join(dir, 'basic-auth') }).check(
      new Date(),
    );
    assert.match(
      reasonOf(untrusted),
      /^cannot query Prometheus at https:\/\/127\.0\.0\.1:\d+\/ \(.*certificate/,
    );
    const unauthorized = await prometheusGate({
      ...base,
      caFile,
      basicAuthFile: join(dir, 'wrong-auth'),
    }).check(new Date());
    assert.match(reasonOf(unauthorized), /\(HTTP 401\)/);
    assert.doesNotMatch(reasonOf(unauthorized), /nope/);
    const ok = await prometheusGate({
      ...base,
      caFile,
      basicAuthFile: join(dir, 'basic-auth'),
      firingOnly: true,
    }).check(new Date());
    assert.equal(reasonOf(ok), '2 active alerts in Prometheus: AlwaysFiring, RebootRequired');
  });
});
