/**
 * A real Prometheus (Debian's package, installed by scripts/ensure-prometheus.sh) for end-to-end
 * tests: on 127.0.0.1 with a free port, a temp dir, 1 s scrape and evaluation intervals.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface RunningPrometheus {
  url: string;
  process: ChildProcess;
  output: () => string;
  stop: () => void;
}

export interface PrometheusSetup {
  /** Content of the rule file (a `groups:` document). */
  rules: string;
  /** Extra top-level config, e.g. a `scrape_configs:` block. */
  extraConfig?: string;
  /** Content of --web.config.file (TLS, basic auth); the URL is https when set. */
  webConfig?: string;
}

export function requirePrometheus(): void {
  try {
    execFileSync('prometheus', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('prometheus is not installed: run scripts/ensure-prometheus.sh (make test does)');
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function startPrometheus(home: string, setup: PrometheusSetup): Promise<RunningPrometheus> {
  mkdirSync(join(home, 'data'), { recursive: true });
  writeFileSync(join(home, 'rules.yml'), setup.rules);
  writeFileSync(
    join(home, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - ${join(home, 'rules.yml')}\n${setup.extraConfig ?? ''}`,
  );
  const port = await freePort();
  const args = [
    `--config.file=${join(home, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(home, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ];
  if (setup.webConfig) {
    writeFileSync(join(home, 'web.yml'), setup.webConfig);
    args.push(`--web.config.file=${join(home, 'web.yml')}`);
  }
  let output = '';
  const child = spawn('prometheus', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  return {
    url: `${setup.webConfig ? 'https' : 'http'}://127.0.0.1:${port}`,
    process: child,
    output: () => output,
    stop: () => void child.kill(),
  };
}
