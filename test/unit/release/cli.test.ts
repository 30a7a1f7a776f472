/** The release's commands fail with one line naming the cause and the fix, never a stack trace. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { REPO_ROOT } from '../../../scripts/render-manifests.ts';

function run(script: string, args: string[], env: Record<string, string> = {}) {
  const { COSIGN_KEY: _key, COSIGN_PASSWORD: _password, ...rest } = process.env;
  const r = spawnSync(process.execPath, [script, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...rest, ...env },
  });
  return { status: r.status, lines: r.stderr.trim().split('\n') };
}

test('a real release without a signing key says what it needs', () => {
  const r = run('scripts/release/release.ts', [], { RELEASE_REGISTRY: 'registry.example.com/kured-ts' });
  assert.equal(r.status, 1);
  assert.deepEqual(r.lines, [
    'release: RELEASE_REGISTRY needs COSIGN_KEY (a cosign.key file) and COSIGN_PASSWORD',
  ]);
});

test('an SBOM of a missing image says to build it', () => {
  const r = run('scripts/release/sbom.ts', ['--image=/nonexistent/image']);
  assert.equal(r.status, 1);
  assert.deepEqual(r.lines, [
    'sbom: /nonexistent/image holds no image (image.json): run make image (make release does)',
  ]);
});
