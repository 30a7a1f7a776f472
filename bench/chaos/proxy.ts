/**
 * One agent's road to the API server: a loopback TCP proxy (TLS passes through untouched) per agent
 * incarnation. Cutting it is a network partition (every connection dropped, new ones reset at once)
 * or, for an in-process agent, part of its kill: a killed incarnation's proxy never carries a byte
 * again, so whatever it still had in flight is lost, as with a process that died.
 */
import net from 'node:net';

export class AgentProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private cut = false;
  private closed = false;
  private readonly target: { host: string; port: number };
  port = 0;

  constructor(target: { host: string; port: number }) {
    this.target = target;
    this.server = net.createServer((client) => this.accept(client));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Drops every connection and refuses new ones until healed. */
  partition(): void {
    this.cut = true;
    this.dropAll();
  }

  heal(): void {
    this.cut = false;
  }

  /**
   * For good: the incarnation behind it is dead. The port stays taken (refusing) for a minute, so
   * that the dead incarnation's last attempts cannot reach a new proxy given the same port.
   */
  close(): void {
    this.closed = true;
    this.dropAll();
    setTimeout(() => this.server.close(), 60_000).unref();
  }

  private dropAll(): void {
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
  }

  private accept(client: net.Socket): void {
    if (this.cut || this.closed) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const end = () => {
      this.sockets.delete(client);
      this.sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
