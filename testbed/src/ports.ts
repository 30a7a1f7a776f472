import fs from 'node:fs';
import net from 'node:net';
import type { Component } from './process.ts';
import { logTail } from './process.ts';

/** A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts connections on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Whether process `pid` itself listens on TCP `port`: a health check alone could be answered by
 * another cluster's server that took the port first.
 */
export function listensOn(pid: number, port: number): boolean {
  const inodes = new Set<string>();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: 'utf8' });
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m) inodes.add(m[1]!);
    }
  } catch {
    return false;
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines: string[];
    try {
      lines = fs.readFileSync(table, 'utf8').split('\n').slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const cols = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN; column 9 is the socket inode.
      if (cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A' && inodes.has(cols[9] ?? '')) return true;
    }
  }
  return false;
}

/** How often a component is restarted on fresh ports when its port was taken in between. */
const PORT_ATTEMPTS = 3;

/**
 * Starts a component and waits until it is ready. The kernel picked its ports free, but another
 * process may grab one before the component binds it: then it is started again on fresh ports.
 */
export async function withFreshPorts<T extends { component: Component }>(
  start: (attempt: number) => Promise<T>,
  track: (c: Component) => void,
  ready: (t: T) => Promise<void>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const t = await start(attempt);
    track(t.component);
    try {
      await ready(t);
      return t;
    } catch (err) {
      await t.component.stop(500);
      const portTaken = /address already in use/i.test(logTail(t.component.logFile, 20));
      if (!portTaken || attempt >= PORT_ATTEMPTS) throw err;
    }
  }
}
