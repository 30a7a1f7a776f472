import path from 'node:path';
import { freePort, listensOn } from './ports.ts';
import { type Component, exitedMessage, logTail, startComponent } from './process.ts';
import { pollUntil } from './wait.ts';

export interface Etcd {
  component: Component;
  url: string;
  port: number;
}

/** Starts a single-member etcd on loopback; the data dir lives in the cluster's temp dir. */
export async function startEtcd(bin: string, dir: string, clientPort?: number): Promise<Etcd> {
  const port = clientPort ?? (await freePort());
  const peerPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const component = startComponent(
    'etcd',
    bin,
    [
      '--name=testbed',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=testbed=${peer}`,
      // A test cluster is thrown away: durability only costs start-up and write latency.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    path.join(dir, 'logs', 'etcd.log'),
  );
  return { component, url, port };
}

/** Resolves once this etcd (not another process on its port) answers /health. */
export async function waitEtcd(etcd: Etcd, timeoutMs = 60_000): Promise<void> {
  await pollUntil(
    async () => {
      const res = await fetch(`${etcd.url}/health`, { signal: AbortSignal.timeout(1000) });
      return res.ok && listensOn(etcd.component.pid, etcd.port);
    },
    {
      timeoutMs,
      intervalMs: 50,
      describe: () =>
        `testbed: etcd not healthy after ${timeoutMs / 1000}s:\n${logTail(etcd.component.logFile)}`,
      abort: () => exitedMessage(etcd.component),
    },
  );
}
