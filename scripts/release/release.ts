/**
 * `make release`: the image `make image` built, its SBOM, signatures and the chart, pushed to an OCI
 * registry. No Docker: skopeo pushes the image, cosign (from its Go module) signs the image index
 * and the chart and attests the SBOM, oras attaches the SBOM as an OCI 1.1 referrer of the index,
 * helm packages the chart with its provenance file (a PGP signature) and pushes it.
 *
 *   <registry>/kured-ts:<version>             the multi-arch image index (+ cosign .sig and .att)
 *   <registry>/kured-ts  referrer             sbom.spdx.json (application/spdx+json)
 *   oci://<registry>/charts/kured-ts:<version> the chart (+ its .prov layer, + a cosign .sig)
 *
 * RELEASE_REGISTRY=ghcr.io/<owner> (with COSIGN_KEY, COSIGN_PASSWORD, and HELM_SIGN_KEY,
 * HELM_KEYRING and HELM_SIGN_PUBLIC_KEY for the chart's provenance) pushes a real release; the registry's login is the
 * tools' own (`cosign login`, `helm registry login`, `skopeo login`, which share the auth file).
 * Without RELEASE_REGISTRY it is a dry run on this machine: a docker-registry on 127.0.0.1, a key
 * pair made for the run (dist/release/keys), everything pushed there and verified.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { ImageReport } from '../image/build.ts';
import { REPO_ROOT, releaseVersion } from '../image/spec.ts';
import { CHART_DIR, helmBinary } from '../render-manifests.ts';
import { packageChart } from './chart.ts';
import { startLocalRegistry } from './registry.ts';
import { imageSbom } from './sbom.ts';
import { ensureReleaseTools, type ReleaseTools } from './tools.ts';

export const SBOM_TYPE = 'application/spdx+json';

export interface ReleaseKeys {
  /** cosign's encrypted private key and its password, and the public key users verify with. */
  cosignKey: string;
  cosignPassword: string;
  cosignPub?: string;
  /** For the chart's provenance file: a PGP secret keyring (binary export) and the key's name. */
  pgpKeyring?: string;
  pgpKey?: string;
  /** The armored public key: what Artifact Hub's signKey and `helm verify` use. */
  pgpPublic?: string;
}

export interface Release {
  version: string;
  registry: string;
  image: { repository: string; digest: string; reference: string };
  sbom: { file: string; referrer: string; packages: number };
  chart: { oci: string; version: string; digest: string; file: string; provenance?: string };
  seconds: Record<string, number>;
}

export interface ReleaseOptions {
  /** host[:port][/path]: the image goes to <registry>/kured-ts, the chart to <registry>/charts. */
  registry: string;
  /** Plain HTTP (a loopback registry only). */
  plainHttp: boolean;
  keys: ReleaseKeys;
  out: string;
  log?: (line: string) => void;
}

/** The release tools' environment: their config and caches in `home`, never the user's. */
function toolEnv(home: string, keys: ReleaseKeys): NodeJS.ProcessEnv {
  return {
    ...process.env,
    COSIGN_PASSWORD: keys.cosignPassword,
    // cosign would otherwise fetch Sigstore's TUF root for some commands; key-based runs need none.
    TUF_ROOT: join(home, 'sigstore'),
    HELM_CONFIG_HOME: join(home, 'helm/config'),
    HELM_CACHE_HOME: join(home, 'helm/cache'),
    HELM_DATA_HOME: join(home, 'helm/data'),
  };
}

export async function release(opts: ReleaseOptions): Promise<Release> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`release: ${l}\n`));
  const version = releaseVersion();
  const chartMeta = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8'));
  if (String(chartMeta.version) !== version || String(chartMeta.appVersion) !== version)
    throw new Error(
      `release: deploy/helm/kured-ts/Chart.yaml says ${chartMeta.version}/${chartMeta.appVersion}, package.json ${version}; set both to ${version}`,
    );
  const imageDir = join(REPO_ROOT, 'dist/image');
  const reportFile = join(imageDir, 'image.json');
  if (!existsSync(reportFile))
    throw new Error('release: dist/image is missing: run make image (make release does)');
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as ImageReport;
  mkdirSync(opts.out, { recursive: true });
  const tools: ReleaseTools = ensureReleaseTools((l) => log(l.replace(/^release: /, '')));
  const helm = await helmBinary();
  const env = toolEnv(join(opts.out, '.tools-home'), opts.keys);
  const seconds: Record<string, number> = {};
  const step = <T>(what: string, fn: () => T): T => {
    const t0 = Date.now();
    const r = fn();
    seconds[what] = Math.round((Date.now() - t0) / 100) / 10;
    log(`${what}: ${seconds[what]} s`);
    return r;
  };
  /** Runs a tool; its stdout (`both`: stdout and stderr, where a tool reports on stderr). */
  const run = (cmd: string, args: string[], both = false, cwd?: string) => {
    const r = spawnSync(cmd, args, { env, cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) {
      const why = (r.stderr || r.error?.message || '').trim().split('\n').slice(-2).join(' | ');
      throw new Error(`release: ${cmd.split('/').pop()} ${args[0]} failed: ${why}`);
    }
    return both ? r.stdout + r.stderr : r.stdout;
  };
  const http = opts.plainHttp;

  // The SBOM first: it refuses an image whose /app files are not the bundle in dist/.
  const sbomFile = join(opts.out, 'sbom.spdx.json');
  const sbom = step('SBOM (SPDX 2.3) from the image', () => imageSbom(imageDir, version));
  writeFileSync(sbomFile, `${JSON.stringify(sbom, null, 2)}\n`);

  const repository = `${opts.registry}/kured-ts`;
  const tagged = `${repository}:${version}`;
  step('image pushed (skopeo copy --all)', () =>
    run('skopeo', [
      'copy',
      '--all',
      '--preserve-digests',
      '--quiet',
      ...(http ? ['--dest-tls-verify=false'] : []),
      `oci:${join(imageDir, 'oci')}:${version}`,
      `docker://${tagged}`,
    ]),
  );
  const pushed = `sha256:${sha256(run('skopeo', ['inspect', '--raw', ...(http ? ['--tls-verify=false'] : []), `docker://${tagged}`]))}`;
  if (pushed !== report.digest)
    throw new Error(`release: the registry holds ${pushed} for ${tagged}, not the built ${report.digest}`);
  const image = `${repository}@${report.digest}`;
  const cosignRegistry = http ? ['--allow-http-registry', '--allow-insecure-registry'] : [];
  const noTlog = opts.plainHttp ? ['--tlog-upload=false'] : [];

  step('image index signed (cosign sign)', () =>
    run(tools.cosign, [
      'sign',
      '--yes',
      '--recursive',
      `--key=${opts.keys.cosignKey}`,
      ...noTlog,
      ...cosignRegistry,
      image,
    ]),
  );
  step('SBOM attested (cosign attest --type spdxjson)', () =>
    run(tools.cosign, [
      'attest',
      '--yes',
      `--key=${opts.keys.cosignKey}`,
      '--type=spdxjson',
      `--predicate=${sbomFile}`,
      ...noTlog,
      ...cosignRegistry,
      image,
    ]),
  );
  const referrer = step('SBOM attached as a referrer (oras attach)', () => {
    // Run in the output dir: oras names the file in the artifact as it is given (sbom.spdx.json).
    const out = run(
      tools.oras,
      [
        'attach',
        ...(http ? ['--plain-http'] : []),
        `--artifact-type=${SBOM_TYPE}`,
        // The commit's time, not now: the same release gives the same referrer.
        `--annotation=org.opencontainers.image.created=${sbom.creationInfo.created}`,
        '--format=json',
        image,
        `sbom.spdx.json:${SBOM_TYPE}`,
      ],
      false,
      opts.out,
    );
    return (JSON.parse(out) as { digest: string }).digest;
  });

  const chartFile = join(opts.out, `kured-ts-${version}.tgz`);
  rmSync(chartFile, { force: true });
  rmSync(`${chartFile}.prov`, { force: true });
  const { pgpKeyring, pgpKey, pgpPublic } = opts.keys;
  const sign =
    pgpKeyring && pgpKey && pgpPublic
      ? { keyring: pgpKeyring, key: pgpKey, publicKey: pgpPublic }
      : undefined;
  const chart = step(`chart packaged (helm package${sign ? ' --sign' : ''})`, () =>
    packageChart({ helm, version, out: opts.out, env, ...(sign ? { sign } : {}) }),
  );
  // Published beside the chart too (it is in the package, where helm and Artifact Hub read it).
  copyFileSync(join(CHART_DIR, 'values.schema.json'), join(opts.out, 'values.schema.json'));
  const chartOci = `oci://${opts.registry}/charts`;
  const chartDigest = step('chart pushed (helm push)', () => {
    // helm push sends the .prov file beside the chart as a layer of the chart's artifact.
    const out = run(helm, ['push', chartFile, chartOci, ...(http ? ['--plain-http'] : [])], true);
    const digest = /Digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
    if (!digest) throw new Error(`release: helm push printed no digest: ${out.trim()}`);
    return digest;
  });
  step('chart signed (cosign sign)', () =>
    run(tools.cosign, [
      'sign',
      '--yes',
      `--key=${opts.keys.cosignKey}`,
      ...noTlog,
      ...cosignRegistry,
      `${opts.registry}/charts/kured-ts@${chartDigest}`,
    ]),
  );

  const result: Release = {
    version,
    registry: opts.registry,
    image: { repository, digest: report.digest, reference: tagged },
    sbom: { file: sbomFile, referrer, packages: sbom.packages.length },
    chart: {
      oci: `${chartOci}/kured-ts`,
      version,
      digest: chartDigest,
      file: chart.file,
      ...(chart.provenance ? { provenance: chart.provenance } : {}),
    },
    seconds,
  };
  writeFileSync(join(opts.out, 'release.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/**
 * A key pair for a test or a dry run: cosign's (encrypted with a random password) and a PGP key for
 * the chart's provenance (gpg, no passphrase, exported as the binary keyring helm reads).
 */
export function makeTestKeys(dir: string, cosign: string, opts: { pgp?: boolean } = {}): ReleaseKeys {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const password = `test-${randomBytes(12).toString('hex')}`;
  execFileSync(cosign, ['generate-key-pair', `--output-key-prefix=${join(dir, 'cosign')}`], {
    env: { ...process.env, COSIGN_PASSWORD: password },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const keys: ReleaseKeys = {
    cosignKey: join(dir, 'cosign.key'),
    cosignPub: join(dir, 'cosign.pub'),
    cosignPassword: password,
  };
  if (opts.pgp === false) return keys;
  const gnupg = join(dir, 'gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  const gpg = (...args: string[]) =>
    execFileSync('gpg', ['--batch', '--quiet', `--homedir=${gnupg}`, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  try {
    const name = 'kured-ts release test <release-test@kured-ts.invalid>';
    gpg('--pinentry-mode=loopback', '--passphrase=', '--quick-gen-key', name, 'rsa3072', 'sign', 'never');
    writeFileSync(join(dir, 'secring.gpg'), gpg('--export-secret-keys'));
    writeFileSync(join(dir, 'pubring.gpg'), gpg('--export'));
    writeFileSync(join(dir, 'pgp-public.asc'), gpg('--armor', '--export'));
  } finally {
    // gpg started an agent for this home: it would outlive us.
    spawnSync('gpgconf', [`--homedir=${gnupg}`, '--kill', 'gpg-agent'], { stdio: 'ignore' });
  }
  return {
    ...keys,
    pgpKeyring: join(dir, 'secring.gpg'),
    pgpKey: 'kured-ts release test',
    pgpPublic: join(dir, 'pgp-public.asc'),
  };
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The command line: a failure is one line naming its cause, never a stack trace. */
async function main(): Promise<void> {
  const out = join(REPO_ROOT, 'dist/release');
  const target = process.env.RELEASE_REGISTRY;
  if (target) {
    const key = process.env.COSIGN_KEY;
    if (!key || process.env.COSIGN_PASSWORD === undefined)
      throw new Error('release: RELEASE_REGISTRY needs COSIGN_KEY (a cosign.key file) and COSIGN_PASSWORD');
    const r = await release({
      registry: target,
      plainHttp: false,
      out,
      keys: {
        cosignKey: key,
        cosignPassword: process.env.COSIGN_PASSWORD,
        pgpKeyring: process.env.HELM_KEYRING,
        pgpKey: process.env.HELM_SIGN_KEY,
        pgpPublic: process.env.HELM_SIGN_PUBLIC_KEY,
      },
    });
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  } else {
    const tools = ensureReleaseTools();
    const keys = makeTestKeys(join(out, 'keys'), tools.cosign);
    const registry = await startLocalRegistry();
    try {
      const r = await release({ registry: registry.host, plainHttp: true, out, keys });
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      process.stderr.write(
        `release: a dry run into a docker-registry on ${registry.host} (stopped now), signed with the key pair in dist/release/keys; RELEASE_REGISTRY=ghcr.io/<owner> with COSIGN_KEY and COSIGN_PASSWORD pushes a real one (docs/release.md)\n`,
      );
    } finally {
      registry.stop();
    }
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
