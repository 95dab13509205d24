import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AnyStore, createStore } from '../../src/stores/factory.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { mongoTarget } from './mongo/target.js';
import { runNamespace, serviceSkipReason } from './services.js';

/**
 * Deterministic interleavings for race tests (security.md B23). A test names checkpoints; the code under
 * test (a route handler, or a store method through `StoreGates`) stops at a checkpoint until the test
 * releases it, and the test can wait until the code has got there. No sleeps decide an order.
 */
export class Checkpoint {
  readonly name: string;
  /** Resolves once the code under test has arrived here. */
  readonly reached: Promise<void>;
  private arrive!: () => void;
  private open!: () => void;
  private readonly gate: Promise<void>;
  arrivals = 0;
  released = false;

  constructor(name: string) {
    this.name = name;
    this.reached = new Promise<void>((resolve) => {
      this.arrive = resolve;
    });
    this.gate = new Promise<void>((resolve) => {
      this.open = resolve;
    });
  }

  /** Called by the code under test: announce arrival, then wait for the test to release. */
  async pass(): Promise<void> {
    this.arrivals++;
    this.arrive();
    await this.gate;
  }

  release(): void {
    this.released = true;
    this.open();
  }
}

/** Named checkpoints that route handlers pass through (`?at=A`). Unknown names pass at once. */
export class Choreography {
  private readonly points = new Map<string, Checkpoint>();

  /**
   * The checkpoint of that name; a new one once the last was released, so that a trial run again (see
   * `withLeads`) holds its request as the first did instead of letting it through.
   */
  point(name: string): Checkpoint {
    let point = this.points.get(name);
    if (!point || point.released) {
      point = new Checkpoint(name);
      this.points.set(name, point);
    }
    return point;
  }

  async pass(name: unknown): Promise<void> {
    if (typeof name !== 'string' || name === '') return;
    const point = this.points.get(name);
    if (point) await point.pass();
  }

  /** Releases every checkpoint, so nothing a failed test left waiting hangs the suite. */
  releaseAll(): void {
    for (const point of this.points.values()) point.release();
  }
}

export const STORE_OPS = ['get', 'create', 'update', 'set', 'destroy', 'touch', 'destroyByUser'] as const;
export type StoreOp = (typeof STORE_OPS)[number];

interface Hold {
  op: StoreOp;
  phase: 'before' | 'after';
  match: (args: unknown[]) => boolean;
  checkpoint: Checkpoint;
  used: boolean;
}

/**
 * Wraps a store so that chosen calls stop before they reach the backend ('before': the call has not
 * happened yet) or after it answered but before the caller sees the answer ('after': the caller will act
 * on a result that may be stale by then). Each hold catches one call, the first that matches.
 */
export class StoreGates {
  private readonly holds: Hold[] = [];
  readonly calls: { op: StoreOp; args: unknown[] }[] = [];

  hold(op: StoreOp, phase: 'before' | 'after' = 'before', match: (args: unknown[]) => boolean = () => true) {
    const checkpoint = new Checkpoint(`${op}:${phase}`);
    this.holds.push({ op, phase, match, checkpoint, used: false });
    return checkpoint;
  }

  releaseAll(): void {
    for (const hold of this.holds) hold.checkpoint.release();
  }

  private take(op: StoreOp, phase: 'before' | 'after', args: unknown[]): Checkpoint | null {
    const hold = this.holds.find((h) => !h.used && h.op === op && h.phase === phase && h.match(args));
    if (!hold) return null;
    hold.used = true;
    return hold.checkpoint;
  }

  wrap<S extends object>(store: S): S {
    const ops = new Set<PropertyKey>(STORE_OPS);
    return new Proxy(store, {
      get: (target, prop) => {
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== 'function') return value;
        const fn = value as (...args: unknown[]) => unknown;
        if (!ops.has(prop)) return fn.bind(target);
        const op = prop as StoreOp;
        return async (...args: unknown[]) => {
          this.calls.push({ op, args });
          await this.take(op, 'before', args)?.pass();
          const result = await fn.apply(target, args);
          await this.take(op, 'after', args)?.pass();
          return result;
        };
      },
    });
  }
}

/** A store the cross-store suites run against, built fresh per suite in a namespace of this run's own. */
export interface StoreTarget {
  name: string;
  /** Why this store cannot run here; the suite is skipped with this reason. */
  skip: string | false;
  /** Survives a restart of its server (the fault tests check that nothing written before a fault is lost). */
  persistent: boolean;
  open(): Promise<AnyStore>;
  /** Closes the store and drops what `open` created (table, key prefix, file). */
  dispose(store: AnyStore): Promise<void>;
}

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

async function pgProbe(url: string): Promise<void> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('SELECT 1');
  } finally {
    await client.end();
  }
}

export async function pgExec(url: string, sql: string): Promise<void> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function mysqlExec(url: string, sql: string): Promise<void> {
  const mysql = await import('mysql2/promise');
  const connection = await mysql.createConnection({ uri: url, connectTimeout: 2_000 });
  try {
    await connection.query(sql);
  } finally {
    await connection.end();
  }
}

async function redisProbe(url: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } finally {
    client.disconnect();
  }
}

/**
 * Every store that can run here: memory and SQLite always; PostgreSQL, MariaDB/MySQL and Redis when their
 * server answers (CI fails instead of skipping, see services.ts); MongoDB on MONGODB_URL or the in-process
 * stand-in.
 */
export async function storeTargets(label: string): Promise<StoreTarget[]> {
  const targets: StoreTarget[] = [];
  targets.push({
    name: 'memory',
    skip: false,
    persistent: false,
    open: async () => new MemoryStore() as AnyStore,
    dispose: async (store) => store.close?.(),
  });

  const dir = mkdtempSync(join(tmpdir(), `sk-${label}-`));
  targets.push({
    name: 'sqlite',
    skip: false,
    persistent: true,
    open: () => createStore(`sqlite://${join(dir, `${runNamespace(label)}.db`)}?pruneInterval=false`),
    dispose: async (store) => {
      await store.close?.();
      rmSync(dir, { recursive: true, force: true });
    },
  });

  {
    const table = runNamespace(label);
    const skip = await serviceSkipReason('PostgreSQL', () => pgProbe(POSTGRES_URL));
    targets.push({
      name: 'postgres',
      skip,
      persistent: true,
      open: () => createStore(`${POSTGRES_URL}?table=${table}&pruneInterval=false`),
      dispose: async (store) => {
        await store.close?.();
        await pgExec(POSTGRES_URL, `DROP TABLE IF EXISTS ${table}, ${table}_epochs`);
      },
    });
  }

  {
    const table = runNamespace(label);
    const skip = await serviceSkipReason('MariaDB', () => mysqlExec(MYSQL_URL, 'SELECT 1'));
    targets.push({
      name: 'mysql',
      skip,
      persistent: true,
      open: () => createStore(`${MYSQL_URL}?table=${table}&pruneInterval=false`),
      dispose: async (store) => {
        await store.close?.();
        await mysqlExec(MYSQL_URL, `DROP TABLE IF EXISTS \`${table}\`, \`${table}_epochs\``);
      },
    });
  }

  {
    const prefix = `${runNamespace(label)}:`;
    const skip = await serviceSkipReason(`Redis at ${REDIS_URL}`, () => redisProbe(REDIS_URL));
    targets.push({
      name: 'redis',
      skip,
      persistent: true,
      open: () => createStore(`${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`),
      dispose: async (store) => {
        await store.clear?.();
        await store.close?.();
      },
    });
  }

  {
    let closeTarget: () => Promise<void> = async () => undefined;
    const collection = runNamespace(label);
    targets.push({
      name: 'mongodb',
      skip: false,
      persistent: Boolean(process.env.MONGODB_URL),
      open: async () => {
        const target = await mongoTarget();
        closeTarget = () => target.close();
        const url = new URL(target.url);
        url.pathname = `/${collection}`;
        url.searchParams.set('collection', collection);
        return createStore(url.href);
      },
      dispose: async (store) => {
        await store.clear?.();
        await store.close?.();
        await closeTarget();
      },
    });
  }
  return targets;
}
