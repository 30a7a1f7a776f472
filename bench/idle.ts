/**
 * What an idle agent costs, and where each megabyte goes.
 *
 * 1. The bundle's contents: each package's bytes in dist/kured-ts.mjs (client-node and nodemailer
 *    must not be there: nodemailer is dist/kured-ts-smtp.mjs, loaded at the first e-mail).
 * 2. Each dependency alone: bundled by itself exactly as scripts/bundle.ts bundles the agent, run in a
 *    fresh Node with the image's flags and environment, its resident memory over bare Node and over
 *    Node with the built-ins the agent cannot do without (https, http, child_process, fs/promises:
 *    the metrics server's listen() loads node:cluster, which loads child_process).
 * 3. The idle agent: the bundle, run as the image runs it (testbed Fleet: NODE_FLAGS and
 *    NODE_ENV_VARS, the image's), with nothing to do: resident memory and CPU time over IDLE_SECONDS
 *    (default 60 s); then what each of the image's memory settings saves, the agent run without it.
 * Targets (issue 12): at most 56 MB resident, below 0.1% of a core.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { BUNDLE_OPTIONS } from '../scripts/bundle.ts';
import { BUNDLE, Fleet, NODE_ENV_VARS, NODE_FLAGS } from '../testbed/src/fleet.ts';
import { startCluster } from '../testbed/src/index.ts';
import { cpuSeconds, rssMb } from './support/proc.ts';

const IDLE_S = Number(process.env.IDLE_SECONDS ?? 60);
const ROOT = join(import.meta.dirname, '..');

// 1. What the bundle holds, by package.
const meta = await build({
  ...BUNDLE_OPTIONS,
  entryPoints: [join(ROOT, 'src/main.ts')],
  write: false,
  outfile: 'kured-ts.mjs',
  metafile: true,
  logLevel: 'error',
});
const byPackage = new Map<string, number>();
for (const output of Object.values(meta.metafile.outputs)) {
  for (const [file, input] of Object.entries(output.inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? 'kured-ts (src/)';
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + input.bytesInOutput);
  }
}
console.log('bundle contents (bytes of each package in dist/kured-ts.mjs):');
for (const [pkg, bytes] of [...byPackage].sort((a, b) => b[1] - a[1])) {
  console.log(`  ${pkg.padEnd(34)} ${(bytes / 1024).toFixed(0).padStart(5)} KiB`);
}
for (const pkg of ['@kubernetes/client-node', 'nodemailer'])
  console.log(`  ${pkg} in the bundle: ${byPackage.has(pkg) ? 'YES (it must not be)' : 'no'}`);

// 2. Each dependency alone, as bundled, in a fresh Node with the image's flags.
const dir = mkdtempSync(join(tmpdir(), 'kured-ts-idle-bench-'));
const BUILTINS =
  "import 'node:https'; import 'node:http'; import 'node:child_process'; import 'node:fs/promises';";
/** Resident memory (MB, median of 3) of a fresh Node running `code` bundled, 1.5 s after start. */
async function rssOf(code: string): Promise<number> {
  const file = join(dir, 'dep.mjs');
  await build({
    ...BUNDLE_OPTIONS,
    stdin: {
      contents: `${code}\nsetTimeout(() => console.log(process.memoryUsage().rss), 1500);`,
      resolveDir: ROOT,
    },
    outfile: file,
    logLevel: 'error',
  });
  const runs = [0, 1, 2].map((): number =>
    Number(
      execFileSync(process.execPath, [...NODE_FLAGS, file], {
        encoding: 'utf8',
        env: { ...process.env, ...NODE_ENV_VARS },
      }),
    ),
  );
  return runs.sort((a, b) => a - b)[1]! / 1048576;
}
/** A difference in MB; below 0.05 is noise. */
const signed = (d: number) => (Math.abs(d) < 0.05 ? '0.0' : `${d > 0 ? '+' : ''}${d.toFixed(1)}`);
const load = (spec: string) => `import * as m from '${spec}'; globalThis.keep = m;`;
const DEPENDENCIES: { name: string; code: string; note: string }[] = [
  { name: 'commander', code: load('commander'), note: 'flags' },
  { name: 'pino', code: load('pino'), note: 'logging' },
  { name: 'yaml', code: load('yaml'), note: 'kubeconfig files' },
  {
    name: 'prom-client (as the agent loads it)',
    code: load(join(ROOT, 'src/observe/prom.ts')),
    note: 'metric classes + scrape-time process metrics',
  },
  {
    name: 'prom-client (its index)',
    code: load('prom-client'),
    note: 'not loaded: default metrics, cluster, Pushgateway',
  },
  { name: 'shlex', code: load('shlex'), note: 'command flags' },
  {
    name: "Node's fetch",
    code: 'globalThis.keep = fetch;',
    note: 'built in; loaded at the first notification (webhooks)',
  },
  {
    name: 'nodemailer',
    code: load('nodemailer'),
    note: 'dist/kured-ts-smtp.mjs, loaded at the first smtp:// notification',
  },
  {
    name: '@kubernetes/client-node',
    code: load('@kubernetes/client-node'),
    note: 'not in the agent (tests only)',
  },
];
const bare = await rssOf('');
const withBuiltins = await rssOf(BUILTINS);
const envText = Object.entries(NODE_ENV_VARS)
  .map(([k, v]) => `${k}=${v}`)
  .join(' ');
console.log(
  `\nresident memory of each dependency alone (${envText} node ${NODE_FLAGS.join(' ')}, bundled like the agent):`,
);
console.log(`  bare Node ${process.version}: ${bare.toFixed(1)} MB`);
console.log(
  `  + https, http, child_process, fs/promises (the agent's built-ins): ${withBuiltins.toFixed(1)} MB (+${(withBuiltins - bare).toFixed(1)})`,
);
console.log(`  ${'dependency'.padEnd(38)} ${'alone'.padStart(7)} ${'+built-ins'.padStart(11)}  note`);
for (const dep of DEPENDENCIES) {
  const alone = (await rssOf(dep.code)) - bare;
  const over = (await rssOf(`${BUILTINS}\n${dep.code}`)) - withBuiltins;
  console.log(
    `  ${dep.name.padEnd(38)} ${signed(alone).padStart(7)} ${signed(over).padStart(11)}  ${dep.note}`,
  );
}
rmSync(dir, { recursive: true, force: true });

// 3. The idle agent.
const cluster = await startCluster({ nodes: 1, log: () => {} });
try {
  const fleet = new Fleet(cluster, { args: ['--period=1m'] });
  await fleet.createLockDaemonSet();
  fleet.startAll();
  await new Promise((r) => setTimeout(r, 5000));
  const pid = fleet.pid('node-1')!;
  const cpu0 = cpuSeconds(pid);
  const samples: number[] = [];
  for (let i = 0; i < IDLE_S; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    samples.push(rssMb(pid));
  }
  const used = cpuSeconds(pid) - cpu0;
  console.log(
    `\nidle agent (${envText} node ${NODE_FLAGS.join(' ')} dist/kured-ts.mjs --period=1m), ${IDLE_S} s:`,
  );
  console.log(
    `  RSS: ${samples.at(-1)!.toFixed(1)} MB at the end, ${Math.max(...samples).toFixed(1)} MB max (target: at most 56 MB)`,
  );
  console.log(
    `  CPU: ${used.toFixed(2)} s over ${IDLE_S} s = ${((used / IDLE_S) * 100).toFixed(3)}% of a core (target: below 0.1%)`,
  );
  await fleet.stop('node-1');

  // What each memory setting of the image saves: the same agent without it, 20 s after its start.
  const without: { name: string; flags: string[]; env: Record<string, string> }[] = [
    { name: 'all of them (the image)', flags: NODE_FLAGS, env: NODE_ENV_VARS },
    ...NODE_FLAGS.map((f) => ({ name: f, flags: NODE_FLAGS.filter((g) => g !== f), env: NODE_ENV_VARS })),
    ...Object.keys(NODE_ENV_VARS).map((k) => ({ name: k, flags: NODE_FLAGS, env: {} })),
  ];
  console.log(
    "\nthe idle agent without each of the image's settings (RSS 20 s after start; + = what it saves):",
  );
  let image = 0;
  for (const [i, v] of without.entries()) {
    const proc = spawn(process.execPath, [...v.flags, BUNDLE, ...fleet.args('node-1')], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...v.env,
        KUBECONFIG: cluster.kubeconfigPath,
        KURED_NODE_ID: 'node-1',
      },
      stdio: 'ignore',
    });
    await new Promise((r) => setTimeout(r, 20_000));
    const rss = rssMb(proc.pid!);
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    if (i === 0) image = rss;
    console.log(`  ${v.name.padEnd(24)} ${rss.toFixed(1)} MB${i === 0 ? '' : ` (${signed(rss - image)})`}`);
  }
  await fleet.stopAll();
} finally {
  await cluster.stop();
}
