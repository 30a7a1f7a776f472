/**
 * One qemu VM under TCG (KVM here is a nested PVM that hangs a stock kernel). Its network is qemu's
 * user mode with restrict=on: the guest reaches nothing but the host ports listed in `forward`, at
 * HOST_ADDRESS:<port>, each connection relayed by socat to 127.0.0.1:<port>. The kernel console
 * (ttyS0) goes to a file; a root shell on ttyS1 (a unix socket here) is how the host acts inside.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestbedError } from '../errors.ts';
import { type Component, startComponent } from '../process.ts';
import type { Guest } from './guest.ts';
import { HOST_ADDRESS, KERNEL_CMDLINE } from './recipe.ts';

/** systemd colours its status lines; the console's tail is shown without them. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

export interface VmOptions {
  name: string;
  guest: Guest;
  /** A raw ext4 image attached read-only as the second disk (/dev/vdb). */
  dataDisk: string;
  /** Where the console log, the shell socket and qemu's log go. */
  dir: string;
  /** Host loopback ports the guest may reach at HOST_ADDRESS:<port>. */
  forward: number[];
  memoryMb?: number;
  cpus?: number;
  /** Appended to the kernel command line (a test makes a guest that never comes up with `init=/bin/false`). */
  extraKernelArgs?: string;
}

export interface ExecResult {
  code: number;
  output: string;
}

export class Vm {
  readonly consoleLog: string;
  private readonly shellSocket: string;
  private qemu: Component | undefined;
  private socket: net.Socket | undefined;
  private buffer = '';
  private queue: Promise<unknown> = Promise.resolve();
  private seq = 0;
  private readonly opts: VmOptions;

  constructor(opts: VmOptions) {
    this.opts = opts;
    this.consoleLog = path.join(opts.dir, 'console.log');
    this.shellSocket = path.join(opts.dir, 'shell.sock');
  }

  get pid(): number | undefined {
    return this.qemu?.pid;
  }

  start(): Component {
    const o = this.opts;
    const guestfwd = o.forward.map((p) => `guestfwd=tcp:${HOST_ADDRESS}:${p}-cmd:socat - TCP:127.0.0.1:${p}`);
    const args = [
      '-accel',
      'tcg,thread=multi',
      '-smp',
      String(o.cpus ?? 2),
      '-m',
      String(o.memoryMb ?? 2048),
      '-nodefaults',
      '-no-user-config',
      '-display',
      'none',
      '-kernel',
      o.guest.kernel,
      '-initrd',
      o.guest.initrd,
      '-append',
      o.extraKernelArgs ? `${KERNEL_CMDLINE} ${o.extraKernelArgs}` : KERNEL_CMDLINE,
      // snapshot=on: the guest's writes go to a temp file; the cached image stays as built. A guest
      // reboot keeps them (same qemu process): containerd's images and the pods' state survive it.
      '-drive',
      `file=${o.guest.disk},format=raw,if=virtio,cache=unsafe,snapshot=on`,
      '-drive',
      `file=${o.dataDisk},format=raw,if=virtio,readonly=on`,
      '-netdev',
      ['user', 'id=n0', 'restrict=on', ...guestfwd].join(','),
      '-device',
      'virtio-net-pci,netdev=n0',
      '-device',
      'virtio-rng-pci',
      '-serial',
      `file:${this.consoleLog}`,
      '-serial',
      `unix:${this.shellSocket},server=on,wait=off`,
      '-monitor',
      'none',
    ];
    this.qemu = startComponent(`qemu-${o.name}`, 'qemu-system-x86_64', args, path.join(o.dir, 'qemu.log'));
    return this.qemu;
  }

  hasExited(): boolean {
    return this.qemu?.hasExited() ?? true;
  }

  /** The last lines of the guest's console: what a failed boot or reboot explains itself with. */
  consoleTail(lines = 8): string {
    try {
      const text = fs.readFileSync(this.consoleLog, 'utf8').replace(/\r/g, '').replace(ANSI_COLOUR, '');
      return (
        text
          .trimEnd()
          .split('\n')
          // systemd's spinner for a slow job repeats itself line after line: keep the news.
          .filter((l) => l.trim() !== '' && !/Job .* running \(/.test(l))
          .slice(-lines)
          .map((l) => `  | ${l}`)
          .join('\n')
      );
    } catch {
      return '  | (no console output)';
    }
  }

  /**
   * Runs `command` with bash in the guest as root; resolves with its exit code and output. The
   * guest's shell may be gone (rebooting): that, like a command that outlives `timeoutMs`, rejects.
   */
  exec(command: string, timeoutMs = 60_000): Promise<ExecResult> {
    const run = this.queue.then(() => this.execNow(command, timeoutMs));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Like exec, but a non-zero exit is an error naming the command and its output. */
  async sh(command: string, timeoutMs = 60_000): Promise<string> {
    const r = await this.exec(command, timeoutMs);
    if (r.code !== 0)
      throw new TestbedError(
        `testbed: \`${command}\` failed in the guest (exit ${r.code}): ${r.output.trim()}`,
      );
    return r.output;
  }

  private async execNow(command: string, timeoutMs: number): Promise<ExecResult> {
    const socket = await this.connect();
    const id = `${process.pid}x${++this.seq}`;
    const begin = `__TB_BEGIN_${id}__`;
    const end = new RegExp(`__TB_END_${id}__(\\d+)__`);
    this.buffer = '';
    // A leading newline ends whatever half line a previous, interrupted exchange left behind.
    socket.write(`\necho ${begin}; ( ${command} ) </dev/null 2>&1; echo __TB_END_${id}__$?__\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.buffer.replace(/\r/g, '');
      const m = end.exec(text);
      const b = text.indexOf(begin);
      if (m && b >= 0) return { code: Number(m[1]), output: text.slice(b + begin.length + 1, m.index) };
      if (this.hasExited()) throw new TestbedError(`testbed: the VM exited:\n${this.consoleTail()}`);
      if (Date.now() > deadline)
        throw new TestbedError(
          `testbed: no answer from the guest's shell within ${timeoutMs / 1000}s to \`${command}\``,
        );
      await sleep(50);
    }
  }

  private async connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.createConnection(this.shellSocket);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buffer += d;
      if (this.buffer.length > 1 << 20) this.buffer = this.buffer.slice(-(1 << 19));
    });
    socket.on('error', () => {});
    this.socket = socket;
    return socket;
  }

  /** Resolves once the guest's shell answers, trying every few seconds; `describe` names what we waited for. */
  async waitShell(timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.hasExited())
        throw new TestbedError(`testbed: the VM exited while ${what}:\n${this.consoleTail()}`);
      try {
        const r = await this.exec('true', 3000);
        if (r.code === 0) return;
      } catch {
        // Not up yet.
      }
      if (Date.now() > deadline)
        throw new TestbedError(
          `testbed: the real node's guest did not answer within ${timeoutMs / 1000}s (${what}); its console's last lines:\n${this.consoleTail()}`,
        );
      await sleep(1000);
    }
  }

  async stop(): Promise<void> {
    this.socket?.destroy();
    await this.qemu?.stop(2000);
  }
}
