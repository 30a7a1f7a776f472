import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { ConfigError } from '../../../src/core/errors.ts';
import { AgentMetrics } from '../../../src/observe/metrics.ts';
import { type ObserveServer, startObserveServer } from '../../../src/observe/server.ts';

const logger = pino({ level: 'silent' });

/** The value of one sample line, e.g. `kured_reboot_required{node="n1"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics and health endpoints over HTTP', () => {
  const metrics = new AgentMetrics('n1');
  let ready = false;
  let alive = true;
  let server: ObserveServer;
  let base = '';
  const scrape = async () => (await fetch(`${base}/metrics`)).text();

  before(async () => {
    server = await startObserveServer({
      host: '127.0.0.1',
      port: 0,
      registry: metrics.registry,
      ready: () => ready,
      alive: () => alive,
      logger,
    });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  it('says when the rollout is halted on this node, and the phase while it settles after a reboot', async () => {
    assert.equal(sample(await scrape(), 'kured_ts_rollout_halted{node="n1"}'), 0);
    metrics.setPhase('halted');
    metrics.setHalted('pod kube-system/cni-x not Ready');
    let text = await scrape();
    assert.equal(sample(text, 'kured_ts_rollout_halted{node="n1"}'), 1);
    assert.equal(sample(text, 'kured_ts_node_phase{node="n1",phase="halted"}'), 1);
    assert.equal(sample(text, 'kured_ts_node_phase{node="n1",phase="settling"}'), 0);
    metrics.setHalted(undefined);
    metrics.setPhase('idle');
    metrics.observeHealthyWait(7);
    text = await scrape();
    assert.equal(sample(text, 'kured_ts_rollout_halted{node="n1"}'), 0);
    assert.equal(sample(text, 'kured_ts_healthy_wait_seconds_count{node="n1"}'), 1);
  });

  it("serves kured's kured_reboot_required under its exact name and help", async () => {
    let text = await scrape();
    assert.match(text, /^# HELP kured_reboot_required OS requires reboot due to software updates\.$/m);
    assert.match(text, /^# TYPE kured_reboot_required gauge$/m);
    assert.equal(sample(text, 'kured_reboot_required{node="n1"}'), 0);
    metrics.setRebootRequired(true);
    text = await scrape();
    assert.equal(sample(text, 'kured_reboot_required{node="n1"}'), 1);
  });

  it('serves the Prometheus content type and the default process metrics', async () => {
    const res = await fetch(`${base}/metrics`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^nodejs_heap_size_used_bytes /m);
  });

  it('marks exactly the current phase', async () => {
    metrics.setPhase('draining');
    const text = await scrape();
    const phases = ['idle', 'waiting', 'draining', 'rebooting', 'releasing'].map((p) =>
      sample(text, `kured_ts_node_phase{node="n1",phase="${p}"}`),
    );
    assert.deepEqual(phases, [0, 0, 1, 0, 0]);
  });

  it('lists the lock holders and forgets the ones that left', async () => {
    metrics.setLockHolders(['n2', 'n3']);
    let text = await scrape();
    assert.equal(sample(text, 'kured_ts_lock_holders{holder="n2"}'), 1);
    assert.equal(sample(text, 'kured_ts_lock_holders{holder="n3"}'), 1);
    metrics.setLockHolders(['n3']);
    text = await scrape();
    assert.equal(sample(text, 'kured_ts_lock_holders{holder="n2"}'), undefined);
    assert.equal(sample(text, 'kured_ts_lock_holders{holder="n3"}'), 1);
  });

  it('says which gate blocks, and clears it', async () => {
    metrics.setBlocked('prometheus');
    let text = await scrape();
    assert.equal(sample(text, 'kured_ts_reboot_blocked{node="n1",gate="prometheus"}'), 1);
    assert.equal(sample(text, 'kured_ts_reboot_blocked{node="n1",gate="window"}'), 0);
    metrics.setBlocked(undefined);
    text = await scrape();
    assert.equal(sample(text, 'kured_ts_reboot_blocked{node="n1",gate="prometheus"}'), 0);
  });

  it('records drain and reboot durations and counts', async () => {
    metrics.observeDrain(42, true);
    metrics.observeDrain(600, false);
    metrics.observeReboot(95);
    const text = await scrape();
    assert.equal(sample(text, 'kured_ts_drain_duration_seconds_count{node="n1",result="ok"}'), 1);
    assert.equal(sample(text, 'kured_ts_drain_duration_seconds_sum{node="n1",result="failed"}'), 600);
    assert.equal(sample(text, 'kured_ts_drain_duration_seconds_bucket{le="60",node="n1",result="ok"}'), 1);
    assert.equal(sample(text, 'kured_ts_drain_failures_total{node="n1"}'), 1);
    assert.equal(sample(text, 'kured_ts_reboot_duration_seconds_sum{node="n1"}'), 95);
    assert.equal(sample(text, 'kured_ts_reboots_total{node="n1"}'), 1);
  });

  it('exposes when kured-ts cordoned the node, 0 when it did not', async () => {
    metrics.setCordonedSince(new Date('2026-11-23T10:00:00.750Z'));
    assert.equal(sample(await scrape(), 'kured_ts_cordoned_since_seconds{node="n1"}'), 1795428000);
    metrics.setCordonedSince(undefined);
    assert.equal(sample(await scrape(), 'kured_ts_cordoned_since_seconds{node="n1"}'), 0);
  });

  it('/readyz is 503 until ready, /healthz follows liveness', async () => {
    assert.equal((await fetch(`${base}/readyz`)).status, 503);
    ready = true;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    alive = false;
    assert.equal((await fetch(`${base}/healthz`)).status, 503);
    alive = true;
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  });

  it('a port in use is a one-line configuration error', async () => {
    await assert.rejects(
      startObserveServer({
        host: '127.0.0.1',
        port: server.port,
        registry: metrics.registry,
        ready: () => true,
        logger,
      }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message ===
          `--metrics-host/--metrics-port: cannot listen on 127.0.0.1:${server.port} (EADDRINUSE); choose another address or port`,
    );
  });

  it('two instances do not share series', async () => {
    const other = new AgentMetrics('n9', { defaultMetrics: false });
    const text = await other.registry.metrics();
    assert.equal(sample(text, 'kured_reboot_required{node="n9"}'), 0);
    assert.doesNotMatch(text, /node="n1"/);
  });
});

describe('reboot needed for', () => {
  it('is how long the node has needed a reboot, read when scraped; 0 when it does not', async () => {
    const metrics = new AgentMetrics('n1', { defaultMetrics: false });
    const value = async () =>
      (await metrics.registry.getSingleMetric('kured_ts_reboot_needed_seconds')?.get())?.values[0]?.value;
    assert.equal(await value(), 0);
    metrics.setRebootNeededSince(new Date(Date.now() - 3 * 86_400_000));
    const v = (await value()) ?? 0;
    assert.ok(v >= 3 * 86_400 && v < 3 * 86_400 + 5, String(v));
    metrics.setRebootNeededSince(undefined);
    assert.equal(await value(), 0);
  });
});
