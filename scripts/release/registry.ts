/**
 * A throw-away OCI registry on loopback: Debian's docker-registry (distribution), plain HTTP on
 * 127.0.0.1 at a free port, its storage in a temp dir. `make release` without RELEASE_REGISTRY pushes
 * into one (a full dry run of a release), and the release's e2e test installs from one.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LocalRegistry {
  /** host:port, e.g. 127.0.0.1:41234 */
  host: string;
  stop(): void;
}

export async function startLocalRegistry(): Promise<LocalRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'kured-ts-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: ${dir}/data}, delete: {enabled: true}}\nhttp: {addr: "${host}"}\n`,
  );
  // pdeathsig: the registry dies with the process that started it, however that ends.
  const proc = spawn(
    'setpriv',
    ['--pdeathsig', 'KILL', 'docker-registry', 'serve', join(dir, 'config.yml')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d;
  });
  const stop = () => {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { host, stop };
    if (proc.exitCode !== null || Date.now() > deadline) {
      stop();
      throw new Error(
        `docker-registry did not answer on ${host}: ${stderr.trim().split('\n').at(-1) ?? 'no output'}; run scripts/image/ensure-tools.sh (it installs docker-registry)`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A free loopback port (the registry takes it right after). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
