/**
 * The Helm chart renders what a kured user expects: kured's values keys become kured's flags, and
 * the DaemonSet has the documented defaults. Helm is the real binary built from its Go module.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { helmBinary } from '../../../scripts/render-manifests.ts';
import {
  agentContainer,
  CHART_DIR,
  docsInstallCommand,
  find,
  helm,
  type Obj,
  parseObjects,
  render,
  runAsWritten,
} from './render.ts';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');
let bin: string;

before(async () => {
  bin = await helmBinary();
});

function args(objs: Obj[]): string[] {
  return agentContainer(objs).args;
}

describe('helm chart', () => {
  it('passes helm lint, with default values and with the signal variant', () => {
    for (const extra of [[], ['-f', path.join(CHART_DIR, 'ci', 'signal-values.yaml')]]) {
      const r = helm(bin, ['lint', '--strict', CHART_DIR, ...extra]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
    }
  });

  it('renders the install command of docs/install.md, run by a shell as written', () => {
    // `helm template` takes the same flags as `helm install` and needs no cluster.
    const r = runAsWritten(bin, docsInstallCommand().replace(/^helm install /, 'helm template '));
    assert.equal(r.status, 0, r.stderr);
    const ds = find(parseObjects(r.stdout), 'DaemonSet', 'kured-ts');
    assert.deepEqual(ds.spec.template.spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.equal(ds.metadata.namespace, 'kured-ts');
  });

  it('with defaults, passes only the lock location, the sentinel and kured chart defaults', () => {
    const objs = render(bin);
    assert.deepEqual(args(objs), [
      '--ds-name=kured-ts',
      '--ds-namespace=kured-ts',
      '--reboot-sentinel=/sentinel/reboot-required',
      '--metrics-port=8080',
      '--reboot-command=/bin/systemctl reboot',
      '--log-format=text',
      '--concurrency=1',
    ]);
  });

  it('has the documented DaemonSet defaults', () => {
    const objs = render(bin);
    const ds = find(objs, 'DaemonSet');
    const pod = ds.spec.template.spec;
    const c = agentContainer(objs);
    assert.equal(ds.spec.updateStrategy.type, 'RollingUpdate');
    assert.equal(ds.spec.updateStrategy.rollingUpdate.maxUnavailable, 1);
    assert.equal(pod.hostPID, true);
    assert.equal(pod.serviceAccountName, 'kured-ts');
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.deepEqual(
      pod.tolerations.map((t: Obj) => `${t.key}:${t.effect}`),
      ['node-role.kubernetes.io/control-plane:NoSchedule', 'node-role.kubernetes.io/master:NoSchedule'],
    );
    assert.equal(c.image, 'ghcr.io/kured-ts/kured-ts:0.1.0');
    assert.deepEqual(c.env[0], {
      name: 'KURED_NODE_ID',
      valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
    });
    assert.deepEqual(c.ports, [{ name: 'metrics', containerPort: 8080, protocol: 'TCP' }]);
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'metrics' });
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'metrics' });
    assert.deepEqual(c.resources, { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '128Mi' } });
    assert.deepEqual(c.securityContext, { privileged: true, readOnlyRootFilesystem: true, runAsUser: 0 });
    assert.deepEqual(pod.volumes, [{ name: 'sentinel', hostPath: { path: '/var/run', type: 'Directory' } }]);
    assert.deepEqual(c.volumeMounts, [{ name: 'sentinel', mountPath: '/sentinel', readOnly: true }]);
  });

  it("turns an unchanged kured values file into kured's flags", () => {
    const objs = render(bin, ['-f', path.join(FIXTURES, 'kured-values.yaml')]);
    assert.deepEqual(args(objs).toSorted(), [
      '--alert-filter-regexp=^RebootRequired$',
      '--alert-firing-only',
      '--annotate-nodes',
      '--blocking-pod-selector=app=critical',
      '--blocking-pod-selector=team=db,tier=primary',
      '--concurrency=2',
      '--drain-timeout=15m',
      '--ds-name=kured-ts',
      '--ds-namespace=kured-ts',
      '--end-time=5pm',
      '--force-reboot',
      '--lock-release-delay=5m',
      '--lock-ttl=2h',
      '--log-format=json',
      '--message-template-drain=Draining %s',
      '--metrics-port=8080',
      '--notify-url=slack://tokenA/tokenB/tokenC',
      '--period=30m',
      '--post-reboot-node-labels=kured=done',
      '--pre-reboot-node-labels=kured=rebooting',
      '--prefer-no-schedule-taint=weave.works/kured-node-reboot',
      '--prometheus-url=http://prometheus.monitoring:9090',
      '--reboot-command=/bin/systemctl reboot',
      '--reboot-days=mo',
      '--reboot-days=tu',
      '--reboot-days=we',
      '--reboot-sentinel=/sentinel/reboot-required',
      '--start-time=9am',
      '--time-zone=Europe/Berlin',
    ]);
    const ds = find(objs, 'DaemonSet');
    const c = agentContainer(objs);
    assert.equal(ds.spec.updateStrategy.rollingUpdate.maxUnavailable, 2);
    assert.deepEqual(ds.spec.template.spec.tolerations, [{ operator: 'Exists' }]);
    assert.equal(ds.spec.template.spec.priorityClassName, 'system-node-critical');
    assert.equal(ds.spec.template.metadata.annotations['prometheus.io/scrape'], 'true');
    assert.equal(c.imagePullPolicy, 'Always');
    assert.equal(c.env[1].name, 'KURED_SLACK_HOOK_URL');
  });

  it('passes the healthy-return settings only when set; --halt-on-failure only when false', () => {
    const defaults = args(render(bin));
    assert.ok(
      !defaults.some((a) => /post-reboot-(ready|check|timeout)|halt-on-failure|template-halted/.test(a)),
    );
    const set = args(
      render(bin, [
        '--set',
        'configuration.postRebootReadySelector={app=storage,tier in (net)}',
        '--set',
        'configuration.postRebootCheckAlerts=true',
        '--set',
        'configuration.postRebootTimeout=20m',
        '--set',
        'configuration.haltOnFailure=false',
      ]),
    );
    for (const flag of [
      '--post-reboot-ready-selector=app=storage',
      '--post-reboot-ready-selector=tier in (net)',
      '--post-reboot-check-alerts',
      '--post-reboot-timeout=20m',
      '--halt-on-failure=false',
    ])
      assert.ok(set.includes(flag), `${flag} in ${set.join(' ')}`);
  });

  it('passes the zone rule when asked', () => {
    const objs = render(bin, [
      '--set',
      'configuration.maxZones=1',
      '--set',
      'configuration.zoneLabel=example.com/rack',
    ]);
    assert.ok(args(objs).includes('--max-zones=1'));
    assert.ok(args(objs).includes('--zone-label=example.com/rack'));
  });

  it('mounts the directory of a custom sentinel, as kured does', () => {
    const objs = render(bin, ['--set', 'configuration.rebootSentinel=/run/custom/needs-reboot']);
    assert.ok(args(objs).includes('--reboot-sentinel=/sentinel/needs-reboot'));
    assert.equal(find(objs, 'DaemonSet').spec.template.spec.volumes[0].hostPath.path, '/run/custom');
  });

  it('passes a sentinel command only without the host path, and then mounts nothing', () => {
    const cmd = 'sh -c "! needs-restarting --reboothint"';
    const withHostPath = args(render(bin, ['--set-string', `configuration.rebootSentinelCommand=${cmd}`]));
    assert.ok(!withHostPath.some((a) => a.startsWith('--reboot-sentinel-command')));

    const objs = render(bin, [
      '--set',
      'configuration.useRebootSentinelHostPath=false',
      '--set-string',
      `configuration.rebootSentinelCommand=${cmd}`,
    ]);
    assert.ok(args(objs).includes(`--reboot-sentinel-command=${cmd}`));
    assert.equal(find(objs, 'DaemonSet').spec.template.spec.volumes, undefined);
  });

  it('reads the notification URL from a Secret, as a file or as KURED_NOTIFY_URL', () => {
    const asFile = render(bin, ['--set', 'notifyUrlSecret.name=kured-notify']);
    assert.ok(args(asFile).includes('--notify-url-file=/etc/kured-ts/notify/url'));
    assert.deepEqual(find(asFile, 'DaemonSet').spec.template.spec.volumes[1], {
      name: 'notify-url',
      secret: { secretName: 'kured-notify', items: [{ key: 'url', path: 'url' }] },
    });

    const asEnv = render(bin, [
      '--set',
      'notifyUrlSecret.name=kured-notify',
      '--set',
      'notifyUrlSecret.asFile=false',
    ]);
    assert.ok(!args(asEnv).some((a) => a.startsWith('--notify-url')));
    assert.deepEqual(agentContainer(asEnv).env[1], {
      name: 'KURED_NOTIFY_URL',
      valueFrom: { secretKeyRef: { name: 'kured-notify', key: 'url' } },
    });
  });

  it('points the lock at another DaemonSet for a migration from kured', () => {
    const objs = render(bin, [
      '--set',
      'lock.daemonSetName=kured',
      '--set',
      'lock.daemonSetNamespace=kube-system',
    ]);
    assert.deepEqual(args(objs).slice(0, 2), ['--ds-name=kured', '--ds-namespace=kube-system']);
    const role = find(objs, 'Role', 'kured-ts-lock');
    assert.equal(role.metadata.namespace, 'kube-system');
    assert.deepEqual(role.rules[0].resourceNames, ['kured']);
    assert.equal(find(objs, 'RoleBinding', 'kured-ts-lock').metadata.namespace, 'kube-system');
  });

  it('renders the optional Service and ServiceMonitor only when asked', () => {
    assert.ok(!render(bin).some((o) => o.kind === 'Service' || o.kind === 'ServiceMonitor'));
    const objs = render(bin, ['--set', 'metrics.create=true', '--set', 'metrics.interval=30s']);
    const svc = find(objs, 'Service');
    assert.deepEqual(svc.spec.selector, find(objs, 'DaemonSet').spec.selector.matchLabels);
    assert.equal(svc.spec.ports[0].targetPort, 'metrics');
    const sm = find(objs, 'ServiceMonitor');
    assert.deepEqual(sm.spec.endpoints[0], {
      port: 'metrics',
      path: '/metrics',
      honorLabels: true,
      interval: '30s',
    });
  });

  it('keeps a pre-seeded lock annotation on the DaemonSet (dsAnnotations)', () => {
    const objs = render(bin, [
      '--set-json',
      'dsAnnotations={"weave.works/kured-node-lock":"{\\"nodeID\\":\\"manual\\"}"}',
    ]);
    assert.equal(
      find(objs, 'DaemonSet').metadata.annotations['weave.works/kured-node-lock'],
      '{"nodeID":"manual"}',
    );
  });
});
