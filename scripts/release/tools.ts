/**
 * The release's Go tools, built from their pinned Go modules (scripts/release/tools/<tool>/go.mod):
 * cosign signs the image and the chart and attests the SBOM; oras attaches the SBOM as an OCI 1.1
 * referrer. Built once into `${XDG_CACHE_HOME:-~/.cache}/kured-ts/release-tools/<key>/bin`, keyed by
 * the modules' go.mod/go.sum (a separate cache from the testbed's, so neither invalidates the other);
 * the build goes to a temp dir renamed into place, so an interrupted build never leaves a half cache.
 * helm is the testbed's (scripts/render-manifests.ts helmBinary()).
 *
 *   node scripts/release/tools.ts     # builds if needed, prints the bin directory and the build times
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const TOOLS_DIR = path.join(import.meta.dirname, 'tools');

/** Tool -> its main package; each is its own module so their dependency graphs never bend each other. */
const TOOLS = {
  cosign: 'github.com/sigstore/cosign/v2/cmd/cosign',
  oras: 'oras.land/oras/cmd/oras',
} as const;
export type Tool = keyof typeof TOOLS;

/** Bump when the build recipe changes in a way the go.mod/go.sum hash cannot see. */
const RECIPE_VERSION = '1';

export interface ReleaseTools {
  dir: string;
  cosign: string;
  oras: string;
  /** Seconds each tool took to build (cold, when the cache was filled). */
  buildSeconds: Partial<Record<Tool, number>>;
}

export function releaseToolsKey(): string {
  const hash = createHash('sha256').update(`recipe ${RECIPE_VERSION}\n`);
  for (const tool of Object.keys(TOOLS))
    for (const file of ['go.mod', 'go.sum'])
      hash.update(`${tool}/${file}\n`).update(fs.readFileSync(path.join(TOOLS_DIR, tool, file)));
  return hash.digest('hex').slice(0, 16);
}

function cacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'kured-ts', 'release-tools');
}

function toolsIn(dir: string): ReleaseTools {
  let buildSeconds = {};
  try {
    buildSeconds = JSON.parse(fs.readFileSync(path.join(dir, 'build.json'), 'utf8')).seconds;
  } catch {}
  return {
    dir,
    cosign: path.join(dir, 'bin', 'cosign'),
    oras: path.join(dir, 'bin', 'oras'),
    buildSeconds,
  };
}

const complete = (t: ReleaseTools) => [t.cosign, t.oras].every((f) => fs.existsSync(f));

/** The module's pinned version of a tool, for `--version` stamps and the log. */
function pinnedVersion(tool: Tool): string {
  const gomod = fs.readFileSync(path.join(TOOLS_DIR, tool, 'go.mod'), 'utf8');
  const module = TOOLS[tool].replace(/\/cmd\/.*$/, '');
  const m = new RegExp(`^\\s*${module.replaceAll('.', '\\.')} (v\\S+)`, 'm').exec(gomod);
  if (!m) throw new Error(`release: scripts/release/tools/${tool}/go.mod does not require ${module}`);
  return m[1]!;
}

/** Without these the tools say "devel" for their version. */
function ldflags(tool: Tool): string {
  const v = pinnedVersion(tool);
  if (tool === 'cosign') return `-s -w -X sigs.k8s.io/release-utils/version.gitVersion=${v}`;
  return '-s -w'; // oras's version is in its source
}

/** The cached tools, building them on first use (the log line says how long each took). */
export function ensureReleaseTools(
  log: (l: string) => void = (l) => process.stderr.write(`${l}\n`),
): ReleaseTools {
  const target = path.join(cacheRoot(), releaseToolsKey());
  if (complete(toolsIn(target))) return toolsIn(target);
  fs.mkdirSync(cacheRoot(), { recursive: true });
  const staging = fs.mkdtempSync(path.join(cacheRoot(), '.build-'));
  try {
    fs.mkdirSync(path.join(staging, 'bin'));
    const seconds: Partial<Record<Tool, number>> = {};
    for (const tool of Object.keys(TOOLS) as Tool[]) {
      log(`release: building ${tool} ${pinnedVersion(tool)} from its Go module (first run only)`);
      const t0 = Date.now();
      const r = spawnSync(
        'go',
        [
          'build',
          '-trimpath',
          `-ldflags=${ldflags(tool)}`,
          '-o',
          path.join(staging, 'bin', tool),
          TOOLS[tool],
        ],
        {
          cwd: path.join(TOOLS_DIR, tool),
          env: { ...process.env, CGO_ENABLED: '0' },
          encoding: 'utf8',
          stdio: ['ignore', 'inherit', 'pipe'],
        },
      );
      if (r.error) throw new Error(`release: \`go\` is needed once to build ${tool}: ${r.error.message}`);
      if (r.status !== 0) {
        const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
        throw new Error(`release: building ${tool} failed (is the Go module proxy reachable?): ${tail}`);
      }
      seconds[tool] = Math.round((Date.now() - t0) / 100) / 10;
      log(
        `release: built ${tool} in ${seconds[tool]} s on ${os.availableParallelism()} cores (load ${os.loadavg()[0]!.toFixed(1)})`,
      );
    }
    fs.writeFileSync(
      path.join(staging, 'build.json'),
      `${JSON.stringify({ builtAt: new Date().toISOString(), go: process.env.GOVERSION, cores: os.availableParallelism(), seconds }, null, 2)}\n`,
    );
    if (fs.existsSync(target)) fs.rmSync(target, { recursive: true, force: true });
    try {
      fs.renameSync(staging, target);
    } catch (err) {
      // Another process finished the same build first: keep theirs.
      if (!complete(toolsIn(target))) throw err;
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return toolsIn(target);
}

/** The command line: a failure is one line naming its cause, never a stack trace. */
async function main(): Promise<void> {
  const t = ensureReleaseTools();
  process.stdout.write(`${t.dir}/bin\n`);
  for (const [tool, s] of Object.entries(t.buildSeconds)) process.stdout.write(`${tool}: built in ${s} s\n`);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
