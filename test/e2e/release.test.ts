/**
 * A release, installed as a user installs it: `make release`'s code pushes the image `make image`
 * built, its SBOM, the signatures and the chart to a registry (Debian's docker-registry on
 * 127.0.0.1), signed with a key pair made for the test. The test then does what docs/install.md
 * tells a user: verify the image index's signature and the SBOM's attestation against the pushed
 * digest with the public key (cosign), find the SBOM among the index's referrers (oras), verify the
 * chart's provenance (helm pull --verify) and signature, and install the chart from the registry
 * (`helm install kured-ts oci://127.0.0.1:PORT/charts/kured-ts --version X`) with the image from the
 * registry pinned to the verified digest. podman pulls that image and runs it as the DaemonSet's
 * container of a simulated node, which goes through a whole reboot cycle.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import parseSpdx from 'spdx-expression-parse';
import { parse } from 'yaml';
import type { ImageReport } from '../../scripts/image/build.ts';
import { REPO_ROOT } from '../../scripts/image/spec.ts';
import { pgpFingerprint } from '../../scripts/release/chart.ts';
import { type LocalRegistry, startLocalRegistry } from '../../scripts/release/registry.ts';
import {
  makeTestKeys,
  type Release,
  type ReleaseKeys,
  release,
  SBOM_TYPE,
} from '../../scripts/release/release.ts';
import type { SpdxDocument } from '../../scripts/release/sbom.ts';
import { ensureReleaseTools, type ReleaseTools } from '../../scripts/release/tools.ts';
import { helmBinary } from '../../scripts/render-manifests.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { agentContainer, parseObjects } from '../unit/deploy/render.ts';
import { settled } from './helm-support.ts';
import { ContainerAgent, type PodContext, serviceAccountDir, withAgent } from './support/container-agent.ts';
import { Podman } from './support/podman.ts';
import { eventReasons, lockValue, waitFor } from './support/scenario.ts';

const NS = 'kured-ts';
const work = mkdtempSync(join(tmpdir(), 'kured-ts-release-'));
let registry: LocalRegistry;
let tools: ReleaseTools;
let keys: ReleaseKeys;
let rel: Release;
let report: ImageReport;
let helmBin: string;

function tool(bin: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(bin, args, {
    encoding: 'utf8',
    env: {
      ...process.env,
      TUF_ROOT: join(work, 'sigstore'),
      HELM_CACHE_HOME: join(work, 'helm-cache'),
      ...env,
    },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(r: { status: number | null; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.status, 0, `${what}: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  const file = join(REPO_ROOT, 'dist/image/image.json');
  assert.ok(existsSync(file), `${file} is missing: run make image (make test does)`);
  report = JSON.parse(readFileSync(file, 'utf8'));
  tools = ensureReleaseTools();
  helmBin = await helmBinary();
  keys = makeTestKeys(join(work, 'keys'), tools.cosign);
  registry = await startLocalRegistry();
  rel = await release({
    registry: registry.host,
    plainHttp: true,
    keys,
    out: join(work, 'out'),
    log: () => {},
  });
});

after(() => {
  registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

const cosignHttp = ['--allow-http-registry', '--allow-insecure-registry'];

describe('a release in a registry', () => {
  it('holds the image index as built, under the version tag', () => {
    assert.equal(rel.image.digest, report.digest);
    assert.equal(rel.image.reference, `${registry.host}/kured-ts:${rel.version}`);
    const raw = ok(
      tool('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${rel.image.reference}`]),
      'skopeo inspect',
    );
    assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, report.digest);
    const index = JSON.parse(raw);
    assert.equal(index.annotations['org.opencontainers.image.version'], rel.version);
    assert.equal(index.annotations['org.opencontainers.image.revision'], report.revision);
    assert.equal(
      index.annotations['org.opencontainers.image.created'],
      new Date(report.epoch * 1000).toISOString(),
    );
  });

  it("the index's signature verifies with the release's public key, and not with another key", () => {
    const image = `${rel.image.repository}@${rel.image.digest}`;
    const out = ok(
      tool(tools.cosign, [
        'verify',
        `--key=${keys.cosignPub}`,
        '--insecure-ignore-tlog',
        ...cosignHttp,
        image,
      ]),
      'cosign verify',
    );
    const [claim] = JSON.parse(out) as Array<{ critical: { image: { 'docker-manifest-digest': string } } }>;
    assert.equal(claim!.critical.image['docker-manifest-digest'], rel.image.digest);
    const other = makeTestKeys(join(work, 'other-keys'), tools.cosign, { pgp: false });
    const wrong = tool(tools.cosign, [
      'verify',
      `--key=${other.cosignPub}`,
      '--insecure-ignore-tlog',
      ...cosignHttp,
      image,
    ]);
    assert.notEqual(wrong.status, 0, 'cosign verify accepted a key that did not sign');
  });

  it('the SBOM attestation verifies against the pushed digest and holds the SBOM written', () => {
    const out = ok(
      tool(tools.cosign, [
        'verify-attestation',
        `--key=${keys.cosignPub}`,
        '--type=spdxjson',
        '--insecure-ignore-tlog',
        ...cosignHttp,
        `${rel.image.repository}@${rel.image.digest}`,
      ]),
      'cosign verify-attestation',
    );
    const envelope = JSON.parse(out.trim().split('\n')[0]!) as { payload: string };
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
    assert.equal(statement.predicateType, 'https://spdx.dev/Document');
    assert.deepEqual(statement.subject[0].digest, { sha256: rel.image.digest.replace(/^sha256:/, '') });
    assert.deepEqual(statement.predicate, JSON.parse(readFileSync(rel.sbom.file, 'utf8')));
  });

  it('the SBOM is a referrer of the index (oras discover), the same bytes as written', () => {
    const image = `${rel.image.repository}@${rel.image.digest}`;
    const found = JSON.parse(
      ok(
        tool(tools.oras, [
          'discover',
          '--plain-http',
          '--format=json',
          `--artifact-type=${SBOM_TYPE}`,
          image,
        ]),
        'oras discover',
      ),
    ) as { referrers?: Array<{ digest: string }>; manifests?: Array<{ digest: string }> };
    const referrers = found.referrers ?? found.manifests ?? [];
    assert.deepEqual(
      referrers.map((r) => r.digest),
      [rel.sbom.referrer],
    );
    const dir = join(work, 'pulled-sbom');
    ok(
      tool(tools.oras, [
        'pull',
        '--plain-http',
        `--output=${dir}`,
        `${rel.image.repository}@${rel.sbom.referrer}`,
      ]),
      'oras pull',
    );
    assert.deepEqual(readFileSync(join(dir, 'sbom.spdx.json')), readFileSync(rel.sbom.file));
  });

  it('the SBOM lists what the image holds: its Debian packages, Node and the bundled npm packages, with valid licences', () => {
    const doc = JSON.parse(readFileSync(rel.sbom.file, 'utf8')) as SpdxDocument;
    assert.equal(doc.spdxVersion, 'SPDX-2.3');
    assert.equal(doc.dataLicense, 'CC0-1.0');
    assert.match(doc.documentNamespace, /^https:\/\/\S+$/);
    const ids = new Set(doc.packages.map((p) => p.SPDXID));
    assert.equal(ids.size, doc.packages.length, 'SPDXIDs are unique');
    for (const r of doc.relationships) {
      assert.ok(r.spdxElementId === 'SPDXRef-DOCUMENT' || ids.has(r.spdxElementId), r.spdxElementId);
      assert.ok(ids.has(r.relatedSpdxElement), r.relatedSpdxElement);
    }
    const refs = new Set(doc.hasExtractedLicensingInfos.map((l) => l.licenseId));
    for (const p of doc.packages) {
      assert.ok(p.name && p.versionInfo && p.downloadLocation && p.copyrightText, p.SPDXID);
      if (p.licenseDeclared === 'NOASSERTION') continue;
      // Throws on anything that is not an SPDX licence expression.
      const licences = JSON.stringify(parseSpdx(p.licenseDeclared));
      for (const ref of licences.match(/LicenseRef-[\w.-]+/g) ?? [])
        assert.ok(refs.has(ref), `${p.name}: ${ref}`);
    }
    const purls = doc.packages.flatMap((p) => p.externalRefs ?? []).map((r) => r.referenceLocator);
    for (const [arch, platform] of Object.entries(report.platforms)) {
      for (const deb of platform.packages)
        assert.ok(
          purls.some((u) =>
            u.startsWith(
              `pkg:deb/debian/${encodeURIComponent(deb.name)}@${encodeURIComponent(deb.version)}?arch=${deb.architecture}`,
            ),
          ),
          `${arch}: ${deb.name} ${deb.version}`,
        );
      const image = doc.packages.find((p) => p.name === `kured-ts linux/${arch}`)!;
      assert.equal(image.checksums?.[0]?.checksumValue, platform.manifest.replace(/^sha256:/, ''));
    }
    assert.ok(doc.packages.some((p) => p.name === 'node' && p.versionInfo === report.node));
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8'));
    for (const dep of ['pino', 'commander', 'yaml', 'prom-client', 'nodemailer']) {
      const p = doc.packages.find((q) => q.name === dep);
      assert.ok(p, `${dep} is bundled but missing`);
      assert.equal(p.versionInfo, lock.packages[`node_modules/${dep}`].version);
    }
    // The operator commands' bundle is not in the image: neither is its client library.
    assert.ok(!doc.packages.some((p) => p.name === '@kubernetes/client-node'));
  });

  it('the chart: its provenance verifies with the PGP key, its OCI artifact with cosign, Artifact Hub annotations set', () => {
    const dir = join(work, 'pulled-chart');
    mkdirSync(dir);
    const pulled = tool(helmBin, [
      'pull',
      rel.chart.oci,
      `--version=${rel.version}`,
      '--plain-http',
      '--verify',
      `--keyring=${join(work, 'keys', 'pubring.gpg')}`,
      `--destination=${dir}`,
    ]);
    ok(pulled, 'helm pull --verify');
    assert.match(pulled.stdout + pulled.stderr, /Signed by: kured-ts release test/);
    assert.deepEqual(readFileSync(join(dir, `kured-ts-${rel.version}.tgz`)), readFileSync(rel.chart.file));
    ok(
      tool(tools.cosign, [
        'verify',
        `--key=${keys.cosignPub}`,
        '--insecure-ignore-tlog',
        ...cosignHttp,
        `${registry.host}/charts/kured-ts@${rel.chart.digest}`,
      ]),
      'cosign verify (chart)',
    );
    const chart = parse(ok(tool(helmBin, ['show', 'chart', rel.chart.file]), 'helm show chart'));
    assert.equal(chart.version, rel.version);
    assert.equal(chart.appVersion, rel.version);
    const changes = parse(chart.annotations['artifacthub.io/changes']) as Array<{
      kind: string;
      description: string;
    }>;
    assert.ok(changes.length > 0 && changes.every((c) => c.kind === 'added' && c.description.length > 0));
    const signKey = parse(chart.annotations['artifacthub.io/signKey']);
    assert.equal(signKey.fingerprint, pgpFingerprint(keys.pgpPublic!));
    const lint = tool(helmBin, ['lint', '--strict', rel.chart.file]);
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    assert.match(
      ok(tool(helmBin, ['show', 'readme', rel.chart.file]), 'helm show readme'),
      /^\| `image\.repository` \|/m,
    );
  });
});

describe('installed from the registry', () => {
  let cluster: Cluster;
  let podman: Podman;
  let pod: PodContext;
  let image: string;

  before(async () => {
    podman = new Podman();
    cluster = await startCluster({ nodes: 2, rebootDelayMs: 1500 });
    // As docs/install.md: the chart by its version, the image pinned to the digest just verified.
    const install = tool(helmBin, [
      'install',
      'kured-ts',
      rel.chart.oci,
      `--version=${rel.version}`,
      '--plain-http',
      '--namespace',
      NS,
      '--create-namespace',
      `--set=image.repository=${rel.image.repository}`,
      `--set=image.tag=${rel.version}@${rel.image.digest}`,
      `--kubeconfig=${cluster.kubeconfigPath}`,
    ]);
    ok(install, 'helm install oci://');
    const objs = parseObjects(
      ok(
        tool(helmBin, [
          'get',
          'manifest',
          'kured-ts',
          '--namespace',
          NS,
          '--kubeconfig',
          cluster.kubeconfigPath,
        ]),
        'helm get',
      ),
    );
    image = agentContainer(objs).image;
    podman.run(['pull', '--quiet', '--tls-verify=false', image]);
    pod = { cluster, podman, objs, tokenDir: await serviceAccountDir(podman, cluster, objs, NS) };
  });

  after(async () => {
    podman?.remove();
    await cluster?.stop();
  });

  it("runs the registry's image, pinned to the signed digest, and it says the chart's version", () => {
    assert.equal(image, `${rel.image.repository}:${rel.version}@${rel.image.digest}`);
    const version = podman.run(['run', '--rm', ...podman.runFlags(), image, '--version']);
    assert.equal(version, `kured-ts ${rel.version} (commit ${report.revision})`);
  });

  it('reboots its node through the whole cycle', async () => {
    const node = 'node-1';
    const agent = new ContainerAgent(
      pod,
      node,
      ['--privileged', '--read-only', '--user=0'],
      [`--reboot-command=${cluster.rebootCommand(node)}`],
    );
    await withAgent(cluster, agent, async () => {
      const before = cluster.rebootCount(node);
      cluster.requireReboot(node);
      await settled(cluster, node, before + 1);
      await waitFor(
        'the lock to be released',
        async () => (await lockValue(cluster, 'kured-ts', NS)) === undefined,
      );
      const reasons = await eventReasons(cluster, node);
      for (const r of ['LockAcquired', 'Drained', 'Rebooting', 'Uncordoned', 'LockReleased'])
        assert.ok(reasons.includes(r), `${r} in ${reasons.join(', ')}`);
    });
  });
});
