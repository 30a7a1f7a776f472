import { Command } from 'commander';
import { ensureBinaries } from './build.ts';
import { errorMessage, TestbedError } from './errors.ts';

const program = new Command('testbed').description('local Kubernetes control plane for kured-ts tests');

program
  .command('build')
  .description('build (first run only) and cache etcd, kube-apiserver, kube-controller-manager, kwok, helm')
  .action(async () => {
    const bins = await ensureBinaries();
    console.log(bins.dir);
  });

try {
  await program.parseAsync();
} catch (err) {
  process.stderr.write(`${err instanceof TestbedError ? err.message : `testbed: ${errorMessage(err)}`}\n`);
  process.exitCode = 1;
}
