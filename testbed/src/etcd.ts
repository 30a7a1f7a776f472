import path from 'node:path';
import { freePort } from './ports.ts';
import { type Component, startComponent } from './process.ts';

export interface Etcd {
  component: Component;
  url: string;
}

/** Starts a single-member etcd on loopback; the data dir lives in the cluster's temp dir. */
export async function startEtcd(bin: string, dir: string): Promise<Etcd> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${clientPort}`;
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
  return { component, url };
}
