/**
 * Bundles the agent into one minified ESM file, dist/kured-ts.mjs: what the image runs, and what
 * the end-to-end tests run. One file loads faster and uses far less memory than node_modules.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { type BuildOptions, build, type Plugin } from 'esbuild';

/**
 * Node's built-in modules through require(), not import: an ESM import builds the module's namespace,
 * which evaluates every lazy export: node:http's WebSocket loads Node's internal fetch (~13 MB),
 * node:process's report, node:tls's root certificates. require() leaves them unevaluated.
 */
export const builtinsByRequire: Plugin = {
  name: 'builtins-by-require',
  setup(b) {
    const builtins = new Set(builtinModules);
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (!builtins.has(name) || args.kind === 'require-call') return undefined;
      return { path: name, namespace: 'builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = require('node:${args.path}');`,
      loader: 'js',
    }));
  },
};

/**
 * yaml from its ES module build (the same code, which its package serves to browsers) instead of its
 * CommonJS one: esbuild can then leave out what kured-ts never calls (stringify, documents, the
 * CST), ~0.2 MB less resident on every node (bench/idle.ts).
 */
export const yamlAsModule: Plugin = {
  name: 'yaml-as-module',
  setup(b) {
    b.onResolve({ filter: /^yaml$/ }, () => ({
      path: join(import.meta.dirname, '../node_modules/yaml/browser/index.js'),
    }));
  },
};

/** The bundle's settings, shared with bench/idle.ts, which bundles each dependency alone the same way. */
export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  plugins: [builtinsByRequire, yamlAsModule],
  // Some dependencies are CommonJS and call require(); give the ESM bundle one.
  banner: {
    // The shebang makes the bundle the npm bins kured-ts and kubectl-kured_ts (the kubectl plugin).
    js: "#!/usr/bin/env node\nimport { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  define: buildDefines(),
  logLevel: 'warning',
} satisfies BuildOptions;

/**
 * package.json's version and the commit, written into the bundle as constants (src/observe/version.ts):
 * the bundle answers --version without a package.json or a git checkout beside it.
 */
export function buildDefines(root = join(import.meta.dirname, '..')): Record<string, string> {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const revision = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  return { KURED_TS_VERSION: JSON.stringify(version), KURED_TS_REVISION: JSON.stringify(revision) };
}

if (import.meta.main) {
  // The agent, and apart from it what it imports at run time only when asked for: the operator
  // commands (src/main.ts) with @kubernetes/client-node, and nodemailer at the first e-mail
  // (src/notify/services/smtp.ts). An idle agent never parses them.
  for (const [entry, outfile] of [
    ['src/main.ts', 'dist/kured-ts.mjs'],
    ['src/cli/program.ts', 'dist/kured-ts-operator.mjs'],
    ['src/notify/services/mailer.ts', 'dist/kured-ts-smtp.mjs'],
  ] as const) {
    const result = await build({
      ...BUNDLE_OPTIONS,
      entryPoints: [entry],
      outfile,
      metafile: true,
    });
    // What went into each file (the npm packages the SBOM lists: scripts/release/sbom.ts).
    writeFileSync(outfile.replace(/\.mjs$/, '.meta.json'), JSON.stringify(result.metafile));
    const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
    process.stdout.write(`bundle: ${outfile} ${(bytes / 1024).toFixed(0)} KiB\n`);
  }
}
