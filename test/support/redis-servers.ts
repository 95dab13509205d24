import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/**
 * Throwaway redis-server processes on loopback for the Redis tests: no persistence, a temp dir of their
 * own, stopped by pid. Nothing here touches the machine's own Redis.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The first port of the kernel's ephemeral range, from which `listen(0)` and outgoing connections draw. */
function ephemeralPortsStart(): number {
  try {
    const first = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    return Number.isInteger(first) && first > 0 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

const LOWEST_PORT = 16_000;
const HIGHEST_PORT = Math.max(LOWEST_PORT + 1_000, ephemeralPortsStart() - 10_001);

/**
 * A free loopback port whose cluster-bus twin (port + 10000) is free too, both below the ephemeral
 * range: a port in it can go to another test's `listen(0)` or outgoing connection between this check
 * and the redis-server binding it, and a server that cannot bind never comes up.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST_PORT + Math.floor(Math.random() * (HIGHEST_PORT - LOWEST_PORT + 1));
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) return port;
  }
  throw new Error('no free port pair found');
}

/** Polls `check` until it returns true, or throws after `timeoutMs`. No fixed sleeps. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<number> {
  const started = Date.now();
  let last: unknown;
  while (Date.now() - started < timeoutMs) {
    try {
      if (await check()) return Date.now() - started;
    } catch (error) {
      last = error;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`);
}

/** One command to one node, on a short-lived connection that never retries. */
export async function ask(port: number, ...args: string[]): Promise<unknown> {
  return (await askEach(port, [args]))[0];
}

/**
 * Commands to one node over one short-lived connection that never retries, their replies in order: a
 * connection per command, hundreds at once, could miss the connect timeout on a busy machine.
 */
export async function askEach(port: number, commands: string[][]): Promise<unknown[]> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    // A node that is down refuses the connection at once (a paused one accepts it and misses
    // commandTimeout); the connect timeout only needs room for a busy test process.
    connectTimeout: 2_000,
    commandTimeout: 1_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await Promise.all(commands.map(([name, ...args]) => client.call(name as string, ...args)));
  } finally {
    client.disconnect();
  }
}

/** A redis-server could not bind its port: something else took it after `freePort()` checked. */
class PortTakenError extends Error {}

export class RedisServer {
  readonly port: number;
  readonly dir: string;
  private readonly extra: string[];
  process: ChildProcess | null = null;

  constructor(port: number, dir: string, extra: string[] = []) {
    this.port = port;
    this.dir = dir;
    this.extra = extra;
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  /**
   * A server on a port `freePort()` found, started. Another test file's server can take that port
   * before this one binds it; the server then exits at once, and this tries again on another port.
   */
  static async startOnFreePort(
    dir: string,
    extra: (port: number) => string[] = () => [],
  ): Promise<RedisServer> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const server = new RedisServer(port, dir, extra(port));
      try {
        await server.start();
        return server;
      } catch (error) {
        if (!(error instanceof PortTakenError) || attempt === 5) throw error;
      }
    }
  }

  private get logfile(): string {
    return join(this.dir, `redis-${this.port}.log`);
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        '--logfile',
        this.logfile,
        '--loglevel',
        'warning',
        ...this.extra,
      ],
      { stdio: 'ignore' },
    );
    this.process = child;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) => {
        if (this.process === child) this.process = null;
        const log = existsSync(this.logfile) ? readFileSync(this.logfile, 'utf8') : '';
        const why = `redis-server on ${this.port} exited (${code ?? signal}): ${log.trim().slice(-400)}`;
        reject(/address already in use/i.test(log) ? new PortTakenError(why) : new Error(why));
      }),
    );
    // The start-up wait ends with the process: a server that could not start is not polled for 10 s.
    exited.catch(() => undefined);
    let polling = true;
    try {
      await Promise.race([
        exited,
        waitFor(
          `redis-server on ${this.port}`,
          async () => !polling || (await ask(this.port, 'PING')) === 'PONG',
          10_000,
        ),
      ]);
    } finally {
      polling = false;
    }
  }

  /** Stops the process by pid and waits until it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid as number, signal);
    await exited;
  }
}

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `${name}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A 3-master / 3-replica Redis Cluster on loopback, built with redis-cli --cluster create. */
export class RedisClusterHarness {
  readonly dir = tempDir('sk-redis-cluster');
  nodes: RedisServer[] = [];

  async start(): Promise<void> {
    const cluster = (port: number) => [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      `nodes-${port}.conf`,
      '--cluster-node-timeout',
      '1000',
      // Replicas must take over even when they lost the link a moment before the master died.
      '--cluster-replica-validity-factor',
      '0',
    ];
    this.nodes = await Promise.all(
      Array.from({ length: 6 }, () => RedisServer.startOnFreePort(this.dir, cluster)),
    );
    const ports = this.nodes.map((node) => node.port);
    await new Promise<void>((resolve, reject) => {
      execFile(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...ports.map((p) => `127.0.0.1:${p}`),
          '--cluster-replicas',
          '1',
          '--cluster-yes',
        ],
        { timeout: 30_000 },
        (error, _stdout, stderr) =>
          error ? reject(new Error(`cluster create failed: ${stderr}`)) : resolve(),
      );
    });
    await this.waitHealthy();
  }

  /** Every live node reports cluster_state:ok and agrees there are three masters. */
  async waitHealthy(timeoutMs = 30_000): Promise<number> {
    return waitFor(
      'cluster_state:ok',
      async () => {
        for (const node of this.nodes) {
          if (!node.process) continue;
          const info = String(await ask(node.port, 'CLUSTER', 'INFO'));
          if (!info.includes('cluster_state:ok')) return false;
        }
        return (await this.masters()).length === 3;
      },
      timeoutMs,
    );
  }

  /** Live masters, as the cluster itself reports them: port and slot ranges. */
  async topology(): Promise<Array<{ port: number; slots: Array<[number, number]> }>> {
    const live = this.nodes.find((node) => node.process);
    if (!live) return [];
    const text = String(await ask(live.port, 'CLUSTER', 'NODES'));
    return text
      .split('\n')
      .map((line) => line.trim().split(' '))
      .filter((f) => {
        const flags = (f[2] ?? '').split(',');
        return (
          flags.includes('master') && !flags.includes('fail') && !flags.includes('fail?') && f.length > 8
        );
      })
      .map((f) => ({
        port: Number((f[1] ?? '').split('@')[0]?.split(':')[1]),
        slots: f
          .slice(8)
          .filter((r) => !r.startsWith('['))
          .map((r) => {
            const [a, b] = r.split('-');
            return [Number(a), Number(b ?? a)] as [number, number];
          }),
      }));
  }

  async masters(): Promise<number[]> {
    return (await this.topology()).map((m) => m.port);
  }

  /** The port of the master serving each key now, the slots asked over one connection. */
  async ownersOf(keys: string[]): Promise<number[]> {
    const live = this.nodes.find((node) => node.process) as RedisServer;
    const slots = await askEach(
      live.port,
      keys.map((key) => ['CLUSTER', 'KEYSLOT', key]),
    );
    const topology = await this.topology();
    return slots.map((reply) => {
      const slot = Number(reply);
      const owner = topology.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));
      if (!owner) throw new Error(`no master serves slot ${slot}`);
      return owner.port;
    });
  }

  node(port: number): RedisServer {
    const found = this.nodes.find((n) => n.port === port);
    if (!found) throw new Error(`no node on ${port}`);
    return found;
  }

  url(extra = ''): URL {
    const [first, ...rest] = this.nodes;
    const more = rest.map((n) => `node=127.0.0.1:${n.port}`).join('&');
    return new URL(`redis+cluster://127.0.0.1:${first?.port}?${more}${extra}`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop('SIGKILL')));
    removeDir(this.dir);
  }
}
