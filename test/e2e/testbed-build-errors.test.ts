/**
 * The testbed's build says in one line what is missing when it cannot build: no Go toolchain, or a
 * module proxy that does not answer. Each run uses an empty binary cache so the build is needed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const CLI = join(import.meta.dirname, '../../testbed/src/cli.ts');
const dir = mkdtempSync(join(tmpdir(), 'kured-ts-build-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function build(env: Record<string, string>) {
  const r = spawnSync(process.execPath, [CLI, 'build'], { env, encoding: 'utf8', timeout: 120_000 });
  const lines = r.stderr.split('\n').filter((l) => l.trim() && !l.includes('building '));
  return { status: r.status, lines, stderr: r.stderr };
}

test('no Go toolchain: one line naming it and how to get it, no stack trace', () => {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  const r = build({ PATH: bin, XDG_CACHE_HOME: join(dir, 'cache-nogo'), HOME: dir });
  assert.equal(r.status, 1);
  assert.equal(r.lines.length, 1, r.stderr);
  assert.match(r.lines[0]!, /the Go toolchain .* `go` is not on PATH; install it/);
});

test('module proxy unreachable: one line naming the proxy and the fix, no stack trace', () => {
  const r = build({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? dir,
    XDG_CACHE_HOME: join(dir, 'cache-noproxy'),
    GOMODCACHE: join(dir, 'gomod'),
    GOCACHE: join(dir, 'gocache'),
    GOPROXY: 'http://127.0.0.1:9', // nothing listens on the discard port here
    GOSUMDB: 'off',
  });
  assert.equal(r.status, 1);
  assert.equal(r.lines.length, 1, r.stderr);
  assert.match(
    r.lines[0]!,
    /cannot download the Go modules .*\(GOPROXY=http:\/\/127\.0\.0\.1:9\) is unreachable/,
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});
