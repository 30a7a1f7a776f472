/**
 * `make realnode`: builds (first time only) and caches the real node's guest and kubelet, so the
 * end-to-end test's time is its own. The guest needs root (mmdebstrap --mode=root).
 */
import { errorMessage, TestbedError } from '../errors.ts';
import { ensureGuest } from './guest.ts';
import { ensureKubelet } from './kubelet.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);
try {
  await ensureGuest(log);
  await ensureKubelet(log);
} catch (err) {
  process.stderr.write(`${err instanceof TestbedError ? err.message : errorMessage(err)}\n`);
  process.exit(1);
}
