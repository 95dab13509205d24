import { connect, createServer, type Server, type Socket } from 'node:net';
import { Checkpoint } from './interleave.js';

/**
 * A loopback proxy for race tests: every chunk waits a random 0..`maxDelayMs` ms (order kept in each
 * direction), and a chunk from client to server that contains a chosen marker can be held, with
 * everything after it on that connection, until the test releases it. The marker is a string the test
 * put in the session data, so the hold catches exactly the write of that session, whatever the store.
 */
export class WireProxy {
  readonly targetHost: string;
  readonly targetPort: number;
  maxDelayMs = 0;
  port = 0;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private holds: Array<{ marker: Buffer; checkpoint: Checkpoint }> = [];

  constructor(targetHost: string, targetPort: number) {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
  }

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

  /** Holds the first client-to-server chunk holding `marker`; `reached` resolves when it arrives. */
  hold(marker: string): Checkpoint {
    const checkpoint = new Checkpoint(`hold:${marker}`);
    this.holds.push({ marker: Buffer.from(marker), checkpoint });
    return checkpoint;
  }

  releaseAll(): void {
    for (const hold of this.holds) hold.checkpoint.release();
    this.holds = [];
  }

  async stop(): Promise<void> {
    this.releaseAll();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const upstream = connect(this.targetPort, this.targetHost);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const forward = (from: Socket, to: Socket, upward: boolean) => {
      let chain = Promise.resolve();
      from.on('data', (chunk: Buffer) => {
        const delay = Math.random() * this.maxDelayMs;
        const index = upward ? this.holds.findIndex((h) => chunk.includes(h.marker)) : -1;
        const held = index === -1 ? null : (this.holds.splice(index, 1)[0]?.checkpoint ?? null);
        if (delay < 0.05 && held === null) {
          chain = chain.then(() => {
            if (!to.destroyed) to.write(chunk);
          });
          return;
        }
        chain = chain.then(async () => {
          if (delay >= 0.05) await new Promise((resolve) => setTimeout(resolve, delay));
          if (held) await held.pass();
          if (!to.destroyed) to.write(chunk);
        });
      });
    };
    forward(client, upstream, true);
    forward(upstream, client, false);
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
