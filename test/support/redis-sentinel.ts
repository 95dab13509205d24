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
    // A sentinel starved for two seconds goes into TILT: it stops acting and freezes every server's flags
    // for 30 s, so a master it flagged down stays down in its answers after it has recovered. On a
    // machine busy enough to starve it that is an artefact of the test run, not of a failover; TILT is
    // shortened so that it ends well within the tests' recovery windows (Redis 7.0 and later; before,
    // TILT keeps its 30 s).
    for (const port of this.sentinelPorts)
      await ask(port, 'SENTINEL', 'DEBUG', 'tilt-period', '5000').catch((error: Error) => {
        if (!/unknown|wrong number/i.test(error.message)) throw error;
      });
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

  /** The address a sentinel (by default the first) gives for the master now. */
  async masterPort(sentinelPort = this.sentinelPorts[0] as number): Promise<number> {
    const reply = (await ask(sentinelPort, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name)) as [
      string,
      string,
    ];
    return Number(reply[1]);
  }

  /**
   * Waits until the replica holds everything the primary has acknowledged: replication is asynchronous,
   * and only what the replica holds survives the primary's death.
   */
  async replicaCaughtUp(): Promise<void> {
    const primaryOffset = Number(
      /master_repl_offset:(\d+)/.exec(String(await ask(this.primary.port, 'INFO', 'replication')))?.[1],
    );
    await waitFor('the replica to catch up', async () => {
      const info = String(await ask(this.replica.port, 'INFO', 'replication'));
      return Number(/slave_repl_offset:(\d+)/.exec(info)?.[1]) >= primaryOffset;
    });
  }

  /**
   * What each sentinel makes of the master (address and flags), each server's role, and the last events
   * in each sentinel's log: printed when a failover test fails, since the cause lies in the sentinels.
   */
  async diagnose(): Promise<string> {
    const lines: string[] = [];
    for (const port of this.sentinelPorts) {
      const view = await ask(port, 'SENTINEL', 'MASTER', this.name).catch((error: Error) => [error.message]);
      const fields = Array.isArray(view) ? view.map(String) : [String(view)];
      const field = (name: string) => fields[fields.indexOf(name) + 1];
      const tilt = /sentinel_tilt:(\d)/.exec(
        String(await ask(port, 'INFO', 'sentinel').catch(() => '')),
      )?.[1];
      lines.push(`sentinel ${port}: master ${field('port')} flags ${field('flags')} tilt ${tilt ?? '?'}`);
    }
    for (const server of [this.primary, this.replica]) {
      const info = await ask(server.port, 'INFO', 'replication').catch((error: Error) => error.message);
      lines.push(`server ${server.port}: ${/role:\w+/.exec(String(info))?.[0] ?? String(info).slice(0, 80)}`);
    }
    for (const port of this.sentinelPorts) {
      const log = existsSync(this.logOf(port))
        ? readFileSync(this.logOf(port), 'utf8').trim().split('\n')
        : [];
      const events = log.filter((line) => / # [+-]|tilt/i.test(line));
      lines.push(`sentinel ${port} events:`, ...events.slice(-20).map((line) => `  ${line}`));
    }
    return lines.join('\n');
  }

  url(extra: string): URL {
    const [first, ...rest] = this.sentinelPorts;
    const more = rest.map((port) => `sentinel=127.0.0.1:${port}`).join('&');
    return new URL(`redis+sentinel://127.0.0.1:${first}/${this.name}?${more}${extra}`);
  }

  /** The sentinels' process IDs, in the order of `sentinelPorts`. */
  sentinelPids(): number[] {
    return this.sentinels.map((child) => child.pid as number);
  }

  /** SIGKILLs every sentinel still running and waits for their exits. */
  async killSentinels(): Promise<void> {
    const exits = this.sentinels
      .filter((child) => child.exitCode === null && child.signalCode === null)
      .map((child) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        process.kill(child.pid as number, 'SIGKILL');
        return exited;
      });
    await Promise.all(exits);
  }

  async stop(): Promise<void> {
    await Promise.all([this.killSentinels(), this.primary?.stop(), this.replica?.stop()]);
    removeDir(this.dir);
  }
}
