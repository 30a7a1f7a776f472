/** An error the user can fix: the CLI prints its message as one line, without a stack trace. */
export class TestbedError extends Error {
  override name = 'TestbedError';
}

/** The message of any thrown value, for one-line reports. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
