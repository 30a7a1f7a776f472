import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { Command, InvalidArgumentError } from 'commander';
import { ensureBinaries } from './build.ts';
import { startCluster } from './cluster.ts';
import { readCurrent, removeCurrent, requireCurrent, writeCurrent } from './current.ts';
import { errorMessage, TestbedError } from './errors.ts';
import { REBOOT_SIGNAL } from './hosts.ts';
import { bootIdOf, isReady, ZONE_LABEL } from './nodes.ts';
import { currentStatePath } from './paths.ts';
import { cleanupStaleClusters, processStartTime } from './stale.ts';
import { pollUntil } from './wait.ts';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number >= 1');
  return n;
}

const program = new Command('testbed')
  .description('a local Kubernetes control plane with simulated nodes, for kured-ts tests and the demo')
  .showHelpAfterError();

program
  .command('build')
  .description(
    'build (first run only) and cache etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, helm',
  )
  .action(async () => {
    const bins = await ensureBinaries();
    console.log(bins.dir);
  });

program
  .command('up')
  .description('start a cluster and keep it running until Ctrl-C or `testbed down`')
  .option('--nodes <n>', 'number of simulated nodes', positiveInt, 5)
  .option('--reboot-delay <ms>', 'how long a rebooting node stays NotReady', positiveInt, 3000)
  .option('-d, --detach', 'run the cluster in the background and return once it is ready')
  .action(async (opts: { nodes: number; rebootDelay: number; detach?: boolean }) => {
    const running = readCurrent();
    if (running) {
      throw new TestbedError(
        `testbed: a cluster is already up (pid ${running.pid}); stop it with \`testbed down\``,
      );
    }
    if (opts.detach) return upDetached(opts);
    const cluster = await startCluster({ nodes: opts.nodes, rebootDelayMs: opts.rebootDelay });
    writeCurrent(cluster);
    cluster.events.on('reboot:down', (node: string) => console.log(`${node}: rebooting (NotReady)`));
    cluster.events.on('reboot:done', (node: string) => console.log(`${node}: back Ready`));
    cluster.events.on('reboot:error', (node: string, msg: string) =>
      console.log(`${node}: reboot failed: ${msg}`),
    );
    console.log(`export KUBECONFIG=${cluster.kubeconfigPath}`);
    console.log(`state: ${currentStatePath()}; stop with Ctrl-C or \`testbed down\``);
    await new Promise<void>((resolve) => {
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => resolve());
    });
    removeCurrent(process.pid);
    await cluster.stop();
    console.log('testbed: cluster stopped');
  });

/** Starts `testbed up` as a background process and waits until it published a ready cluster. */
async function upDetached(opts: { nodes: number; rebootDelay: number }): Promise<void> {
  // Build here, in the foreground, so the first-run progress is visible.
  await ensureBinaries();
  const logFile = path.join(path.dirname(currentStatePath()), 'up.log');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const out = fs.openSync(logFile, 'w');
  const child = spawn(
    process.execPath,
    [import.meta.filename, 'up', '--nodes', String(opts.nodes), '--reboot-delay', String(opts.rebootDelay)],
    { detached: true, stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  child.unref();
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const state = await pollUntil(() => readCurrent()?.pid === child.pid && readCurrent(), {
    timeoutMs: 120_000,
    intervalMs: 200,
    describe: () => `testbed: the background cluster did not become ready in 120s; see ${logFile}`,
    abort: () => (exited ? `testbed: the background cluster failed: ${lastLine(logFile)}` : undefined),
  });
  process.stderr.write(fs.readFileSync(logFile, 'utf8'));
  console.log(`testbed: cluster up in the background (pid ${state.pid}); log ${logFile}`);
}

function lastLine(file: string): string {
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
  return lines.at(-1) ?? '';
}

program
  .command('down')
  .description('stop the cluster started by `testbed up`, and clean up what killed runs left')
  .action(async () => {
    const state = readCurrent();
    if (state) {
      const alive = () => processStartTime(state.pid) === state.pidStartTime;
      process.kill(state.pid, 'SIGTERM');
      const deadline = Date.now() + 20_000;
      while (alive() && Date.now() < deadline) await sleep(100);
      if (alive()) process.kill(state.pid, 'SIGKILL');
      removeCurrent(state.pid);
      console.log(`testbed: stopped the cluster of pid ${state.pid}`);
    } else {
      console.log('testbed: no cluster is up');
    }
    // Also what a killed `up` or test run left behind: its owner is gone now.
    cleanupStaleClusters((line) => console.log(line));
  });

function age(node: V1Node): string {
  const created = node.metadata?.creationTimestamp;
  if (!created) return '?';
  const s = Math.round((Date.now() - new Date(created).getTime()) / 1000);
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

function adminClient(kubeconfigPath: string): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc.makeApiClient(CoreV1Api);
}

program
  .command('status')
  .description('print the nodes of the running cluster, like `kubectl get nodes`')
  .action(async () => {
    const state = requireCurrent();
    const nodes = (await adminClient(state.kubeconfigPath).listNode()).items;
    const rows = [['NAME', 'STATUS', 'ZONE', 'BOOT-ID', 'AGE', 'VERSION']];
    for (const n of nodes) {
      const status = [isReady(n) ? 'Ready' : 'NotReady', n.spec?.unschedulable ? 'SchedulingDisabled' : '']
        .filter(Boolean)
        .join(',');
      rows.push([
        n.metadata?.name ?? '',
        status,
        n.metadata?.labels?.[ZONE_LABEL] ?? '',
        bootIdOf(n).slice(0, 8),
        age(n),
        n.status?.nodeInfo?.kubeletVersion ?? '',
      ]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows)
      console.log(
        r
          .map((c, i) => c.padEnd(widths[i]! + 3))
          .join('')
          .trimEnd(),
      );
    console.log(`\nserver ${state.server}   KUBECONFIG=${state.kubeconfigPath}`);
  });

program
  .command('reboot <node>')
  .description('reboot a simulated node through its reboot command (or --signal: signal 39 to its init)')
  .option('--signal', `send signal ${REBOOT_SIGNAL} to the node's init process instead`)
  .action(async (node: string, opts: { signal?: boolean }) => {
    const state = requireCurrent();
    const host = state.nodes[node];
    if (!host) {
      throw new TestbedError(
        `testbed: no node named ${node} (nodes: ${Object.keys(state.nodes).join(', ')})`,
      );
    }
    const core = adminClient(state.kubeconfigPath);
    const before = bootIdOf(await core.readNode({ name: node }));
    const started = Date.now();
    if (opts.signal) {
      process.kill(host.initPid, REBOOT_SIGNAL);
    } else {
      const [cmd, ...args] = host.rebootCommand.split(' ');
      await promisify(execFile)(cmd!, args);
    }
    // The boot ID changes when the node goes down, so a new one plus Ready means it came back.
    const after = await pollUntil(
      async () => {
        const n = await core.readNode({ name: node });
        return isReady(n) && bootIdOf(n) !== before && bootIdOf(n);
      },
      { timeoutMs: 120_000, intervalMs: 100, describe: () => `testbed: ${node} did not reboot within 120s` },
    );
    const took = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`${node} rebooted in ${took}s: boot ID ${before.slice(0, 8)} -> ${after.slice(0, 8)}`);
  });

try {
  await program.parseAsync();
} catch (err) {
  process.stderr.write(`${err instanceof TestbedError ? err.message : `testbed: ${errorMessage(err)}`}\n`);
  process.exitCode = 1;
}
