/**
 * The chart as Artifact Hub shows it: its README is what scripts/release/chart-readme.ts generates
 * from values.yaml's comments, its annotations name the default image and the licence, the release's
 * changes come from the CHANGELOG, the packaged chart passes `helm lint --strict`, and every licence
 * the SBOM declares is an SPDX expression.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import parseSpdx from 'spdx-expression-parse';
import { parse } from 'yaml';
import { imageName, KEEP, releaseVersion } from '../../../scripts/image/spec.ts';
import { changesOf, packageChart } from '../../../scripts/release/chart.ts';
import { chartReadme, README } from '../../../scripts/release/chart-readme.ts';
import { DEBIAN_LICENSES } from '../../../scripts/release/sbom.ts';
import { CHART_DIR, helmBinary, REPO_ROOT } from '../../../scripts/render-manifests.ts';

const chart = parse(fs.readFileSync(path.join(CHART_DIR, 'Chart.yaml'), 'utf8'));

describe('the chart for Artifact Hub', () => {
  it('has the README generated from values.yaml (run node scripts/release/chart-readme.ts)', () => {
    assert.equal(fs.readFileSync(README, 'utf8'), chartReadme());
  });

  it('names the default image and the licence in its annotations', () => {
    const images = parse(chart.annotations['artifacthub.io/images']) as Array<{ image: string }>;
    assert.deepEqual(
      images.map((i) => i.image),
      [imageName().reference],
    );
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
    assert.equal(chart.annotations['artifacthub.io/license'], pkg.license);
    assert.equal(chart.license, pkg.license);
  });

  it("takes the release's changes from the CHANGELOG, in Artifact Hub's kinds", () => {
    const changes = changesOf(releaseVersion());
    assert.ok(changes.length >= 5);
    for (const c of changes) {
      assert.ok(['added', 'changed', 'deprecated', 'removed', 'fixed', 'security'].includes(c.kind), c.kind);
      assert.doesNotMatch(c.description, /\n|^\s|\s$/);
    }
    assert.throws(() => changesOf('9.9.9'), /CHANGELOG.md has no "## \[9\.9\.9\]" section/);
    const sample =
      '## [1.0.0] - 2027-01-01\n\n### Fixed\n\n- one\n  two\n\n### Security\n\n- three\n\n## [0.9.0]\n\n### Added\n\n- old\n';
    assert.deepEqual(changesOf('1.0.0', sample), [
      { kind: 'fixed', description: 'one two' },
      { kind: 'security', description: 'three' },
    ]);
  });

  describe('packaged', () => {
    let helm: string;
    let out: string;
    before(async () => {
      helm = await helmBinary();
      out = fs.mkdtempSync(path.join(os.tmpdir(), 'kured-ts-chart-package-'));
    });
    after(() => fs.rmSync(out, { recursive: true, force: true }));

    it('passes helm lint --strict, with its version, appVersion, changes and values schema', () => {
      const { file } = packageChart({ helm, version: releaseVersion(), out });
      const lint = spawnSync(helm, ['lint', '--strict', file], { encoding: 'utf8' });
      assert.equal(lint.status, 0, lint.stdout + lint.stderr);
      const shown = parse(spawnSync(helm, ['show', 'chart', file], { encoding: 'utf8' }).stdout);
      assert.equal(shown.version, releaseVersion());
      assert.equal(shown.appVersion, releaseVersion());
      assert.ok(parse(shown.annotations['artifacthub.io/changes']).length >= 5);
      const listing = spawnSync('tar', ['-tzf', file], { encoding: 'utf8' }).stdout.split('\n');
      assert.ok(
        listing.includes('kured-ts/values.schema.json'),
        'the values schema is published in the chart',
      );
      assert.ok(listing.includes('kured-ts/README.md'));
    });
  });
});

describe("the SBOM's licences", () => {
  it('every Debian package the image keeps has a licence, an SPDX expression', () => {
    assert.deepEqual(Object.keys(DEBIAN_LICENSES).sort(), Object.keys(KEEP).sort());
    for (const [name, licence] of Object.entries(DEBIAN_LICENSES))
      assert.doesNotThrow(() => parseSpdx(licence), `${name}: ${licence}`);
  });

  it('every runtime npm dependency declares an SPDX licence', () => {
    const lock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8'));
    for (const [where, p] of Object.entries(
      lock.packages as Record<string, { dev?: boolean; license?: string }>,
    )) {
      if (!where || p.dev) continue;
      assert.ok(p.license, `${where} declares no licence`);
      assert.doesNotThrow(() => parseSpdx(p.license!), `${where}: ${p.license}`);
    }
  });
});
