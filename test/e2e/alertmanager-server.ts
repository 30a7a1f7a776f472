/**
 * A real Alertmanager (Debian's prometheus-alertmanager, installed by scripts/ensure-prometheus.sh)
 * for end-to-end tests: on 127.0.0.1 with a free port, no cluster peers, a temp dir, and helpers
 * for its v2 API (post an alert, silence, list silences).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './prometheus-server.ts';

export interface RunningAlertmanager {
  url: string;
  process: ChildProcess;
  output: () => string;
  stop: () => void;
}

/** Inhibition for the tests: while `Outage` fires, `Inhibited` is muted. */
const CONFIG = `route:
  receiver: blackhole
  group_wait: 1s
receivers:
  - name: blackhole
inhibit_rules:
  - source_matchers: [alertname="Outage"]
    target_matchers: [alertname="Inhibited"]
`;

export function requireAlertmanager(): void {
  try {
    execFileSync('prometheus-alertmanager', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'prometheus-alertmanager is not installed: run scripts/ensure-prometheus.sh (make test does)',
    );
  }
}

export async function startAlertmanager(home: string, webConfig?: string): Promise<RunningAlertmanager> {
  mkdirSync(join(home, 'data'), { recursive: true });
  writeFileSync(join(home, 'alertmanager.yml'), CONFIG);
  const port = await freePort();
  const args = [
    `--config.file=${join(home, 'alertmanager.yml')}`,
    `--storage.path=${join(home, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=',
    '--log.level=warn',
  ];
  if (webConfig) {
    writeFileSync(join(home, 'web.yml'), webConfig);
    args.push(`--web.config.file=${join(home, 'web.yml')}`);
  }
  let output = '';
  const child = spawn('prometheus-alertmanager', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`Alertmanager did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, process: child, output: () => output, stop: () => void child.kill() };
}

/** Fires an alert for the next hour (as Prometheus would, resent). */
export async function fireAlert(am: RunningAlertmanager, labels: Record<string, string>): Promise<void> {
  const now = Date.now();
  const res = await fetch(`${am.url}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      {
        labels,
        startsAt: new Date(now - 1000).toISOString(),
        endsAt: new Date(now + 3_600_000).toISOString(),
      },
    ]),
  });
  if (!res.ok) throw new Error(`posting an alert: HTTP ${res.status} ${await res.text()}`);
}

/** Resolves an alert (endsAt now). */
export async function resolveAlert(am: RunningAlertmanager, labels: Record<string, string>): Promise<void> {
  const now = Date.now();
  await fetch(`${am.url}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      { labels, startsAt: new Date(now - 60_000).toISOString(), endsAt: new Date(now - 1).toISOString() },
    ]),
  });
}

export interface Silence {
  id: string;
  comment: string;
  createdBy: string;
  endsAt: string;
  startsAt: string;
  matchers: { name: string; value: string; isRegex: boolean; isEqual: boolean }[];
  status: { state: string };
}

export async function silences(am: RunningAlertmanager): Promise<Silence[]> {
  return (await (await fetch(`${am.url}/api/v2/silences`)).json()) as Silence[];
}

export async function silence(am: RunningAlertmanager, name: string, value: string): Promise<string> {
  const now = Date.now();
  const res = await fetch(`${am.url}/api/v2/silences`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      matchers: [{ name, value, isRegex: false, isEqual: true }],
      startsAt: new Date(now).toISOString(),
      endsAt: new Date(now + 3_600_000).toISOString(),
      createdBy: 'test',
      comment: 'test silence',
    }),
  });
  return ((await res.json()) as { silenceID: string }).silenceID;
}

/** Alert names Alertmanager itself reports as active and neither silenced nor inhibited. */
export async function unmuted(am: RunningAlertmanager): Promise<string[]> {
  const res = await fetch(`${am.url}/api/v2/alerts?active=true&silenced=false&inhibited=false`);
  return ((await res.json()) as { labels: { alertname: string } }[]).map((a) => a.labels.alertname).sort();
}
