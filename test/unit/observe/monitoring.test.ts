/**
 * The shipped Grafana dashboard and PrometheusRule stay in step with the metrics: every metric a
 * dashboard query names exists in AgentMetrics' registry, and the rules pass `promtool check rules`
 * and fire on synthetic series as intended (`promtool test rules`). promtool comes from Debian's
 * prometheus package (scripts/ensure-prometheus.sh).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { AgentMetrics } from '../../../src/observe/metrics.ts';

const root = new URL('../../../', import.meta.url).pathname;
const dashboard = JSON.parse(readFileSync(join(root, 'deploy/monitoring/grafana-dashboard.json'), 'utf8'));
const rule = parse(readFileSync(join(root, 'deploy/monitoring/prometheusrule.yaml'), 'utf8'));

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
]);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords or labels. */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const name = m[1] ?? '';
    if (m[2] || KEYWORDS.has(name)) continue;
    names.add(name);
  }
  return [...names];
}

function exprs(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(exprs);
  if (node && typeof node === 'object') {
    return Object.entries(node).flatMap(([k, v]) => (k === 'expr' && typeof v === 'string' ? [v] : exprs(v)));
  }
  return [];
}

async function registryNames(): Promise<Set<string>> {
  const metrics = new AgentMetrics('n1');
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

describe('Grafana dashboard', () => {
  it('the name extractor finds metrics and skips functions, labels and keywords', () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.9, sum by (le) (rate(foo_bucket{a="b",c=~"$x"}[1h]))) and on (node) bar > 0',
      ),
      ['foo_bucket', 'bar'],
    );
  });

  it('every metric a query names exists in the agent registry', async () => {
    const known = await registryNames();
    const queries = exprs(dashboard.panels);
    assert.ok(queries.length >= 10, 'the dashboard has its queries');
    const unknown = queries.flatMap((q) =>
      metricNames(q)
        .filter((n) => !known.has(n))
        .map((n) => `${n} in ${q}`),
    );
    assert.deepEqual(unknown, []);
  });

  it('shows every kured metric the agent exports', async () => {
    const used = new Set(
      exprs(dashboard)
        .flatMap(metricNames)
        .map((n) => n.replace(/_(bucket|sum|count)$/, '')),
    );
    const kured = [...(await registryNames())].filter(
      (n) => n.startsWith('kured_') && !/_(bucket|sum|count)$/.test(n),
    );
    assert.deepEqual(
      kured.filter((n) => !used.has(n)),
      [],
    );
  });
});

describe('PrometheusRule', { timeout: 60_000 }, () => {
  let dir = '';
  before(() => {
    const found = spawnSync('promtool', ['--version'], { stdio: 'ignore' });
    if (found.error)
      throw new Error('promtool is not installed: run scripts/ensure-prometheus.sh (make test does)');
    dir = mkdtempSync(join(tmpdir(), 'kured-ts-rules-'));
    writeFileSync(join(dir, 'rules.yml'), stringify({ groups: rule.spec.groups }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is a PrometheusRule whose metrics exist', async () => {
    assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(rule.kind, 'PrometheusRule');
    const known = await registryNames();
    const rules = rule.spec.groups.flatMap((g: { rules: Array<{ expr: string }> }) => g.rules);
    assert.deepEqual(
      rules.flatMap((r: { expr: string }) => metricNames(r.expr).filter((n) => !known.has(n))),
      [],
    );
  });

  it('passes promtool check rules', () => {
    const out = execFileSync('promtool', ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' });
    assert.match(out, /SUCCESS: 7 rules found/);
  });

  it('fires on synthetic series as intended (promtool test rules)', () => {
    const rules = new Map<string, { annotations: Record<string, string> }>(
      rule.spec.groups.flatMap((g: { rules: Array<{ alert: string }> }) => g.rules.map((r) => [r.alert, r])),
    );
    // Expects the alert with these labels and its annotations rendered for them.
    const fires = (eval_time: string, alertname: string, labels: Record<string, string>) => {
      const annotations = rules.get(alertname)?.annotations ?? {};
      const exp_annotations = Object.fromEntries(
        Object.entries(annotations).map(([k, v]) => [
          k,
          v.replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, (_, l) => labels[l] ?? ''),
        ]),
      );
      return { eval_time, alertname, exp_alerts: [{ exp_labels: labels, exp_annotations }] };
    };
    const silent = (eval_time: string, alertname: string) => ({ eval_time, alertname, exp_alerts: [] });
    const tests = {
      rule_files: [join(dir, 'rules.yml')],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            { series: 'kured_reboot_required{node="n1"}', values: '1x5000' },
            { series: 'kured_reboot_required{node="n2"}', values: '0x5000' },
            { series: 'kured_ts_cordoned_since_seconds{node="n1"}', values: '0x10 600x200' },
            { series: 'kured_ts_cordoned_since_seconds{node="n2"}', values: '0x200' },
            { series: 'kured_ts_drain_failures_total{node="n1"}', values: '0x30 1x30' },
            { series: 'kured_ts_reboot_blocked{node="n1",gate="prometheus"}', values: '1x500' },
            { series: 'kured_ts_reboot_blocked{node="n1",gate="window"}', values: '0x500' },
            { series: 'kured_ts_reboot_blocked{node="n2",gate="window"}', values: '1x500' },
            { series: 'kured_ts_lock_holders{holder="n1"}', values: '1x100' },
            { series: 'kured_ts_rollout_halted{node="n1"}', values: '0x10 1x20' },
            { series: 'kured_ts_rollout_halted{node="n2"}', values: '0x30' },
            // Needed for 6 days and 23 hours at the start, then growing a minute a minute.
            { series: 'kured_ts_reboot_needed_seconds{node="n1"}', values: '601200+60x120' },
            { series: 'kured_ts_reboot_needed_seconds{node="n2"}', values: '0x120' },
          ],
          alert_rule_test: [
            silent('71h', 'KuredTsRebootRequiredTooLong'),
            fires('74h', 'KuredTsRebootRequiredTooLong', { severity: 'warning', node: 'n1' }),
            silent('60m', 'KuredTsNodeCordonedTooLong'),
            fires('80m', 'KuredTsNodeCordonedTooLong', { severity: 'warning', node: 'n1' }),
            silent('20m', 'KuredTsDrainFailed'),
            fires('45m', 'KuredTsDrainFailed', { severity: 'warning', node: 'n1' }),
            silent('300m', 'KuredTsRebootBlockedTooLong'),
            fires('370m', 'KuredTsRebootBlockedTooLong', {
              severity: 'info',
              node: 'n1',
              gate: 'prometheus',
            }),
            silent('50m', 'KuredTsLockHeldTooLong'),
            fires('70m', 'KuredTsLockHeldTooLong', { severity: 'warning', holder: 'n1' }),
            silent('5m', 'KuredTsRolloutHalted'),
            fires('12m', 'KuredTsRolloutHalted', { severity: 'critical', node: 'n1' }),
            silent('59m', 'KuredTsRebootOverdue'),
            fires('61m', 'KuredTsRebootOverdue', { severity: 'warning', node: 'n1' }),
          ],
        },
      ],
    };
    const file = join(dir, 'rules.test.yml');
    writeFileSync(file, stringify(tests));
    const run = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  });
});
