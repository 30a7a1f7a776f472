/**
 * An error the user can fix (a bad flag, a malformed value, a missing file or tool). main.ts prints
 * its message as one line and exits non-zero: never a stack trace.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
