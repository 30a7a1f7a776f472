/**
 * The operator commands (status, plan, reboot, pause, resume, history, completion), as `kured-ts <command>`
 * and as the kubectl plugin `kubectl kured-ts <command>` (the executable kubectl-kured_ts), with
 * kubectl's habits. Exit codes: 0 done (plan: the rollout can proceed), 1 an error (one line on
 * stderr), 2 plan: something blocks the rollout.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../core/errors.ts';
import { statusMessage } from '../kube/errors.ts';
import { BUILD } from '../observe/version.ts';
import { waivedGates } from '../reboot/request.ts';
import { type ClusterFacts, findNode, readCluster } from './cluster.ts';
import { completionScript } from './completion.ts';
import { connectOperator, type KubeOptions, type OperatorClients } from './connect.ts';
import { history } from './history.ts';
import { parseFormat } from './output.ts';
import { pause, resume } from './pause.ts';
import { makePlan, printPlan } from './plan.ts';
import { rebootRequest, requestReboot } from './reboot.ts';
import { status } from './status.ts';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

interface Common {
  kubeconfig?: string;
  context?: string;
  namespace: string;
  dsName: string;
  output?: string;
}

/** Runs one operator command; returns the exit code. `name` is how the user called us. */
export async function runOperator(argv: string[], io: Io, name = 'kured-ts'): Promise<number> {
  let code = 0;
  const line = (s: string) => io.out(s.endsWith('\n') ? s : `${s}\n`);
  const program = new Command(name)
    .description('Operator commands of kured-ts, the Kubernetes reboot daemon')
    .version(
      `kured-ts ${BUILD.version} (commit ${BUILD.revision})`,
      '--version',
      'print the version and the commit it was built from',
    )
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: () => {} })
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `\nExit codes: 0 done (plan: the rollout can proceed), 1 an error, 2 plan: something blocks it.\n\nExample:\n  ${name} plan -n kube-system --ds-name kured`,
    );

  const command = (cmd: string, summary: string, example: string) =>
    program
      .command(cmd)
      .description(summary)
      .addOption(
        new Option(
          '--kubeconfig <file>',
          'path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)',
        ),
      )
      .addOption(new Option('--context <name>', 'the kubeconfig context to use'))
      .addOption(
        new Option('-n, --namespace <namespace>', "namespace of the agents' DaemonSet").default(
          'kube-system',
        ),
      )
      .addOption(
        new Option('--ds-namespace <namespace>', "same as --namespace (the agents' flag name)").hideHelp(),
      )
      .addOption(new Option('--ds-name <name>', "name of the agents' DaemonSet").default('kured'))
      .addHelpText('after', `\nExample:\n  ${example}`);

  const kube = (opts: Common & { dsNamespace?: string }): { c: OperatorClients; o: KubeOptions } => {
    const o: KubeOptions = {
      namespace: opts.dsNamespace ?? opts.namespace,
      dsName: opts.dsName,
      ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
      ...(opts.context ? { context: opts.context } : {}),
    };
    return { c: connectOperator(o), o };
  };
  const facts = (c: OperatorClients, o: KubeOptions): Promise<ClusterFacts> => readCluster(c, o);

  command(
    'status',
    'who holds the lock (and a pause), and per node its cycle and the last thing its agent said',
    `${name} status -n kube-system --ds-name kured -o wide`,
  )
    .option('-o, --output <format>', 'wide, json or yaml')
    .action(async (opts: Common) => {
      const format = parseFormat(opts.output);
      const { c, o } = kube(opts);
      await status(c, await facts(c, o), format, line);
    });

  command(
    'plan',
    'dry run: the nodes that need a reboot in the order they would go, the gates now, the PodDisruptionBudget pre-flight, an estimate; writes nothing',
    `${name} plan -n kube-system --ds-name kured && echo "the rollout can proceed"`,
  )
    .option('-o, --output <format>', 'wide, json or yaml')
    .option(
      '--prometheus-url <url>',
      "ask this Prometheus instead of the agents' --prometheus-url (e.g. a port-forward)",
    )
    .action(async (opts: Common & { prometheusUrl?: string }) => {
      const format = parseFormat(opts.output);
      const { c, o } = kube(opts);
      const plan = await makePlan(c, await facts(c, o), opts.prometheusUrl);
      code = printPlan(plan, format, line);
    });

  command(
    'reboot',
    "ask a node's agent for a reboot now, through the lock, the drain and the budgets as always (needs only get and patch on nodes)",
    `${name} reboot node-3 --reason "kernel fix" --ignore-window`,
  )
    .argument('<node>', 'the node to reboot')
    .option('--reason <text>', 'why, kept with the request (status -o yaml shows it)', '')
    .option('--ignore-window', 'reboot even outside the reboot window', false)
    .option('--ignore-alerts', 'reboot even while Prometheus or Alertmanager alerts would block', false)
    .option('--dry-run', 'write nothing: show what plan would say with this request made', false)
    .option('-o, --output <format>', 'with --dry-run: wide, json or yaml')
    .action(
      async (
        node: string,
        opts: Common & { reason: string; ignoreWindow: boolean; ignoreAlerts: boolean; dryRun: boolean },
      ) => {
        const { c, o } = kube(opts);
        if (!opts.dryRun) {
          line(await requestReboot(c, node, opts));
          return;
        }
        const format = parseFormat(opts.output);
        const f = await facts(c, o);
        const target = findNode(f, node);
        target.neededSince ??= rebootRequest(opts, f.now).at;
        const waived = waivedGates(rebootRequest(opts, f.now));
        code = printPlan(await makePlan(c, f, undefined, waived), format, line);
      },
    );

  command(
    'pause',
    "stop new reboots cluster-wide (kured's manual lock, respected by kured too); cycles in progress finish",
    `${name} pause --reason "release freeze until Monday"`,
  )
    .option('--reason <text>', 'why, shown by status and plan', '')
    .option('-o, --output <format>', 'json or yaml: the pause record')
    .action(async (opts: Common & { reason: string }) => {
      const format = parseFormat(opts.output);
      const { c, o } = kube(opts);
      const outcome = await pause(c, o, opts.reason);
      if (format === 'json' || format === 'yaml') line((await import('./output.ts')).data(format, outcome));
      else line(outcome.message);
    });

  command('resume', 'end a pause: remove exactly what pause wrote', `${name} resume`).action(
    async (opts: Common) => {
      const { c, o } = kube(opts);
      line((await resume(c, o)).message);
    },
  );

  command(
    'history',
    'the reboot cycles recorded on each Node, newest first',
    `${name} history node-1 -o wide`,
  )
    .argument('[node]', 'only this node')
    .option('-o, --output <format>', 'wide, json or yaml')
    .action(async (node: string | undefined, opts: Common) => {
      const format = parseFormat(opts.output);
      const { c, o } = kube(opts);
      code = history(await facts(c, o), node, format, line, (s) => io.err(`${name}: ${s}\n`));
    });

  program
    .command('completion')
    .description('print a shell completion script (bash or zsh)')
    .argument('<shell>', 'bash or zsh')
    .addHelpText('after', `\nExample:\n  source <(${name} completion bash)`)
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh')
        throw new ConfigError(`completion: "${shell}" is not bash or zsh`);
      io.out(completionScript(shell, name));
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.help' ||
        err.code === 'commander.version'
      )
        return 0;
      io.err(`${name}: ${err.message.replace(/^error: /, '').split('\n')[0]}; see ${name} --help\n`);
      return 1;
    }
    const message = err instanceof ConfigError ? err.message : statusMessage(err);
    io.err(`${name}: ${message}\n`);
    return 1;
  }
}
