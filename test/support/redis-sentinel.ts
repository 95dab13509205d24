import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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
  private restarts = 0;

  constructor(private readonly downAfterMs = 600) {}

  async start(): Promise<void> {
    this.primary = await RedisServer.startOnFreePort(this.dir);
    const p = this.primary.port;
    this.replica = await RedisServer.startOnFreePort(this.dir, () => ['--replicaof', '127.0.0.1', String(p)]);
    const r = this.replica.port;
    const ports = new Set<number>();
    while (ports.size < 3) {
      const port = await freePort();
      if (port !== p && port !== r) ports.add(port);
    }
    const s = [...ports];
    this.sentinelPorts = s;
    await waitFor('the replica to sync', async () =>
      String(await ask(r, 'INFO', 'replication')).includes('master_link_status:up'),
    );
    for (const port of s) this.sentinels.push(this.spawnSentinel(port, p));
    // Failover needs each sentinel to know the replica and the two other sentinels (quorum, election).
    await waitFor(
      'the sentinels to discover each other and the replica',
      async () => {
        await this.restartLostSentinels(p);
        for (const port of this.sentinelPorts) {
          const others = (await ask(port, 'SENTINEL', 'SENTINELS', this.name)) as unknown[];
          const replicas = (await ask(port, 'SENTINEL', 'REPLICAS', this.name)) as unknown[];
          if (others.length < 2 || replicas.length < 1) return false;
        }
        return true;
      },
      30_000,
    );
  }

  private spawnSentinel(port: number, primaryPort: number): ChildProcess {
    const file = join(this.dir, `sentinel-${port}.conf`);
    // Sentinel rewrites its config file as it learns the topology, so each gets its own.
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${this.dir}`,
        `logfile ${this.logOf(port)}`,
        `sentinel monitor ${this.name} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${this.name} ${this.downAfterMs}`,
        `sentinel failover-timeout ${this.name} 3000`,
        `sentinel parallel-syncs ${this.name} 1`,
        '',
      ].join('\n'),
    );
    return spawn('redis-server', [file, '--sentinel', '--loglevel', 'warning'], { stdio: 'ignore' });
  }

  private logOf(port: number): string {
    return join(this.dir, `sentinel-${port}.log`);
  }

  /**
   * Another test's server can take a port between `freePort()` and the sentinel binding it; that
   * sentinel starts again on a new port. Any other exit is a failure, reported with the sentinel's log.
   */
  private async restartLostSentinels(primaryPort: number): Promise<void> {
    for (const [index, child] of this.sentinels.entries()) {
      if (child.exitCode === null && child.signalCode === null) continue;
      const port = this.sentinelPorts[index] as number;
      const log = existsSync(this.logOf(port)) ? readFileSync(this.logOf(port), 'utf8') : '';
      if (!/address already in use/i.test(log) || this.restarts++ >= 5)
        throw new Error(
          `a sentinel exited during start-up (exit ${child.exitCode ?? child.signalCode}): ${log.trim().slice(-500)}`,
        );
      const replacement = await freePort();
      this.sentinelPorts[index] = replacement;
      this.sentinels[index] = this.spawnSentinel(replacement, primaryPort);
    }
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
