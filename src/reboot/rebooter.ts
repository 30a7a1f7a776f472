import type { Rebooter } from '../core/ports.ts';
import type { HostCommand } from './host.ts';

/** --reboot-method=command: e.g. `systemctl reboot` in the host's mount namespace. */
export function commandRebooter(cmd: HostCommand): Rebooter {
  return {
    async reboot() {
      const { code, output } = await cmd.run(120_000);
      if (code !== 0)
        throw new Error(`reboot command ${cmd.argv.join(' ')} exited ${code}: ${output || 'no output'}`);
    },
  };
}

/** --reboot-method=signal: systemd as PID 1 reboots on SIGRTMIN+5 (39). Needs hostPID and CAP_KILL. */
export function signalRebooter(pid: number, signal: number): Rebooter {
  return {
    async reboot() {
      try {
        process.kill(pid, signal);
      } catch (err) {
        throw new Error(`cannot send signal ${signal} to PID ${pid}: ${(err as Error).message}`);
      }
    },
  };
}
