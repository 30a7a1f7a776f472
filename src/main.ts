/**
 * Entry point: flags and environment -> adapters -> the reconcile loop, until SIGTERM.
 * A user-fixable error prints one line and exits 1; nothing here prints a stack trace for it.
 */
import { basename } from 'node:path';
import { COMMANDS } from './cli/commands.ts';
import { kubectlCompletion } from './cli/completion.ts';
import { helpText, parseConfig } from './config/parse.ts';
import { ConfigError } from './core/errors.ts';
import { createLogger } from './observe/log.ts';
import { BUILD } from './observe/version.ts';
import { wireAgent } from './wire.ts';

/**
 * The operator commands and @kubernetes/client-node with them: bundled apart (dist/kured-ts-operator.mjs),
 * so that an agent never even parses them (~25 MB less on every node). The image ships the agent only.
 */
async function operator(): Promise<typeof import('./cli/program.ts')> {
  const bundled = !import.meta.url.endsWith('.ts');
  const target = bundled ? './kured-ts-operator.mjs' : './cli/program.ts';
  try {
    return await import(target);
  } catch (err) {
    if (bundled && (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND')
      throw new ConfigError(
        'the operator commands are not part of the agent image; run them from the npm package (kubectl kured-ts ...)',
      );
    throw err;
  }
}

async function main(argv: string[]): Promise<number> {
  const io = { out: (s: string) => process.stdout.write(s), err: (s: string) => process.stderr.write(s) };
  // As the kubectl plugin (kubectl-kured_ts on PATH) every call is an operator command.
  if (basename(process.argv[1] ?? '').startsWith('kubectl_complete-')) {
    io.out(`${kubectlCompletion(argv).join('\n')}\n`);
    return 0;
  }
  if (basename(process.argv[1] ?? '').startsWith('kubectl-'))
    return (await operator()).runOperator(argv, io, 'kubectl kured-ts');
  if ((COMMANDS as readonly string[]).includes(argv[0] ?? ''))
    return (await operator()).runOperator(argv, io);
  if (argv.includes('--version')) {
    process.stdout.write(`kured-ts ${BUILD.version} (commit ${BUILD.revision})\n`);
    return 0;
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText());
    return 0;
  }
  const config = parseConfig(argv, process.env);
  const logger = createLogger(config.logFormat, { node: config.nodeId });
  const { agent, shutdown } = await wireAgent(config, logger);
  logger.info(
    {
      period: config.periodMs / 1000,
      concurrency: config.concurrency,
      lock: `${config.dsNamespace}/${config.dsName}`,
      version: BUILD.version,
    },
    'kured-ts starting',
  );
  agent.start();
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  logger.info('stopping');
  await agent.stop();
  await shutdown();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message =
      err instanceof ConfigError
        ? err.message
        : `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
    // A ConfigError may list several problems: each is its own line.
    for (const line of message.split('\n')) process.stderr.write(`kured-ts: ${line}\n`);
    process.exit(1);
  },
);
