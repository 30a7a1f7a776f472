/**
 * `make image`: the kured-ts image for amd64 and arm64, built without Docker and without pulling a
 * base image. Per architecture, three layers: a root filesystem from Debian's packages (rootfs.ts),
 * Node from the npm registry (the version the tests run), and the bundle dist/kured-ts.mjs (with
 * dist/kured-ts-smtp.mjs, nodemailer, which the agent loads at its first e-mail). umoci
 * assembles them into an OCI layout with one multi-architecture index; skopeo writes each
 * architecture as a docker-archive for `docker load` / `kind load image-archive`.
 *
 * Reproducible: SOURCE_DATE_EPOCH is the commit's time, every file of every layer gets it as its
 * mtime, tars are sorted and root-owned, and the image config holds no other time, so the same
 * commit and the same Debian packages give the same digest. The build is skipped when its inputs
 * (bundle, these scripts, Node version, commit) are those of the image already in --out.
 *
 *   node scripts/image/build.ts [--out dist/image] [--arch amd64,arm64] [--force]
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Descriptor, layerTar, readBlob, umoci, writeImageIndex } from './oci.ts';
import { buildRootfs, type Package } from './rootfs.ts';
import {
  APP_FILES,
  APP_USER,
  ARCHES,
  type Arch,
  ENTRYPOINT,
  ENV,
  imageName,
  METRICS_PORT,
  NODE_PATH,
  nodeVersion,
  REPO_ROOT,
  releaseVersion,
  SOURCE_URL,
  SUITE,
} from './spec.ts';

export interface ImageReport {
  reference: string;
  /** Digest of the multi-architecture image index: what `skopeo copy --all` pushes. */
  digest: string;
  node: string;
  /** sha256 of the bundle in the image (dist/kured-ts.mjs when it was built). */
  bundle: string;
  epoch: number;
  revision: string;
  inputs: string;
  platforms: Record<
    string,
    { manifest: string; compressedBytes: number; archive: string; packages: Package[] }
  >;
  buildSeconds: number;
}

const log = (line: string) => process.stderr.write(`image: ${line}\n`);

/** Builds the image into opts.out; `fresh` is false when the image there already had these inputs. */
export function buildImage(opts: { out: string; arches: Arch[]; force?: boolean }): {
  report: ImageReport;
  fresh: boolean;
} {
  const started = Date.now();
  const out = resolve(opts.out);
  const bundle = join(REPO_ROOT, 'dist/kured-ts.mjs');
  for (const file of APP_FILES)
    if (!existsSync(join(REPO_ROOT, 'dist', file)))
      throw new Error(`dist/${file} is missing: run node scripts/bundle.ts (make build)`);
  const revision = git('rev-parse', 'HEAD');
  const epoch = Number(process.env.SOURCE_DATE_EPOCH || git('log', '-1', '--format=%ct'));
  const node = nodeVersion();
  const name = imageName();
  const inputs = inputsDigest({
    bundle,
    node,
    epoch,
    revision,
    arches: opts.arches,
    reference: name.reference,
  });
  const reportFile = join(out, 'image.json');
  if (!opts.force && existsSync(reportFile)) {
    const previous = JSON.parse(readFileSync(reportFile, 'utf8')) as ImageReport;
    if (previous.inputs === inputs && existsSync(join(out, 'oci/index.json'))) {
      return { report: previous, fresh: false };
    }
  }

  const work = mkdtempSync(join(tmpdir(), 'kured-ts-image-'));
  try {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const layout = join(out, 'oci');
    umoci('init', '--layout', layout);
    const created = new Date(epoch * 1000).toISOString();
    const annotations = imageAnnotations(releaseVersion(), revision, created);
    const app = join(work, 'app');
    mkdirSync(join(app, 'app'), { recursive: true });
    for (const file of APP_FILES) {
      copyFileSync(join(REPO_ROOT, 'dist', file), join(app, 'app', file));
      chmodSync(join(app, 'app', file), 0o644);
    }
    layerTar(app, join(work, 'app.tar'), epoch);

    const packages: Partial<Record<Arch, Package[]>> = {};
    for (const arch of opts.arches) {
      const rootfs = join(work, `rootfs-${arch}`);
      packages[arch] = timed(`${arch} root filesystem (mmdebstrap)`, () => {
        const p = buildRootfs(rootfs, arch, epoch, log);
        layerTar(rootfs, join(work, `rootfs-${arch}.tar`), epoch);
        return p;
      });
      timed(`${arch} Node (npm pack ${ARCHES[arch]})`, () => {
        layerTar(nodeLayer(join(work, `node-${arch}`), arch, node), join(work, `node-${arch}.tar`), epoch);
      });

      const image = `${layout}:${arch}`;
      umoci('new', '--image', image);
      const layers: Array<[string, string]> = [
        [`rootfs-${arch}.tar`, `Debian ${SUITE}: ${packages[arch]!.map((p) => p.name).join(' ')}`],
        [`node-${arch}.tar`, `Node ${node} (npm ${ARCHES[arch]})`],
        ['app.tar', `kured-ts bundle ${revision.slice(0, 12)}`],
      ];
      const t0 = Date.now();
      for (const [file, what] of layers) {
        umoci(
          'raw',
          'add-layer',
          '--image',
          image,
          `--history.created=${created}`,
          `--history.created_by=${what}`,
          join(work, file),
        );
      }
      umoci(
        'config',
        '--image',
        image,
        '--no-history',
        `--created=${created}`,
        `--architecture=${arch}`,
        '--os=linux',
        `--config.user=${APP_USER.uid}:${APP_USER.gid}`,
        ...ENTRYPOINT.map((e) => `--config.entrypoint=${e}`),
        ...ENV.map((e) => `--config.env=${e}`),
        `--config.exposedports=${METRICS_PORT}/tcp`,
        '--config.workingdir=/app',
        ...Object.entries(annotations).flatMap(([k, v]) => [
          `--config.label=${k}=${v}`,
          `--manifest.annotation=${k}=${v}`,
        ]),
      );
      log(`${arch} layers compressed and assembled (umoci): ${seconds(t0)}`);
    }
    umoci('gc', '--layout', layout);
    const index = writeImageIndex(layout, name.tag, opts.arches, annotations);

    const platforms: ImageReport['platforms'] = {};
    const manifests = readBlob<{ manifests: Descriptor[] }>(layout, index.digest).manifests;
    for (const arch of opts.arches) {
      const desc = manifests.find((m) => m.platform?.architecture === arch)!;
      const manifest = readBlob<{ config: Descriptor; layers: Descriptor[] }>(layout, desc.digest);
      const archive = join(out, `kured-ts-${arch}.tar`);
      timed(`${arch} docker-archive (skopeo)`, () =>
        execFileSync(
          'skopeo',
          [
            'copy',
            '--quiet',
            `--override-arch=${arch}`,
            `oci:${layout}:${name.tag}`,
            `docker-archive:${archive}:${name.reference}`,
          ],
          {
            stdio: ['ignore', 'inherit', 'inherit'],
          },
        ),
      );
      platforms[arch] = {
        manifest: desc.digest,
        compressedBytes: manifest.config.size + manifest.layers.reduce((s, l) => s + l.size, 0) + desc.size,
        archive,
        packages: packages[arch]!,
      };
    }
    const report: ImageReport = {
      reference: name.reference,
      digest: index.digest,
      node,
      bundle: `sha256:${createHash('sha256').update(readFileSync(bundle)).digest('hex')}`,
      epoch,
      revision,
      inputs,
      platforms,
      buildSeconds: Math.round((Date.now() - started) / 100) / 10,
    };
    writeFileSync(reportFile, `${JSON.stringify(report, null, 2)}\n`);
    return { report, fresh: true };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The OCI annotations of the image (on the index, each manifest, and as labels of each config): the
 * version, the commit, and the commit's time as `created`, so the same commit gives the same digest.
 */
export function imageAnnotations(version: string, revision: string, created: string): Record<string, string> {
  return {
    'org.opencontainers.image.title': 'kured-ts',
    'org.opencontainers.image.description': 'Kubernetes reboot daemon: a drop-in replacement for kured',
    'org.opencontainers.image.version': version,
    'org.opencontainers.image.revision': revision,
    'org.opencontainers.image.source': SOURCE_URL,
    'org.opencontainers.image.created': created,
    'org.opencontainers.image.licenses': 'Apache-2.0',
  };
}

/** /usr/local/bin/node and its licence, from the npm registry's node-linux-<cpu> package. */
function nodeLayer(dir: string, arch: Arch, version: string): string {
  const pkg = ARCHES[arch];
  mkdirSync(dir, { recursive: true });
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--silent', `--pack-destination=${dir}`, `${pkg}@${version}`], {
      encoding: 'utf8',
    }),
  ) as Array<{ filename: string; integrity: string }>;
  // amd64's Node must be the very package the tests run (package-lock.json pins its hash).
  if (arch === 'amd64') {
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8'));
    const locked = lock.packages[`node_modules/${pkg}`]?.integrity;
    if (locked !== packed!.integrity)
      throw new Error(`${pkg}@${version}: ${packed!.integrity} is not package-lock.json's ${locked}`);
  }
  const tgz = join(dir, packed!.filename);
  execFileSync('tar', ['-xzf', tgz, '-C', dir, 'package/bin/node', 'package/LICENSE']);
  const root = join(dir, 'layer');
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  mkdirSync(join(root, 'usr/local/share/doc/node'), { recursive: true });
  copyFileSync(join(dir, 'package/bin/node'), join(root, NODE_PATH));
  chmodSync(join(root, NODE_PATH), 0o755);
  copyFileSync(join(dir, 'package/LICENSE'), join(root, 'usr/local/share/doc/node/LICENSE'));
  chmodSync(join(root, 'usr/local/share/doc/node/LICENSE'), 0o644);
  return root;
}

function timed<T>(what: string, step: () => T): T {
  const t0 = Date.now();
  const result = step();
  log(`${what}: ${seconds(t0)}`);
  return result;
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

function inputsDigest(facts: Record<string, unknown> & { bundle: string }): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ ...facts, bundle: undefined }));
  for (const file of APP_FILES) hash.update(file).update(readFileSync(join(REPO_ROOT, 'dist', file)));
  const scripts = join(REPO_ROOT, 'scripts/image');
  for (const f of readdirSync(scripts).sort()) hash.update(f).update(readFileSync(join(scripts, f)));
  return `sha256:${hash.digest('hex')}`;
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
}

/** A size in MB (10^6 bytes, as registries show it). */
export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: join(REPO_ROOT, 'dist/image') },
      arch: { type: 'string', default: Object.keys(ARCHES).join(',') },
      force: { type: 'boolean', default: false },
    },
  });
  const arches = values.arch.split(',') as Arch[];
  for (const a of arches) if (!(a in ARCHES)) throw new Error(`--arch: unknown architecture ${a}`);
  const { report: r, fresh } = buildImage({ out: values.out, arches, force: values.force });
  for (const [arch, p] of Object.entries(r.platforms)) {
    log(`${arch}: ${megabytes(p.compressedBytes)} compressed, manifest ${p.manifest}, ${p.archive}`);
  }
  const how = fresh ? `built in ${r.buildSeconds} s` : 'up to date: its inputs did not change';
  log(`${r.reference} ${r.digest} (${how})`);
}
