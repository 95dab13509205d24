import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy a test owns, placed between a store and its server, to cut or stall the
 * connection on purpose. Only ever targets the address it is given (the local test server).
 */
export class TcpProxy {
  readonly targetHost: string;
  readonly targetPort: number;
  private server: Server | null = null;
  private sockets = new Set<Socket>();
  private mode: 'pass' | 'refuse' | 'stall' = 'pass';
  port = 0;
  /** Delays every chunk by this many ms, in each direction, keeping order: a slow link. */
  delayMs = 0;

  constructor(targetHost: string, targetPort: number) {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
  }

  /** Starts listening on a free loopback port (or the one it had before, after `stop`). */
  async start(): Promise<number> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    this.mode = 'pass';
    return this.port;
  }

  /** Drops every connection and refuses new ones: the server is "down". */
  cut(): void {
    this.mode = 'refuse';
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  /** Keeps connections open but forwards nothing: the server "hangs". */
  stall(): void {
    this.mode = 'stall';
  }

  /** Forwards again. Connections dropped by `cut` stay dropped; clients must reconnect. */
  restore(): void {
    this.mode = 'pass';
  }

  async stop(): Promise<void> {
    this.cut();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = connect(this.targetPort, this.targetHost);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const forward = (from: Socket, to: Socket) => {
      let chain = Promise.resolve();
      from.on('data', (chunk) => {
        if (this.mode !== 'pass') return;
        const delay = this.delayMs;
        if (delay === 0) {
          to.write(chunk);
          return;
        }
        chain = chain.then(async () => {
          await new Promise((resolve) => setTimeout(resolve, delay));
          if (!to.destroyed) to.write(chunk);
        });
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  }
}
