import { type FSWatcher, watch as fsWatch } from 'node:fs';
import { access } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from '../core/log.ts';
import type { Sentinel } from '../core/ports.ts';
import type { HostCommand } from './host.ts';

/** The sentinel file: its existence means a reboot is needed. Watched so a new file is seen at once. */
export function fileSentinel(path: string, logger: Logger): Sentinel {
  return {
    async rebootRequired() {
      try {
        await access(path);
        return true;
      } catch {
        return false;
      }
    },
    watch(onChange) {
      // Watch the directory: the file itself does not exist until the OS writes it.
      let watcher: FSWatcher | undefined;
      try {
        watcher = fsWatch(dirname(path), (_event, name) => {
          if (!name || name === basename(path)) onChange();
        });
        watcher.on('error', (err) =>
          logger.warn({ path, err: err.message }, 'sentinel watch failed; relying on --period'),
        );
      } catch (err) {
        logger.warn(
          { path, err: (err as Error).message },
          'cannot watch the sentinel directory; relying on --period',
        );
      }
      return () => watcher?.close();
    },
  };
}

/**
 * The sentinel command: exit 0 means a reboot is needed, 1 means not. Any other exit code (127: a
 * missing binary) is a broken check, reported and read as "not needed" so that a typo can never
 * cause a reboot loop (kured#976).
 */
export function commandSentinel(cmd: HostCommand, logger: Logger): Sentinel {
  return {
    async rebootRequired() {
      const { code, output } = await cmd.run();
      if (code === 0) return true;
      if (code !== 1) {
        logger.warn(
          { argv: cmd.argv, code, output },
          'the sentinel command failed; treating as no reboot needed',
        );
      }
      return false;
    },
    watch: () => () => {},
  };
}
