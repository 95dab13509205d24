import { createServer, type Server, type Socket } from 'node:net';

/**
 * A server that accepts connections, reads everything and never answers: what a store sees behind a
 * firewall that drops replies, a wedged server, or a wrong port that happens to listen. Loopback only.
 */
export class BlackHole {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly waiters = new Set<() => void>();
  /** How many connections were ever accepted. */
  accepted = 0;
  port = 0;

  async start(): Promise<number> {
    const server = createServer((socket) => {
      this.accepted++;
      this.sockets.add(socket);
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        if (this.sockets.size === 0) for (const wake of this.waiters) wake();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  /** Connections the clients still hold open. */
  get open(): number {
    return this.sockets.size;
  }

  /** Resolves once every connection is closed by the client; rejects after `ms`. */
  async drained(ms: number): Promise<void> {
    if (this.sockets.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    let wake: () => void = () => undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        wake = resolve;
        this.waiters.add(wake);
        timer = setTimeout(() => reject(new Error(`${this.sockets.size} connection(s) still open`)), ms);
      });
    } finally {
      clearTimeout(timer);
      this.waiters.delete(wake);
    }
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A loopback port nothing listens on (bound, then released): connecting is refused at once. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
