import { execFile } from 'node:child_process';
import { split } from 'shlex';
import { ConfigError } from '../core/errors.ts';

/**
 * Runs a command on the host: split into words like a shell would (no shell runs), then executed
 * through nsenter in the mount namespace of the host's PID 1, so binaries resolve on the host.
 */
export interface HostCommand {
  /** The argv actually executed (nsenter prefix included). */
  argv: string[];
  run(timeoutMs?: number): Promise<{ code: number; output: string }>;
}

export function hostCommand(
  command: string,
  nsenterPath: string,
  hostPid: number,
  flag: string,
): HostCommand {
  let words: string[];
  try {
    words = split(command);
  } catch (e) {
    throw new ConfigError(
      `${flag} "${command}" cannot be split into words (${(e as Error).message}); check its quotes`,
    );
  }
  if (words.length === 0) throw new ConfigError(`${flag} is empty; give the command to run on the host`);
  const argv = nsenterPath ? [nsenterPath, `-m/proc/${hostPid}/ns/mnt`, '--', ...words] : words;
  return {
    argv,
    run: (timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs }, (err, stdout, stderr) => {
          const output = `${stdout}${stderr}`.trim();
          if (!err) return resolve({ code: 0, output });
          const code = (err as NodeJS.ErrnoException & { code?: unknown }).code;
          // A missing binary is not an answer: it is an error the operator must fix.
          if (typeof code === 'string')
            return reject(new Error(`cannot run ${argv[0]}: ${code} (${err.message})`));
          resolve({ code: typeof code === 'number' ? code : 1, output });
        });
      }),
  };
}
