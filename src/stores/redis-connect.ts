/**
 * The clients `createFromUrl` makes for RedisStore: node-redis or ioredis, standalone, Cluster or
 * Sentinel, configured to fail fast (no offline queue, a command timeout) and to reconnect in the
 * background. Each driver is loaded only here, and only when a URL asks for it.
 */
import { StoreUrlError } from '../core/errors.js';
import type { RedisClientInput } from './redis-clients.js';

type DriverModule = 'redis' | 'ioredis';

export interface ClientSettings {
  timeout: number;
}

async function pickDriver(wanted: string | null): Promise<DriverModule> {
  if (wanted === 'ioredis') return 'ioredis';
  if (wanted === 'redis' || wanted === 'node-redis') return 'redis';
  try {
    await import('redis');
    return 'redis';
  } catch {
    return 'ioredis';
  }
}

/** Reconnects forever, backing off to 2 s: the store recovers by itself whenever Redis returns. */
const backoff = (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), 2_000);

/** Waits for the first connection at most `ms`; past that the store still returns and serves 503s until Redis answers. */
async function settle(pending: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    pending.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

function endpoints(url: URL, param: string, defaultPort: number): Array<{ host: string; port: number }> {
  const first = { host: url.hostname || '127.0.0.1', port: Number(url.port || defaultPort) };
  const more = url.searchParams.getAll(param).map((value) => {
    const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(value);
    if (!match) throw new StoreUrlError(`redis URL: \`${param}\` must be host:port`);
    return { host: match[1] as string, port: Number(match[2]) };
  });
  return [first, ...more];
}

function credentials(url: URL): { username?: string; password?: string } {
  return {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

function plainUrl(url: URL): string {
  // The driver sees only what it understands: scheme, credentials, host, port and database.
  const copy = new URL(url.href);
  copy.search = '';
  return copy.href;
}

interface NodeRedisModule {
  createClient(options: Record<string, unknown>): NodeRedisOwned;
  createCluster(options: Record<string, unknown>): NodeRedisOwned;
  createSentinel(options: Record<string, unknown>): NodeRedisOwned;
}
type NodeRedisOwned = RedisClientInput & {
  connect(): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
};

function nodeRedisDefaults(settings: ClientSettings, tls: boolean): Record<string, unknown> {
  return {
    // Commands sent while disconnected fail at once instead of queueing (connect-redis #373).
    disableOfflineQueue: true,
    commandOptions: { timeout: settings.timeout },
    socket: { connectTimeout: settings.timeout, reconnectStrategy: backoff, ...(tls ? { tls: true } : {}) },
  };
}

async function nodeRedisClient(url: URL, settings: ClientSettings): Promise<RedisClientInput> {
  const { createClient } = (await import('redis')) as unknown as NodeRedisModule;
  const client = createClient({ url: plainUrl(url), ...nodeRedisDefaults(settings, false) });
  // Without a listener node-redis's error events would crash the process; failures reach callers anyway.
  client.on('error', () => undefined);
  await settle(client.connect(), settings.timeout);
  return client;
}

async function nodeRedisCluster(url: URL, settings: ClientSettings): Promise<RedisClientInput> {
  const { createCluster } = (await import('redis')) as unknown as NodeRedisModule;
  const tls = url.protocol.startsWith('rediss');
  const cluster = createCluster({
    rootNodes: endpoints(url, 'node', 6379).map(({ host, port }) => ({ socket: { host, port } })),
    defaults: { ...credentials(url), ...nodeRedisDefaults(settings, tls) },
  });
  cluster.on('error', () => undefined);
  await settle(cluster.connect(), settings.timeout);
  return cluster;
}

async function nodeRedisSentinel(url: URL, settings: ClientSettings): Promise<RedisClientInput> {
  const { createSentinel } = (await import('redis')) as unknown as NodeRedisModule;
  const name = sentinelName(url);
  const db = url.searchParams.get('db');
  const tls = url.protocol.startsWith('rediss');
  const sentinelPassword = url.searchParams.get('sentinelPassword');
  const { commandOptions: _own, ...nodeDefaults } = nodeRedisDefaults(settings, tls);
  const sentinel = createSentinel({
    name,
    sentinelRootNodes: endpoints(url, 'sentinel', 26379),
    nodeClientOptions: { ...credentials(url), ...nodeDefaults, ...(db ? { database: Number(db) } : {}) },
    sentinelClientOptions: {
      ...nodeDefaults,
      ...(sentinelPassword === null ? {} : { password: sentinelPassword }),
    },
    commandOptions: { timeout: settings.timeout },
  });
  sentinel.on('error', () => undefined);
  await settle(sentinel.connect(), settings.timeout);
  return sentinel;
}

function sentinelName(url: URL): string {
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) throw new StoreUrlError('redis+sentinel URL: the path must name the master (…/mymaster)');
  return name;
}

interface IORedisModule {
  Redis: new (...args: unknown[]) => IORedisOwned;
  Cluster: new (...args: unknown[]) => IORedisOwned;
}
type IORedisOwned = RedisClientInput & {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  connect(): Promise<void>;
};

function ioredisDefaults(settings: ClientSettings): Record<string, unknown> {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: settings.timeout,
    connectTimeout: settings.timeout,
    retryStrategy: backoff,
    // A master demoted by a failover answers READONLY until the connection is re-established (ioredis #305).
    reconnectOnError: (error: Error) => (error.message.startsWith('READONLY') ? 1 : false),
    lazyConnect: true,
  };
}

async function ioredisClient(url: URL, settings: ClientSettings): Promise<RedisClientInput> {
  const { Redis } = (await import('ioredis')) as unknown as IORedisModule;
  const client = new Redis(plainUrl(url), ioredisDefaults(settings));
  client.on('error', () => undefined);
  await settle(client.connect(), settings.timeout);
  return client;
}

async function ioredisCluster(url: URL, settings: ClientSettings): Promise<RedisClientInput> {
  const { Cluster } = (await import('ioredis')) as unknown as IORedisModule;
  const { enableOfflineQueue: _queue, lazyConnect: _lazy, ...redisOptions } = ioredisDefaults(settings);
  const tls = url.protocol.startsWith('rediss');
  const cluster = new Cluster(endpoints(url, 'node', 6379), {
    enableOfflineQueue: false,
    lazyConnect: true,
    clusterRetryStrategy: backoff,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    maxRedirections: 16,
    redisOptions: { ...redisOptions, ...credentials(url), ...(tls ? { tls: {} } : {}) },
  });
  cluster.on('error', () => undefined);
  await settle(cluster.connect(), settings.timeout);
  return cluster;
}

async function ioredisSentinel(url: URL, settings: ClientSettings): Promise<RedisClientInput> {
  const { Redis } = (await import('ioredis')) as unknown as IORedisModule;
  const name = sentinelName(url);
  const db = url.searchParams.get('db');
  const tls = url.protocol.startsWith('rediss');
  const client = new Redis({
    ...ioredisDefaults(settings),
    sentinels: endpoints(url, 'sentinel', 26379),
    name,
    ...credentials(url),
    ...(url.searchParams.has('sentinelPassword')
      ? { sentinelPassword: url.searchParams.get('sentinelPassword') }
      : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
    // Follows +switch-master at once rather than on the next failed command.
    failoverDetector: true,
  });
  client.on('error', () => undefined);
  await settle(client.connect(), settings.timeout);
  return client;
}

/**
 * A connected client (or one still connecting after `settings.timeout`) for a `redis:`, `rediss:`,
 * `redis+cluster:`, `rediss+cluster:`, `redis+sentinel:` or `rediss+sentinel:` URL; `wanted` picks the
 * driver (default node-redis when installed, else ioredis; Sentinel uses ioredis unless `client=redis`
 * asks for node-redis's Sentinel client).
 */
export async function connectFromUrl(
  url: URL,
  wanted: string | null,
  settings: ClientSettings,
): Promise<RedisClientInput> {
  switch (url.protocol.replace(/:$/, '')) {
    case 'redis':
    case 'rediss':
      return (await pickDriver(wanted)) === 'redis'
        ? nodeRedisClient(url, settings)
        : ioredisClient(url, settings);
    case 'redis+cluster':
    case 'rediss+cluster':
      return (await pickDriver(wanted)) === 'redis'
        ? nodeRedisCluster(url, settings)
        : ioredisCluster(url, settings);
    case 'redis+sentinel':
    case 'rediss+sentinel':
      return wanted === 'redis' || wanted === 'node-redis'
        ? nodeRedisSentinel(url, settings)
        : ioredisSentinel(url, settings);
    default:
      throw new StoreUrlError(`redis URL: unsupported scheme ${url.protocol}`);
  }
}
