/**
 * Why: what a user depends on: "log out everywhere" (`store.destroyByUser`) and logout (`destroy`) work as soon
 * as the database is reachable, and "a store that is down gives 503" means the store is down, not that
 * a single session is wedged for hours. README "Log out everywhere", docs/reliability.md "Faults under
 * traffic" (recovery after the fault ends within milliseconds).
 *
 * The attack: app server A is lost (host crash, or a partition that outlives its TCP retransmissions)
 * in the middle of a session write, after its `SELECT … FOR UPDATE` took the row lock and before its
 * rewrite and COMMIT reached the database. The database keeps that backend idle *in transaction*,
 * holding the row lock, until TCP keepalive notices (7200 s by default). Without a server-side bound
 * (PostgreSQL's `idle_in_transaction_session_timeout` and `lock_timeout`, MariaDB's
 * `idle_transaction_timeout` and `innodb_lock_wait_timeout`, each the store's timeout), app server B, on
 * a healthy link, could then neither log the user out, nor revoke their sessions, nor log them in: every
 * such call waited on the lost transaction's lock and failed with 503, for as long as it lived. The other
 * fault tests' proxies close the server side when the client gives up (a FIN the database receives),
 * which a lost host never sends. PostgreSQL's bound is set per transaction, so it holds on a Pool the
 * application passes too (the third target).
 */

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import type { SessionRecord } from '../../src/core/types.js';
import { createStore } from '../../src/stores/factory.js';
import { PostgresStore } from '../../src/stores/postgres.js';
import type { SqlStore } from '../../src/stores/sql.js';
import { MYSQL_URL, mysqlExec, POSTGRES_URL, pgExec } from '../support/interleave.js';
import { LossProxy } from '../support/loss-proxy.js';
import { runNamespace, serviceSkipReason, urlVia } from '../support/services.js';

const TIMEOUT = 800;

function record(userId: string): SessionRecord {
  const now = Date.now();
  return {
    data: { n: 1 },
    cookie: {
      originalMaxAge: 600_000,
      expires: new Date(now + 600_000).toISOString(),
      httpOnly: true,
      path: '/',
    },
    expiresAt: now + 600_000,
    createdAt: now,
    lastSeenAt: now,
    userId,
  };
}

async function tryFor<T>(ms: number, call: () => Promise<T>): Promise<{ ok: boolean; errors: string[] }> {
  const until = Date.now() + ms;
  const errors: string[] = [];
  while (Date.now() < until) {
    try {
      await call();
      return { ok: true, errors };
    } catch (error) {
      errors.push(String((error as { code?: string }).code ?? error));
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { ok: false, errors };
}

const pgSkip = await serviceSkipReason('PostgreSQL', () => pgExec(POSTGRES_URL, 'SELECT 1'));
const targets = [
  {
    name: 'postgres',
    url: POSTGRES_URL,
    pool: false,
    skip: pgSkip,
    drop: (t: string) => pgExec(POSTGRES_URL, `DROP TABLE IF EXISTS "${t}", "${t}_epochs"`),
  },
  {
    name: 'postgres (an application pool)',
    url: POSTGRES_URL,
    pool: true,
    skip: pgSkip,
    drop: (t: string) => pgExec(POSTGRES_URL, `DROP TABLE IF EXISTS "${t}", "${t}_epochs"`),
  },
  {
    name: 'mysql',
    url: MYSQL_URL,
    pool: false,
    skip: await serviceSkipReason('MariaDB', () => mysqlExec(MYSQL_URL, 'SELECT 1')),
    drop: (t: string) => mysqlExec(MYSQL_URL, `DROP TABLE IF EXISTS \`${t}\`, \`${t}_epochs\``),
  },
];

for (const target of targets) {
  describe.skipIf(target.skip)(`${target.name}: an app server lost mid-write`, () => {
    const table = runNamespace('lost_app');
    let proxy: LossProxy;
    let a: SqlStore;
    let b: SqlStore;

    beforeAll(async () => {
      const url = new URL(target.url);
      proxy = new LossProxy(url.hostname, Number(url.port));
      await proxy.start();
      const q = `table=${table}&timeout=${TIMEOUT}&pruneInterval=false`;
      b = (await createStore(`${target.url}?${q}`)) as SqlStore;
      const via = urlVia(target.url, '127.0.0.1', proxy.port);
      a = target.pool
        ? new PostgresStore(new pg.Pool({ connectionString: via }), {
            table,
            timeout: TIMEOUT,
            pruneInterval: false,
          })
        : ((await createStore(`${via}?${q}`)) as SqlStore);
      await b.length();
      await a.length();
    });

    afterAll(async () => {
      await a?.close();
      if (target.pool) await (a as PostgresStore | undefined)?.pool.end();
      await b?.close();
      await proxy?.stop();
      await target.drop(table);
    });

    it('leaves no lock behind that stops logout and "log out everywhere" on another app server', async () => {
      const id = generateId();
      const userId = `u-${generateId().slice(0, 8)}`;
      expect(await b.create(id, record(userId))).toBe(true);

      const marker = `LOST-${generateId().slice(0, 12)}`;
      const lost = proxy.loseOn(marker);
      const now = Date.now();
      const write = a
        .update(id, { set: { note: marker }, unset: [], expiresAt: now + 600_000, lastSeenAt: now })
        .then(
          () => 'ok',
          (error) => String((error as { code?: string }).code ?? error),
        );
      await lost;
      // A answers 503, as documented, and goes on.
      expect(await write).toBe('ERR_STORE_UNAVAILABLE');

      // The network is fine; the database is up. B revokes the user's sessions ("log out everywhere").
      const revoke = await tryFor(8 * TIMEOUT, () => b.destroyByUser(userId));
      const logout = await tryFor(4 * TIMEOUT, () => b.destroy(id));
      if (target.name.startsWith('postgres')) {
        // A call that timed out on the client is not cancelled on the server: without a lock timeout there,
        // each of B's retries left a backend waiting on the lost transaction's lock, toward max_connections.
        const probe = new pg.Client({ connectionString: POSTGRES_URL });
        await probe.connect();
        const { rows } = await probe.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
          [`%${table}%`],
        );
        await probe.end();
        expect(rows[0]?.n).toBe(0);
      }
      expect({
        revoke: revoke.ok,
        logout: logout.ok,
        errors: [...revoke.errors, ...logout.errors].slice(0, 3),
      }).toEqual({
        revoke: true,
        logout: true,
        errors: [],
      });
      expect(await b.get(id)).toBeNull();
    }, 30_000);
    it('leaves no lock behind that stops every login and revoke of the user after a lost login', async () => {
      const userId = `u-${generateId().slice(0, 8)}`;
      const first = generateId();
      // A logs the user in under maxSessionsPerUser: the transaction locks the user's epoch row first,
      // and A is lost right after (its next statement names the new session's handle).
      const lost = proxy.loseOn(storageKey(first));
      const login = a.createWithinLimit(first, record(userId), { max: 3, onLimit: 'refuse' }).then(
        () => 'ok',
        (error) => String((error as { code?: string }).code ?? error),
      );
      await lost;
      expect(await login).toBe('ERR_STORE_UNAVAILABLE');

      // The same user signs in on their phone through B, and then asks B to log out everywhere.
      const phone = await tryFor(8 * TIMEOUT, () =>
        b.createWithinLimit(generateId(), record(userId), { max: 3, onLimit: 'refuse' }),
      );
      const revoke = await tryFor(4 * TIMEOUT, () => b.destroyByUser(userId));
      expect({
        login: phone.ok,
        revoke: revoke.ok,
        errors: [...phone.errors, ...revoke.errors].slice(0, 3),
      }).toEqual({
        login: true,
        revoke: true,
        errors: [],
      });
    }, 30_000);
  });
}
