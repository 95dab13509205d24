import { OptionsError, StoreUnavailableError } from '../core/errors.js';
import { closeWithin } from './close.js';
import { isConnectionError } from './contract.js';

/**
 * The four kinds of client RedisStore accepts, described structurally so that importing this module
 * never loads `redis` or `ioredis` (both are optional peers) and either one's own types fit.
 */
export interface NodeRedisClientLike {
  sendCommand(args: string[], options?: { timeout?: number }): Promise<unknown>;
  readonly isOpen: boolean;
  readonly isReady: boolean;
  close(): Promise<void>;
  destroy(): void;
  connect(): Promise<unknown>;
}

export interface NodeRedisClusterLike {
  sendCommand(
    firstKey: string | undefined,
    isReadonly: boolean | undefined,
    args: string[],
  ): Promise<unknown>;
  readonly masters: ReadonlyArray<{ host: string; port: number }>;
  // Method syntax on purpose: its parameter is bivariant, so node-redis's own ShardNode type fits.
  nodeClient(node: {
    host: string;
    port: number;
  }): Promise<{ sendCommand(args: string[]): Promise<unknown> }>;
  close(): Promise<void>;
  destroy(): void;
}

export interface IORedisLike {
  call(command: string, ...args: string[]): Promise<unknown>;
  readonly status: string;
  readonly isCluster: boolean;
  quit(): Promise<unknown>;
  disconnect(reconnect?: boolean): void;
  connect(): Promise<unknown>;
}

export interface IORedisClusterLike extends IORedisLike {
  nodes(role?: 'master' | 'slave' | 'all'): Array<{
    call(command: string, ...args: string[]): Promise<unknown>;
    options: { host?: string; port?: number };
  }>;
}

/** node-redis 5's `createSentinel()` client: commands go to the master Sentinel names now. */
export interface NodeRedisSentinelLike {
  sendCommand(isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
  getMasterNode(): { host: string; port: number } | undefined;
  readonly isOpen: boolean;
  readonly isReady: boolean;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

export type RedisClientInput =
  | NodeRedisClientLike
  | NodeRedisClusterLike
  | NodeRedisSentinelLike
  | IORedisLike
  | IORedisClusterLike;

/** Sends one command to one node. */
export type NodeSender = (args: string[]) => Promise<unknown>;

/** What RedisStore needs from a client, whatever its kind. */
export interface RedisDriver {
  readonly kind: 'node-redis' | 'node-redis-cluster' | 'node-redis-sentinel' | 'ioredis' | 'ioredis-cluster';
  readonly cluster: boolean;
  /** Sends one command; on a Cluster it is routed by `key`'s slot. */
  send(key: string | undefined, args: string[]): Promise<unknown>;
  /** The client's own per-command timeout (ms), where the client has one the store can read. */
  readonly commandTimeout?: number;
  /** One sender per master, ordered by address so a SCAN cursor can name "the n-th master". */
  masters(): Promise<NodeSender[]>;
  /**
   * True when the client itself says it cannot send now (not connected, reconnecting, closed): a call
   * would only wait in a queue or for a timer, so the store fails it at once instead.
   */
  offline(): boolean;
  /**
   * True when the client is connected and can send now: unlike `!offline()`, false for an ioredis client
   * with `lazyConnect` that has not connected yet, which a command would connect.
   */
  connected(): boolean;
  /**
   * Quits the client, waiting at most `ms` for the server before destroying its sockets; only called for
   * clients the store created itself.
   */
  close(ms: number): Promise<void>;
  /**
   * Drops the connection and opens a new one; only called for clients the store created itself. After
   * a command timeout the old connection may owe replies that will never come (a black-holed link), and
   * a client that matches replies to commands in order would stay behind them.
   */
  reconnect?(): void;
  /**
   * Connects again a client that gave up for good although nobody closed it; only called for clients
   * the store created itself, while the store is open. ioredis ends for good when a connection attempt
   * is cut while it asks a sentinel for the master, which its own failover detector does when a
   * `+switch-master` arrives at that moment.
   */
  revive?(): void;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null;
}

/** Recognises the client kind by shape: the packages' classes are not importable without loading them. */
export function wrapClient(client: RedisClientInput): RedisDriver {
  const c = client as unknown as Record<string, unknown>;
  if (!isObject(c)) throw new OptionsError('client', 'must be a node-redis or ioredis client');
  if (typeof c.call === 'function' && typeof c.status === 'string') {
    if (c.isCluster === true && typeof c.nodes === 'function')
      return ioredisCluster(c as unknown as IORedisClusterLike);
    return ioredis(c as unknown as IORedisLike);
  }
  if (typeof c.nodeClient === 'function' && 'masters' in c)
    return nodeRedisCluster(c as unknown as NodeRedisClusterLike);
  if (typeof c.getMasterNode === 'function' && typeof c.sendCommand === 'function')
    return nodeRedisSentinel(c as unknown as NodeRedisSentinelLike);
  if (typeof c.sendCommand === 'function' && 'isReady' in c)
    return nodeRedis(c as unknown as NodeRedisClientLike);
  throw new OptionsError('client', 'is neither a node-redis (v4+) nor an ioredis (v5+) client or cluster');
}

/**
 * node-redis 5+ gives every command its client's `commandOptions.timeout` (5 s unless set) as an
 * `AbortSignal.timeout()`: a timer and a signal per command that nothing clears, so at a few thousand
 * commands a second tens of thousands of them are alive at once, and they dominate the client's CPU per
 * command (bench/redis-timer.ts measures it). The store bounds every operation with its own timer, cleared
 * when the reply comes, so while the client is connected its commands go without the client's. While it
 * is not, a command may wait in the offline queue, and only the client's timer takes it out of there.
 */
const WITHOUT_CLIENT_TIMER = { timeout: 0 };

function nodeRedis(client: NodeRedisClientLike): RedisDriver {
  const send: NodeSender = (args) =>
    client.isReady ? client.sendCommand(args, WITHOUT_CLIENT_TIMER) : client.sendCommand(args);
  const timeout = (client as { _commandOptions?: { timeout?: unknown } })._commandOptions?.timeout;
  return {
    kind: 'node-redis',
    cluster: false,
    ...(typeof timeout === 'number' && timeout > 0 ? { commandTimeout: timeout } : {}),
    send: (_key, args) => send(args),
    masters: async () => [send],
    // Not ready covers a client never connected, one whose handshake a server never answered, one
    // reconnecting and one closed; node-redis would queue the command or fail it only at its own timer.
    offline: () => !client.isReady,
    connected: () => client.isReady,
    async close(ms) {
      if (client.isOpen)
        await closeWithin(
          ms,
          () => client.close(),
          () => client.destroy(),
        );
    },
    reconnect() {
      if (!client.isOpen) return;
      client.destroy();
      client.connect().catch(() => undefined);
    },
  };
}

function nodeRedisCluster(cluster: NodeRedisClusterLike): RedisDriver {
  return {
    kind: 'node-redis-cluster',
    cluster: true,
    send: (key, args) => cluster.sendCommand(key, false, args),
    async masters() {
      const nodes = [...cluster.masters].sort((a, b) => address(a).localeCompare(address(b)));
      return Promise.all(
        nodes.map(async (node) => {
          const client = await cluster.nodeClient(node);
          return (args: string[]) => client.sendCommand(args);
        }),
      );
    },
    offline: () => (cluster as { isOpen?: unknown }).isOpen === false,
    connected: () => (cluster as { isReady?: unknown }).isReady === true,
    async close(ms) {
      await closeWithin(
        ms,
        () => cluster.close(),
        () => cluster.destroy(),
      );
    },
  };
}

function nodeRedisSentinel(sentinel: NodeRedisSentinelLike): RedisDriver {
  const send: NodeSender = (args) => sentinel.sendCommand(false, args);
  return {
    kind: 'node-redis-sentinel',
    cluster: false,
    send: (_key, args) => send(args),
    masters: async () => [send],
    // Between a master's death and Sentinel's promotion node-redis has no master to send to and would
    // wait for one; the store answers 503 at once instead.
    offline: () => !sentinel.isReady || sentinel.getMasterNode() === undefined,
    connected: () => sentinel.isReady && sentinel.getMasterNode() !== undefined,
    async close(ms) {
      if (sentinel.isOpen)
        await closeWithin(
          ms,
          () => sentinel.close(),
          () => void sentinel.destroy().catch(() => undefined),
        );
    },
  };
}

/**
 * ioredis states in which a command cannot go out. `wait` (lazyConnect, not yet connected) is not among
 * them: the first command is what connects such a client. `connecting` is not either: it lasts until the
 * connection succeeds or fails, which is quick unless the link is black-holed, and the store's own
 * timeout bounds that case.
 */
const IOREDIS_OFFLINE = new Set(['reconnecting', 'close', 'end']);

function ioredis(client: IORedisLike): RedisDriver {
  const send: NodeSender = (args) => client.call(args[0] as string, ...args.slice(1));
  return {
    kind: 'ioredis',
    cluster: false,
    send: (_key, args) => send(args),
    masters: async () => [send],
    offline: () => IOREDIS_OFFLINE.has(client.status),
    connected: () => client.status === 'ready',
    async close(ms) {
      await closeWithin(
        ms,
        () => client.quit(),
        () => client.disconnect(),
      );
    },
    reconnect() {
      client.disconnect(true);
    },
    revive() {
      if (client.status === 'end') client.connect().catch(() => undefined);
    },
  };
}

function ioredisCluster(cluster: IORedisClusterLike): RedisDriver {
  return {
    kind: 'ioredis-cluster',
    cluster: true,
    send: (_key, args) => cluster.call(args[0] as string, ...args.slice(1)),
    async masters() {
      const nodes = [...cluster.nodes('master')].sort((a, b) =>
        address(a.options).localeCompare(address(b.options)),
      );
      return nodes.map((node) => (args: string[]) => node.call(args[0] as string, ...args.slice(1)));
    },
    offline: () => IOREDIS_OFFLINE.has(cluster.status),
    connected: () => cluster.status === 'ready',
    async close(ms) {
      await closeWithin(
        ms,
        () => cluster.quit(),
        () => cluster.disconnect(),
      );
    },
  };
}

function address(node: { host?: string; port?: number }): string {
  return `${node.host ?? ''}:${String(node.port ?? 0).padStart(5, '0')}`;
}

// node-redis errors keep the default `name` ("Error"), so they are told apart by class name; ioredis
// raises plain Errors for its offline states, so by message.
const UNAVAILABLE_CLASSES = new Set([
  'ClientClosedError',
  'ClientOfflineError',
  'SocketClosedUnexpectedlyError',
  'ConnectionTimeoutError',
  'SocketTimeoutError',
  'TimeoutError',
  'CommandTimeoutDuringMaintenanceError',
  'SocketTimeoutDuringMaintenanceError',
  'ReconnectStrategyError',
  'RootNodesUnavailableError',
  'DisconnectsClientError',
  'MaxCommandRedirectionsError',
  'ClusterAllFailedError',
  'MaxRetriesPerRequestError',
]);
// The last two are node-redis Sentinel's topology discovery giving up (no sentinel answered, or the
// one asked flags the master down): a command waiting on that discovery fails with them.
const UNAVAILABLE_MESSAGES =
  /^(?:Connection is closed|Stream isn't writeable|Cluster isn't ready|Command timed out|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes is available|All sentinels are unreachable|The client is (?:closed|offline)|Socket closed unexpectedly|Connection timeout|no valid master node|None of the sentinels are available)/;
// Server replies that mean "not now" (failover, loading, a demoted master), not "your command is wrong".
const UNAVAILABLE_REPLIES =
  /^(?:CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|BUSY|NOREPLICAS|UNBLOCKED)\b/;

/** True when a client error means Redis cannot be reached or cannot serve right now. */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (isConnectionError(error)) return true;
  if (UNAVAILABLE_CLASSES.has(error.constructor.name) || UNAVAILABLE_CLASSES.has(error.name)) return true;
  const message = error.message ?? '';
  if (UNAVAILABLE_MESSAGES.test(message) || UNAVAILABLE_REPLIES.test(message)) return true;
  const { cause, lastNodeError } = error as { cause?: unknown; lastNodeError?: unknown };
  return (cause !== undefined && cause !== error && isUnavailable(cause)) || isUnavailable(lastNodeError);
}

/** Turns a reachability failure into ERR_STORE_UNAVAILABLE; anything else is rethrown for `run` to map. */
export function classify(operation: string, error: unknown): never {
  if (isUnavailable(error)) {
    throw StoreUnavailableError.fromDriver(operation, error);
  }
  throw error;
}

/** A reply string whatever the client's decoding (strings by default, Buffers when asked). */
export function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'number') return String(value);
  throw new TypeError(`unexpected Redis reply ${typeof value}`);
}

/**
 * Calls `visit` with each field and value of an HGETALL reply as the client gave it: a flat array (RESP2),
 * a Map or a plain object (RESP3, ioredis), with no array of pairs built in between.
 */
export function eachField(reply: unknown, visit: (field: string, value: string) => void): void {
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) visit(text(reply[i]), text(reply[i + 1]));
  } else if (reply instanceof Map) {
    for (const [field, value] of reply) visit(text(field), text(value));
  } else if (isObject(reply)) {
    for (const field of Object.keys(reply)) visit(field, text(reply[field]));
  }
}

/** Member/score pairs of a ZRANGE … WITHSCORES reply, flat (RESP2) or nested (RESP3). */
export function scored(reply: unknown): Array<[string, number]> {
  if (!Array.isArray(reply)) return [];
  if (reply.length > 0 && Array.isArray(reply[0])) {
    return (reply as unknown[][]).map((pair) => [text(pair[0]), Number(text(pair[1]))]);
  }
  const out: Array<[string, number]> = [];
  for (let i = 0; i + 1 < reply.length; i += 2) out.push([text(reply[i]), Number(text(reply[i + 1]))]);
  return out;
}
