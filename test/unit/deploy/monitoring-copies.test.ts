/**
 * The chart's copies of the dashboard and alert rules equal deploy/monitoring (Helm cannot read
 * outside the chart, so scripts/render-manifests.ts copies them): one source of truth. And the
 * chart renders them unchanged when asked.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { CHART_DIR, helmBinary, MONITORING_COPIES, REPO_ROOT } from '../../../scripts/render-manifests.ts';
import { find, render } from './render.ts';

const STALE = 'stale: run `node scripts/render-manifests.ts` and commit deploy/';
const MONITORING = path.join(REPO_ROOT, 'deploy', 'monitoring');
let bin: string;
before(async () => {
  bin = await helmBinary();
});

describe('monitoring in the chart', () => {
  for (const [source, copy] of Object.entries(MONITORING_COPIES)) {
    it(`${copy} equals deploy/monitoring/${source}`, () => {
      const from = path.join(MONITORING, source);
      assert.ok(fs.existsSync(from), `deploy/monitoring/${source} does not exist`);
      const to = path.join(CHART_DIR, copy);
      assert.ok(fs.existsSync(to), `the chart has no ${copy}: ${STALE}`);
      assert.equal(fs.readFileSync(to, 'utf8'), fs.readFileSync(from, 'utf8'), `${copy} is ${STALE}`);
    });
  }

  it('renders the PrometheusRule with the rule groups of deploy/monitoring, templates untouched', () => {
    const objs = render(bin, [
      '--set',
      'prometheusRule.create=true',
      '--set',
      'prometheusRule.labels.release=prom',
    ]);
    const rule = find(objs, 'PrometheusRule');
    const source = parse(fs.readFileSync(path.join(MONITORING, 'prometheusrule.yaml'), 'utf8'));
    assert.deepEqual(rule.spec.groups, source.spec.groups);
    assert.equal(rule.metadata.labels.release, 'prom');
    assert.equal(rule.metadata.namespace, 'kured-ts');
  });

  it('sets the KuredTsRebootOverdue threshold from prometheusRule.rebootOverdueDays', () => {
    const expr = (args: string[]) =>
      find(render(bin, ['--set', 'prometheusRule.create=true', ...args]), 'PrometheusRule')
        .spec.groups.flatMap((g: { rules: { alert: string; expr: string }[] }) => g.rules)
        .find((r: { alert: string }) => r.alert === 'KuredTsRebootOverdue').expr;
    assert.equal(expr([]), 'max by (node) (kured_ts_reboot_needed_seconds) > 7 * 86400');
    assert.equal(
      expr(['--set', 'prometheusRule.rebootOverdueDays=14']),
      'max by (node) (kured_ts_reboot_needed_seconds) > 14 * 86400',
    );
  });

  it('renders the dashboard ConfigMap for the Grafana sidecar, JSON unchanged', () => {
    const objs = render(bin, ['--set', 'grafanaDashboard.create=true']);
    const cm = find(objs, 'ConfigMap');
    assert.equal(cm.metadata.labels.grafana_dashboard, '1');
    const source = JSON.parse(fs.readFileSync(path.join(MONITORING, 'grafana-dashboard.json'), 'utf8'));
    assert.deepEqual(JSON.parse(cm.data['kured-ts.json']), source);
  });

  it('renders neither by default', () => {
    assert.ok(!render(bin).some((o) => o.kind === 'PrometheusRule' || o.kind === 'ConfigMap'));
  });
});
