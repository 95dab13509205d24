import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ask, freePort, RedisServer, removeDir, tempDir, waitFor } from './redis-servers.js';

/**
 * A Sentinel topology on loopback: one primary, one replica and three `redis-server --sentinel`
 * processes with a quorum of two, tuned to fail over within a second or two. Everything is stopped by
 * pid; nothing touches the machine's own Redis.
 */
export class RedisSentinelHarness {
  readonly dir = tempDir('sk-redis-sentinel');
  readonly name = 'skmaster';
  primary!: RedisServer;
  replica!: RedisServer;
  sentinelPorts: number[] = [];
  private sentinels: ChildProcess[] = [];

  constructor(private readonly downAfterMs = 600) {}

  async start(): Promise<void> {
    const ports = new Set<number>();
    while (ports.size < 5) ports.add(await freePort());
    const [p, r, ...s] = [...ports] as [number, number, ...number[]];
    this.primary = new RedisServer(p, this.dir);
    this.replica = new RedisServer(r, this.dir, ['--replicaof', '127.0.0.1', String(p)]);
    this.sentinelPorts = s;
    await this.primary.start();
    await this.replica.start();
    await waitFor('the replica to sync', async () =>
      String(await ask(r, 'INFO', 'replication')).includes('master_link_status:up'),
    );
    for (const port of s) {
      const file = join(this.dir, `sentinel-${port}.conf`);
      // Sentinel rewrites its config file as it learns the topology, so each gets its own.
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${this.dir}`,
          `sentinel monitor ${this.name} 127.0.0.1 ${p} 2`,
          `sentinel down-after-milliseconds ${this.name} ${this.downAfterMs}`,
          `sentinel failover-timeout ${this.name} 3000`,
          `sentinel parallel-syncs ${this.name} 1`,
          '',
        ].join('\n'),
      );
      const child = spawn('redis-server', [file, '--sentinel', '--loglevel', 'warning'], { stdio: 'ignore' });
      this.sentinels.push(child);
    }
    const exited = () => this.sentinels.find((child) => child.exitCode !== null || child.signalCode !== null);
    // Failover needs each sentinel to know the replica and the two other sentinels (quorum, election).
    await waitFor(
      'the sentinels to discover each other and the replica',
      async () => {
        // A sentinel that could not start (its port taken) would leave this waiting for nothing.
        const gone = exited();
        if (gone !== undefined)
          throw new Error(`a sentinel exited during start-up (exit ${gone.exitCode ?? gone.signalCode})`);
        for (const port of s) {
          const others = (await ask(port, 'SENTINEL', 'SENTINELS', this.name)) as unknown[];
          const replicas = (await ask(port, 'SENTINEL', 'REPLICAS', this.name)) as unknown[];
          if (others.length < 2 || replicas.length < 1) return false;
        }
        return true;
      },
      30_000,
    );
  }

  /** The address the sentinels give for the master now. */
  async masterPort(): Promise<number> {
    const reply = (await ask(
      this.sentinelPorts[0] as number,
      'SENTINEL',
      'GET-MASTER-ADDR-BY-NAME',
      this.name,
    )) as [string, string];
    return Number(reply[1]);
  }

  url(extra: string): URL {
    const [first, ...rest] = this.sentinelPorts;
    const more = rest.map((port) => `sentinel=127.0.0.1:${port}`).join('&');
    return new URL(`redis+sentinel://127.0.0.1:${first}/${this.name}?${more}${extra}`);
  }

  async stop(): Promise<void> {
    const exits = this.sentinels
      .filter((child) => child.exitCode === null && child.signalCode === null)
      .map((child) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        process.kill(child.pid as number, 'SIGKILL');
        return exited;
      });
    await Promise.all([...exits, this.primary?.stop(), this.replica?.stop()]);
    removeDir(this.dir);
  }
}
