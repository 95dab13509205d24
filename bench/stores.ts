/**
 * Store-level benchmark: `npm run bench:stores`. Operations per second for get / create / update / touch
 * on every store against the real servers on 127.0.0.1 (a store whose server does not answer is
 * skipped, and says so). Each operation runs `--ops` times with `--concurrency` calls in flight, as a
 * server under load would issue them; every store gets its own table, prefix or file, removed afterwards.
 *
 * Flags: --ops N (default 5000; 20000 for in-process stores), --concurrency N (16), --only memory,redis,…, --no-docs
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionRecord, SessionStore } from '../src/index.js';
import { COOKIE_MAX_AGE, REDIS_URL, ROOT, reachable, updateDocs } from './common.js';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';

interface Contender {
  name: string;
  port: number | null;
  inProcess: boolean;
  open(): Promise<{ store: SessionStore; dispose(): Promise<void> }>;
}

const tag = `bench_${process.pid}`;

const contenders: Contender[] = [
  {
    name: 'memory',
    port: null,
    inProcess: true,
    async open() {
      const { MemoryStore } = await import('../src/stores/memory.js');
      const store = new MemoryStore({ max: 1_000_000 });
      return { store, dispose: () => store.close() };
    },
  },
  {
    name: 'sqlite',
    port: null,
    inProcess: true,
    async open() {
      const { SQLiteStore } = await import('../src/stores/sqlite.js');
      const dir = mkdtempSync(join(tmpdir(), 'sessionkit-bench-'));
      const store = new SQLiteStore(join(dir, 'sessions.db'), { pruneInterval: false });
      return {
        store,
        async dispose() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'redis (node-redis)',
    port: 6379,
    inProcess: false,
    async open() {
      const { RedisStore } = await import('../src/stores/redis.js');
      const { createClient } = await import('redis');
      const client = createClient({ url: REDIS_URL });
      await client.connect();
      const store = new RedisStore({ client, prefix: `${tag}:` });
      return {
        store,
        async dispose() {
          await store.clear();
          await client.close();
        },
      };
    },
  },
  {
    name: 'postgres',
    port: 5432,
    inProcess: false,
    async open() {
      const { PostgresStore } = await import('../src/stores/postgres.js');
      const store = new PostgresStore(PG_URL, { table: tag, pruneInterval: false });
      return {
        store,
        async dispose() {
          await store.pool.query(`DROP TABLE IF EXISTS "${tag}"`);
          await store.close();
        },
      };
    },
  },
  {
    name: 'mysql (MariaDB)',
    port: 3306,
    inProcess: false,
    async open() {
      const { MySQLStore } = await import('../src/stores/mysql.js');
      const store = new MySQLStore(MYSQL_URL, { table: tag, pruneInterval: false });
      return {
        store,
        async dispose() {
          await store.pool.query(`DROP TABLE IF EXISTS \`${tag}\``);
          await store.close();
        },
      };
    },
  },
];

function record(i: number): SessionRecord {
  const now = Date.now();
  return {
    data: {
      views: i,
      user: { id: `user-${i}`, name: 'Ada Lovelace', roles: ['reader'] },
      csrf: 'c'.repeat(32),
    },
    cookie: {
      originalMaxAge: COOKIE_MAX_AGE,
      expires: new Date(now + COOKIE_MAX_AGE).toISOString(),
      path: '/',
    },
    expiresAt: now + COOKIE_MAX_AGE,
    createdAt: now,
    lastSeenAt: now,
    userId: null,
  };
}

/** Runs `op(i)` for i in [0, n) with `concurrency` in flight; resolves ops per second. */
async function rate(n: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await op(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return n / ((performance.now() - start) / 1000);
}

interface Row {
  store: string;
  ops: number;
  get: number;
  create: number;
  update: number;
  touch: number;
}

async function measure(contender: Contender, ops: number, concurrency: number): Promise<Row> {
  const { store, dispose } = await contender.open();
  try {
    const ids = Array.from({ length: ops }, () => randomBytes(32).toString('base64url'));
    // One call first, so lazy table creation and script loading are not timed.
    await store.get(randomBytes(32).toString('base64url'));
    const create = await rate(ops, concurrency, async (i) => {
      if (!(await store.create(ids[i] as string, record(i)))) throw new Error('create failed');
    });
    const get = await rate(ops, concurrency, async (i) => {
      if (!(await store.get(ids[i] as string))) throw new Error('get missed');
    });
    const update = await rate(ops, concurrency, async (i) => {
      const now = Date.now();
      const ok = await store.update(ids[i] as string, {
        set: { views: i + 1 },
        unset: [],
        expiresAt: now + COOKIE_MAX_AGE,
        lastSeenAt: now,
      });
      if (!ok) throw new Error('update missed');
    });
    const touch = await rate(ops, concurrency, async (i) => {
      const now = Date.now();
      if (!(await store.touch(ids[i] as string, now + COOKIE_MAX_AGE, now))) throw new Error('touch missed');
    });
    return { store: contender.name, ops, get, create, update, touch };
  } finally {
    await dispose();
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const concurrency = Number(value('--concurrency') ?? 16);
  const only = value('--only')?.split(',');
  const rows: Row[] = [];
  const skipped: string[] = [];
  for (const contender of contenders) {
    if (only && !only.some((name) => contender.name.startsWith(name))) continue;
    if (contender.port !== null && !(await reachable(contender.port))) {
      skipped.push(`${contender.name} (nothing on 127.0.0.1:${contender.port})`);
      continue;
    }
    const ops = Number(value('--ops') ?? (contender.inProcess ? 20_000 : 5_000));
    const row = await measure(contender, ops, concurrency);
    rows.push(row);
    console.error(`  ${row.store}: get ${Math.round(row.get)}/s, create ${Math.round(row.create)}/s`);
  }
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const lines = [
    `Measured ${new Date().toISOString()} with \`npm run bench:stores\`: ${concurrency} calls in flight, ` +
      `Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}); servers on 127.0.0.1 share the machine. ` +
      'MongoDB is not measured: no MongoDB server runs here (its tests use an in-process wire stand-in).',
    '',
    '| Store | ops per run | get/s | create/s | update/s | touch/s |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.store} | ${fmt(r.ops)} | ${fmt(r.get)} | ${fmt(r.create)} | ${fmt(r.update)} | ${fmt(r.touch)} |`,
    ),
  ];
  if (skipped.length > 0) lines.push('', `Skipped: ${skipped.join(', ')}.`);
  const markdown = lines.join('\n');
  console.log(markdown);
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'stores-latest.json'),
    JSON.stringify({ date: new Date().toISOString(), rows, skipped }, null, 2),
  );
  writeFileSync(join(dir, 'stores-latest.md'), `${markdown}\n`);
  if (!argv.includes('--no-docs') && !only) updateDocs('stores', markdown);
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
