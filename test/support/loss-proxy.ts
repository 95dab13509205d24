import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback proxy that, when a client-to-server chunk containing a marker passes, "loses" that
 * connection's client the way a crashed app-server host or a long partition does: the chunk and
 * everything after it are dropped in both directions, and the client's close never reaches the
 * server (no FIN, no RST: the host that would have sent them is gone). The server keeps its end of the
 * connection, as it does until TCP keepalive (2 h by default) notices. Every other connection, and every
 * connection opened afterwards, passes normally: the network is healthy again.
 */
export class LossProxy {
  port = 0;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  /** Server-side sockets of lost clients, kept open on purpose until stop(). */
  readonly orphans = new Set<Socket>();
  private markers: Buffer[] = [];
  lost = 0;
  private onLost: Array<() => void> = [];

  constructor(
    readonly targetHost: string,
    readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  /** Loses the connection whose client next sends a chunk containing `marker`; resolves when it does. */
  loseOn(marker: string): Promise<void> {
    this.markers.push(Buffer.from(marker));
    return new Promise((resolve) => this.onLost.push(resolve));
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    for (const socket of this.orphans) socket.destroy();
    this.sockets.clear();
    this.orphans.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const upstream = connect(this.targetPort, this.targetHost);
    this.sockets.add(client);
    this.sockets.add(upstream);
    let lost = false;
    client.on('data', (chunk: Buffer) => {
      if (lost) return;
      const index = this.markers.findIndex((m) => chunk.includes(m));
      if (index !== -1) {
        this.markers.splice(index, 1);
        lost = true;
        this.lost++;
        this.sockets.delete(upstream);
        this.orphans.add(upstream);
        upstream.removeAllListeners('data');
        upstream.on('data', () => undefined);
        upstream.on('error', () => undefined);
        this.onLost.shift()?.();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!lost && !client.destroyed) client.write(chunk);
    });
    const closeClient = () => {
      client.destroy();
      this.sockets.delete(client);
      if (!lost) {
        upstream.destroy();
        this.sockets.delete(upstream);
      }
    };
    client.on('error', closeClient).on('close', closeClient);
    upstream.on('error', () => {
      if (!lost) closeClient();
    });
    upstream.on('close', () => {
      if (!lost) closeClient();
    });
  }
}
