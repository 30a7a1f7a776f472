import { readFileSync } from 'node:fs';

const BOOT_ID = '/proc/sys/kernel/random/boot_id';

/**
 * The boot ID of the kernel this process runs on: new at every boot, the same in every container of
 * the machine (not namespaced), and what the kubelet reports as the Node's bootID. Read once: it
 * cannot change under a running process. Undefined where there is none (not Linux).
 */
export function kernelBootID(): string | undefined {
  try {
    return readFileSync(BOOT_ID, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
