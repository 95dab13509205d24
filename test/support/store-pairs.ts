import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AnyStore, createStore } from '../../src/stores/factory.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { MYSQL_URL, mysqlExec, POSTGRES_URL, pgExec, REDIS_URL } from './interleave.js';
import { type MongoTarget, mongoTarget } from './mongo/target.js';
import { redisSkipReason } from './redis.js';
import { runNamespace, serviceSkipReason, urlVia } from './services.js';
import { WireProxy } from './wire-proxy.js';

/**
 * Two store instances over the same data, standing for two app servers, on every store that can run
 * here: the MemoryStore (one instance, shared: it lives in the process), SQLite (two connections to one
 * file), and PostgreSQL, MariaDB, Redis and MongoDB (the stand-in unless MONGODB_URL is set), where `far`
 * talks to the server through a WireProxy that delays each chunk a random 0..`wireDelayMs` ms and `near`
 * talks to it directly. Every pair works in a namespace of its own (file, table, prefix, collection).
 */
export interface StorePair {
  far: AnyStore;
  near: AnyStore;
  proxy: WireProxy | null;
}

export interface PairTarget {
  name: string;
  skip: string | false;
  open(): Promise<StorePair>;
  /** Closes both instances and the proxy, and drops what `open` made. */
  dispose(pair: StorePair): Promise<void>;
}

async function proxied(url: string, wireDelayMs: number): Promise<{ proxy: WireProxy; via: string }> {
  const target = new URL(url);
  const proxy = new WireProxy(target.hostname, Number(target.port));
  await proxy.start();
  proxy.maxDelayMs = wireDelayMs;
  return { proxy, via: urlVia(url, '127.0.0.1', proxy.port) };
}

async function closeBoth(pair: StorePair): Promise<void> {
  pair.proxy?.releaseAll();
  if (pair.far !== pair.near) await pair.far.close?.();
  await pair.near.close?.();
  await pair.proxy?.stop();
}

/**
 * Every store as two instances. `timeoutMs` is each network store's own call timeout: a test that queues
 * dozens of writes on one session's row waits on row locks, which on a loaded machine can pass the
 * default.
 */
export async function storePairs(label: string, wireDelayMs = 3, timeoutMs = 5_000): Promise<PairTarget[]> {
  const out: PairTarget[] = [];
  const t = `timeout=${timeoutMs}`;

  out.push({
    name: 'memory',
    skip: false,
    open: async () => {
      const store = new MemoryStore() as AnyStore;
      return { far: store, near: store, proxy: null };
    },
    dispose: closeBoth,
  });

  {
    let dir = '';
    out.push({
      name: 'sqlite',
      skip: false,
      async open() {
        dir = mkdtempSync(join(tmpdir(), `sk-${label}-`));
        const file = join(dir, 'sessions.db');
        const far = await createStore(`sqlite://${file}?pruneInterval=false`);
        const near = await createStore(`sqlite://${file}?pruneInterval=false`);
        return { far, near, proxy: null };
      },
      async dispose(pair) {
        await closeBoth(pair);
        if (dir) rmSync(dir, { recursive: true, force: true });
      },
    });
  }

  for (const [name, service, url, exec, quote] of [
    ['postgres', 'PostgreSQL', POSTGRES_URL, pgExec, (t: string) => t],
    ['mysql', 'MariaDB', MYSQL_URL, mysqlExec, (t: string) => `\`${t}\``],
  ] as const) {
    const table = runNamespace(label);
    out.push({
      name,
      skip: await serviceSkipReason(service, () => exec(url, 'SELECT 1')),
      async open() {
        const { proxy, via } = await proxied(url, wireDelayMs);
        const far = await createStore(`${via}?table=${table}&pruneInterval=false&${t}`);
        const near = await createStore(`${url}?table=${table}&pruneInterval=false&${t}`);
        return { far, near, proxy };
      },
      async dispose(pair) {
        await closeBoth(pair);
        await exec(url, `DROP TABLE IF EXISTS ${quote(table)}, ${quote(`${table}_epochs`)}`);
      },
    });
  }

  {
    const prefix = encodeURIComponent(`${runNamespace(label)}:`);
    out.push({
      name: 'redis',
      skip: await redisSkipReason(REDIS_URL),
      async open() {
        const { proxy, via } = await proxied(REDIS_URL, wireDelayMs);
        const far = await createStore(`${via}?prefix=${prefix}&${t}`);
        const near = await createStore(`${REDIS_URL}?prefix=${prefix}&${t}`);
        return { far, near, proxy };
      },
      async dispose(pair) {
        // Every key under the prefix: sessions, user indexes, revocation epochs.
        await pair.near.clear?.();
        await closeBoth(pair);
      },
    });
  }

  {
    const collection = runNamespace(label);
    let target: MongoTarget | null = null;
    out.push({
      name: 'mongodb',
      skip: false,
      async open() {
        target = await mongoTarget();
        const { proxy, via } = await proxied(target.url, wireDelayMs);
        const at = (base: string) => {
          const u = new URL(base);
          u.pathname = `/${collection}`;
          u.searchParams.set('collection', collection);
          u.searchParams.set('timeout', String(timeoutMs));
          return u.href;
        };
        const far = await createStore(at(via));
        const near = await createStore(at(target.url));
        return { far, near, proxy };
      },
      async dispose(pair) {
        await pair.near.clear?.();
        await closeBoth(pair);
        if (target?.kind === 'real') {
          const { MongoClient } = await import('mongodb');
          const client = new MongoClient(target.url);
          try {
            await client.db(collection).dropDatabase();
          } finally {
            await client.close();
          }
        }
        await target?.close();
      },
    });
  }
  return out;
}
