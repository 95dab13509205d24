import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { generateId } from '../../src/core/id.js';
import { createStore } from '../../src/stores/factory.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';
import { TcpProxy } from '../../src/testing/proxy.js';
import { MYSQL_URL, mysqlExec, POSTGRES_URL, pgExec } from '../support/interleave.js';
import { runNamespace, serviceSkipReason, urlVia } from '../support/services.js';
import { record } from './conformance.js';

/**
 * Why: the wall clock can step (an NTP correction, a VM resumed, an operator's `date`), forward or back,
 * in the middle of a store call. How long a call has waited is a duration, so a step must change
 * nothing: a step forward must not time out a call that is on time, and a step back must not keep a
 * call retrying after it was answered 503, to land later. Session expiry, which is a date, is not what
 * these tests move.
 */

const HOUR = 3_600_000;
const realNow = Date.now.bind(Date);

/** From now on, `Date.now()` reads `offset` ms away from the real time. */
function stepClock(offset: number): void {
  vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
}

afterEach(() => {
  vi.restoreAllMocks();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SQLite: a wall clock stepped back while a write waits for another process’s lock', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-clock-step-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('still fails at busyTimeout, and the write answered 503 does not land once the lock goes', async () => {
    const path = join(dir, 'busy.db');
    const store = new SQLiteStore(path, { busyTimeout: 500, timeout: 5_000 });
    const id = generateId();
    await store.create(id, record({ data: { n: 0 } }));
    const holder = new Database(path);
    try {
      holder.exec('BEGIN IMMEDIATE');
      const started = performance.now();
      const update = store.update(id, {
        set: { n: 1 },
        unset: [],
        expiresAt: realNow() + 60_000,
        lastSeenAt: 1,
      });
      const settled = update.then(
        () => 'stored',
        (error: { status?: number }) => `failed ${error.status}`,
      );
      await sleep(100);
      stepClock(-HOUR);
      expect(await settled).toBe('failed 503');
      // Answered at busyTimeout, not at the call's timeout.
      expect(performance.now() - started).toBeLessThan(3_000);
      holder.exec('ROLLBACK');
      await sleep(200);
      expect((await store.get(id))?.data).toEqual({ n: 0 });
    } finally {
      holder.close();
      await store.close();
    }
  });
});

interface Server {
  name: string;
  url: string;
  skip: () => Promise<string | false>;
  drop: (table: string) => Promise<void>;
}

const servers: Server[] = [
  {
    name: 'PostgreSQL',
    url: POSTGRES_URL,
    skip: () => serviceSkipReason('PostgreSQL', () => pgExec(POSTGRES_URL, 'SELECT 1')),
    drop: (table) => pgExec(POSTGRES_URL, `DROP TABLE IF EXISTS ${table}, ${table}_epochs`),
  },
  {
    name: 'MariaDB',
    url: MYSQL_URL,
    skip: () => serviceSkipReason('MariaDB', () => mysqlExec(MYSQL_URL, 'SELECT 1')),
    drop: (table) => mysqlExec(MYSQL_URL, `DROP TABLE IF EXISTS \`${table}\`, \`${table}_epochs\``),
  },
];

for (const server of servers) {
  const skip = await server.skip();
  describe.skipIf(skip)(
    `${server.name}: a wall clock stepped forward while a call waits for a connection`,
    () => {
      it('does not time the call out: it is answered as if the clock had not moved', async () => {
        const upstream = new URL(server.url);
        const proxy = new TcpProxy(upstream.hostname, Number(upstream.port));
        await proxy.start();
        const table = runNamespace('clock_step');
        const url = new URL(urlVia(server.url, '127.0.0.1', proxy.port));
        url.searchParams.set('table', table);
        url.searchParams.set('timeout', '5000');
        url.searchParams.set('pruneInterval', 'false');
        const store = await createStore(url.href);
        try {
          // Every connection is slow to open: the step comes while the first call waits for one.
          proxy.delayMs = 150;
          const id = generateId();
          const created = store.create(id, record({ data: { n: 1 } }));
          await sleep(50);
          stepClock(HOUR);
          await created;
          vi.restoreAllMocks();
          expect((await store.get(id))?.data).toEqual({ n: 1 });
        } finally {
          vi.restoreAllMocks();
          await store.close?.();
          await proxy.stop();
          await server.drop(table);
        }
      });
    },
  );
}
