/**
 * The image build is reproducible: building again from the same commit gives the same digest as the
 * image `make image` built (dist/image), byte for byte, down to the docker-archives. Its layers
 * hold what they should, each file root-owned with the commit's time as its mtime. And it is pushed
 * as built: `skopeo copy --all` to a registry (Debian's docker-registry on loopback) keeps the digest.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImageReport } from '../../scripts/image/build.ts';
import { blobPath, type Descriptor, readBlob } from '../../scripts/image/oci.ts';
import { imageName, REPO_ROOT } from '../../scripts/image/spec.ts';
import { pollUntil } from '../../testbed/src/index.ts';

const first = join(REPO_ROOT, 'dist/image');
const second = mkdtempSync(join(tmpdir(), 'kured-ts-image-again-'));
let a: ImageReport;
let b: ImageReport;
let buildSeconds = 0;

before(() => {
  a = JSON.parse(readFileSync(join(first, 'image.json'), 'utf8'));
  const started = Date.now();
  const r = spawnSync(process.execPath, ['scripts/image/build.ts', `--out=${second}`, '--force'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 15 * 60_000,
  });
  buildSeconds = (Date.now() - started) / 1000;
  assert.equal(r.status, 0, r.stderr);
  b = JSON.parse(readFileSync(join(second, 'image.json'), 'utf8'));
});

after(() => rmSync(second, { recursive: true, force: true }));

/** `tar -tv` of a gzip layer: [mode, owner, date, time, path] per entry. */
function entries(layout: string, layer: Descriptor): string[][] {
  const r = spawnSync(
    'tar',
    ['-tvz', '--full-time', '--numeric-owner', '-f', blobPath(layout, layer.digest)],
    {
      encoding: 'utf8',
      env: { ...process.env, TZ: 'UTC' },
      maxBuffer: 1 << 26,
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => {
      const [mode, owner, , date, time, ...path] = l.split(/\s+/);
      return [mode!, owner!, date!, time!, path.join(' ').replace(/ (->|link to) .*$/, '')];
    });
}

describe('the image build', () => {
  it('gives the same digest from the same commit', (t) => {
    t.diagnostic(`second build: ${buildSeconds.toFixed(0)} s; digest ${b.digest}`);
    assert.equal(b.inputs, a.inputs, 'dist/image was built from other inputs: run make image');
    assert.deepEqual(
      b.platforms.amd64?.packages,
      a.platforms.amd64?.packages,
      'Debian packages changed in between',
    );
    assert.equal(b.digest, a.digest);
    for (const arch of ['amd64', 'arm64']) {
      assert.equal(b.platforms[arch]?.manifest, a.platforms[arch]?.manifest, arch);
      const archive = (r: ImageReport) => readFileSync(r.platforms[arch]!.archive);
      assert.ok(archive(a).equals(archive(b)), `the ${arch} docker-archives differ`);
    }
  });

  it('holds root-owned files dated from the commit: Debian libraries, nsenter, tzdata, Node and the bundle', () => {
    const layout = join(first, 'oci');
    const when = new Date(a.epoch * 1000).toISOString().replace('T', ' ').slice(0, 19);
    for (const arch of ['amd64', 'arm64']) {
      const manifest = readBlob<{ layers: Descriptor[] }>(layout, a.platforms[arch]!.manifest);
      assert.equal(manifest.layers.length, 3);
      const all = manifest.layers.flatMap((l) => entries(layout, l));
      for (const [mode, owner, date, time, path] of all) {
        assert.equal(owner, '0/0', `${arch} ${path}`);
        assert.equal(`${date} ${time}`, when, `${arch} ${path}`);
        assert.ok(!/^\.\/usr\/share\/(doc|man|locale)\//.test(path!), `${arch} ships ${path}`);
        if (path === './tmp/') assert.equal(mode, 'drwxrwxrwt');
      }
      const paths = new Set(all.map((e) => e[4]));
      const triplet = arch === 'amd64' ? 'x86_64-linux-gnu' : 'aarch64-linux-gnu';
      for (const p of [
        './usr/bin/nsenter',
        `./lib/${triplet}/libc.so.6`,
        `./usr/lib/${triplet}/libstdc++.so.6`,
        './usr/share/zoneinfo/Europe/Berlin',
        './etc/passwd',
        './usr/local/bin/node',
        './app/kured-ts.mjs',
        './app/kured-ts-smtp.mjs',
      ])
        assert.ok(paths.has(p), `${arch}: no ${p}`);
      // Only nsenter of util-linux, none of the libraries its other tools need.
      assert.ok(![...paths].some((p) => /libmount|libblkid|libsystemd|\/perl/.test(p!)), arch);
    }
  });
});

/** A free loopback port (the registry takes it right after). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function skopeo(args: string[]): string {
  const r = spawnSync('skopeo', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `skopeo ${args[0]}: ${r.stderr}`);
  return r.stdout;
}

describe('the image in a registry', () => {
  it('is pushed with skopeo copy --all under the digest it was built with, both architectures', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kured-ts-registry-'));
    const port = await freePort();
    writeFileSync(
      join(dir, 'config.yml'),
      `version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: ${dir}/data}}\nhttp: {addr: "127.0.0.1:${port}"}\n`,
    );
    // pdeathsig: the registry dies with this test process, however it ends.
    const registry = spawn(
      'setpriv',
      ['--pdeathsig', 'KILL', 'docker-registry', 'serve', join(dir, 'config.yml')],
      {
        stdio: 'ignore',
      },
    );
    t.after(() => {
      registry.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    await pollUntil(
      async () => (await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined))?.status === 200,
      { timeoutMs: 20_000, describe: () => `docker-registry did not answer on 127.0.0.1:${port}` },
    );
    const remote = `docker://127.0.0.1:${port}/kured-ts/kured-ts:${imageName().tag}`;
    skopeo([
      'copy',
      '--all',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${join(first, 'oci')}:${imageName().tag}`,
      remote,
    ]);
    const index = skopeo(['inspect', '--raw', '--tls-verify=false', remote]);
    assert.equal(`sha256:${createHash('sha256').update(index).digest('hex')}`, a.digest);
    // Each architecture's manifest is in the registry under the digest the build reported.
    const repository = remote.slice(0, remote.lastIndexOf(':'));
    for (const arch of ['amd64', 'arm64']) {
      const digest = a.platforms[arch]!.manifest;
      const manifest = skopeo(['inspect', '--raw', '--tls-verify=false', `${repository}@${digest}`]);
      assert.equal(`sha256:${createHash('sha256').update(manifest).digest('hex')}`, digest);
      assert.equal(JSON.parse(manifest).layers.length, 3);
    }
  });
});
