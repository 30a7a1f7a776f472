/**
 * One version everywhere: package.json's version is what the chart (version, appVersion, default image
 * tag), the image (tag and OCI annotations), the CHANGELOG's latest release, `kured-ts --version` (the
 * agent, the bundle and the kubectl plugin) and the kured_ts_build_info metric all say.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import { parse } from 'yaml';
import { BUNDLE_OPTIONS } from '../../../scripts/bundle.ts';
import { imageAnnotations } from '../../../scripts/image/build.ts';
import { imageName, releaseVersion } from '../../../scripts/image/spec.ts';
import { helmBinary, REPO_ROOT } from '../../../scripts/render-manifests.ts';
import { runOperator } from '../../../src/cli/program.ts';
import { AgentMetrics } from '../../../src/observe/metrics.ts';
import { BUILD } from '../../../src/observe/version.ts';
import { agentContainer, CHART_DIR, render } from '../deploy/render.ts';

const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
const chart = parse(fs.readFileSync(path.join(CHART_DIR, 'Chart.yaml'), 'utf8'));
const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$/;

describe('one version everywhere', () => {
  it("package.json's version is a semantic version, and the one releaseVersion() reads", () => {
    assert.match(pkg.version, SEMVER);
    assert.equal(releaseVersion(), pkg.version);
  });

  it("the chart's version and appVersion are package.json's", () => {
    assert.equal(String(chart.version), pkg.version);
    assert.equal(String(chart.appVersion), pkg.version);
  });

  it("the chart's default image is the image make image builds, tagged with the version", async () => {
    const image = agentContainer(render(await helmBinary())).image;
    assert.equal(image, imageName().reference);
    assert.equal(imageName().tag, pkg.version);
  });

  it("the CHANGELOG's latest release is the version, with its link", () => {
    const log = fs.readFileSync(path.join(REPO_ROOT, 'CHANGELOG.md'), 'utf8');
    const released = [...log.matchAll(/^## \[(\d[^\]]*)\] - (\d{4}-\d{2}-\d{2})$/gm)].map((m) => m[1]);
    assert.equal(released[0], pkg.version, 'the first "## [x.y.z] - date" heading');
    assert.match(log, /^## \[Unreleased\]$/m);
    assert.match(log, new RegExp(`^\\[${pkg.version.replaceAll('.', '\\.')}\\]: https://`, 'm'));
  });

  it("the README's and docs/install.md's install commands name the version", () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const line = readme.split('\n').find((l) => l.startsWith('helm install kured-ts oci://'));
    assert.ok(line, 'README has no `helm install kured-ts oci://...` line');
    assert.match(line, new RegExp(`--version ${pkg.version.replaceAll('.', '\\.')} `));
    const install = fs.readFileSync(path.join(REPO_ROOT, 'docs/install.md'), 'utf8');
    assert.match(install, new RegExp(`^VERSION=${pkg.version.replaceAll('.', '\\.')}$`, 'm'));
  });

  it('the sources answer --version with the version and this commit', () => {
    assert.deepEqual(BUILD, { version: pkg.version, revision: head });
    const out = execFileSync(process.execPath, ['src/main.ts', '--version'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    assert.equal(out, `kured-ts ${pkg.version} (commit ${head})\n`);
  });

  it('the kubectl plugin (the operator commands) answers --version', async () => {
    let out = '';
    const code = await runOperator(
      ['--version'],
      { out: (s) => (out += s), err: () => {} },
      'kubectl kured-ts',
    );
    assert.equal(code, 0);
    assert.equal(out, `kured-ts ${pkg.version} (commit ${head})\n`);
  });

  it('kured_ts_build_info carries the version and the commit', async () => {
    const text = await new AgentMetrics('node-1', { defaultMetrics: false }).registry.metrics();
    assert.ok(
      text.includes(`kured_ts_build_info{version="${pkg.version}",revision="${head}"} 1\n`),
      text
        .split('\n')
        .filter((l) => l.includes('build_info'))
        .join('\n'),
    );
  });

  it("the image's annotations: the version, the commit, and the commit's time as created", () => {
    const a = imageAnnotations(pkg.version, head, '2026-12-03T00:00:00.000Z');
    assert.equal(a['org.opencontainers.image.version'], pkg.version);
    assert.equal(a['org.opencontainers.image.revision'], head);
    assert.equal(a['org.opencontainers.image.created'], '2026-12-03T00:00:00.000Z');
    assert.equal(a['org.opencontainers.image.source'], chart.home);
  });

  describe('the bundle, alone in a directory without package.json or git', () => {
    let dir: string;
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kured-ts-version-'));
      await build({
        ...BUNDLE_OPTIONS,
        entryPoints: [path.join(REPO_ROOT, 'src/main.ts')],
        outfile: path.join(dir, 'kured-ts.mjs'),
      });
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('answers --version from the constants written in at build time', () => {
      const out = execFileSync(process.execPath, [path.join(dir, 'kured-ts.mjs'), '--version'], {
        cwd: dir,
        encoding: 'utf8',
      });
      assert.equal(out, `kured-ts ${pkg.version} (commit ${head})\n`);
      assert.ok(!fs.readFileSync(path.join(dir, 'kured-ts.mjs'), 'utf8').includes('rev-parse'));
    });
  });
});
