/**
 * The real node's kubelet, built from the same k8s.io/kubernetes version as the control plane
 * (testbed/tools/kubelet pins it like testbed/tools/kube). A separate tool module and cache entry,
 * `<cacheRoot>/kubelet-<hash>/kubelet`, so adding it changed nothing of the control plane's cache key.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { kubeVersionLdflags } from '../build.ts';
import { TestbedError } from '../errors.ts';
import { cacheRoot, TOOLS_DIR } from '../paths.ts';

const MODULE_DIR = path.join(TOOLS_DIR, 'kubelet');

function kubeletKey(): string {
  const hash = createHash('sha256').update('kubelet recipe 1\n');
  for (const f of ['go.mod', 'go.sum']) hash.update(fs.readFileSync(path.join(MODULE_DIR, f)));
  return hash.digest('hex').slice(0, 16);
}

/** The cached kubelet binary, built first if needed (~5 min cold on 2 cores, less after the control plane's build). */
export async function ensureKubelet(log: (line: string) => void): Promise<string> {
  const dir = path.join(cacheRoot(), `kubelet-${kubeletKey()}`);
  const bin = path.join(dir, 'kubelet');
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(cacheRoot(), { recursive: true });
  const staging = fs.mkdtempSync(path.join(cacheRoot(), '.kubelet-build-'));
  const started = Date.now();
  log('testbed: building kubelet for the real node ... (first run only, ~5 min)');
  try {
    const ldflags = `-s -w ${kubeVersionLdflags()}`;
    const stderr = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        'go',
        [
          'build',
          '-trimpath',
          `-ldflags=${ldflags}`,
          '-o',
          path.join(staging, 'kubelet'),
          'k8s.io/kubernetes/cmd/kubelet',
        ],
        { cwd: MODULE_DIR, env: { ...process.env, CGO_ENABLED: '0' }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d;
      });
      child.on('error', (e) =>
        reject(
          (e as NodeJS.ErrnoException).code === 'ENOENT'
            ? new TestbedError(
                'testbed: the Go toolchain (go >= 1.26) is needed to build the kubelet, and `go` is not on PATH',
              )
            : e,
        ),
      );
      child.on('exit', (code) =>
        code === 0
          ? resolve(err)
          : reject(
              new TestbedError(
                `testbed: building kubelet failed: ${err.trim().split('\n').slice(-3).join(' | ')}`,
              ),
            ),
      );
    });
    void stderr;
    if (fs.existsSync(dir)) fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(staging, dir);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  log(`testbed: kubelet built in ${((Date.now() - started) / 1000).toFixed(0)}s, cached in ${dir}`);
  return bin;
}
