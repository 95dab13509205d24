import { afterAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import type { SessionRecord } from '../../src/core/types.js';
import { type AnyStore, createStore } from '../../src/stores/factory.js';
import { runNamespace } from '../support/services.js';
import { json, runCli } from './harness.js';

/**
 * Why: operators run the CLI against the production store while the app serves. A `revoke-user` that
 * races logins must leave no session that loads unlisted, its counts must add up, and a store that is
 * down must fail fast with its exit code, never printing the URL's password.
 */

const PG = `postgres://postgres@127.0.0.1:5432/test?table=${runNamespace('cli_live')}`;
const opened: AnyStore[] = [];
afterAll(async () => {
  for (const s of opened) await s.close?.();
  const pg = (await import('pg')).default;
  const client = new pg.Client('postgres://postgres@127.0.0.1:5432/test');
  await client.connect();
  const table = new URL(PG).searchParams.get('table');
  await client.query(`DROP TABLE IF EXISTS ${table}, ${table}_epochs`);
  await client.end();
});

function bound(userId: string): SessionRecord {
  const now = Date.now();
  return {
    data: { n: 1 },
    cookie: { originalMaxAge: 86_400_000 },
    expiresAt: now + 86_400_000,
    createdAt: now,
    lastSeenAt: now,
    userId,
  };
}

describe('held', () => {
  it('revoke-user racing logins (PostgreSQL): no session loads unlisted; a second revoke leaves none; counts add up', async () => {
    const app = await createStore(PG);
    opened.push(app);
    const outcomes = new Set<string>();
    for (let trial = 0; trial < 12; trial++) {
      const user = `u${trial}`;
      const before = Array.from({ length: 3 }, () => generateId());
      for (const id of before) await app.create(id, bound(user));
      const racing = Array.from({ length: 8 }, () => generateId());
      const logins = racing.map((id, i) =>
        new Promise((r) => setTimeout(r, i * 8 + Math.random() * 8)).then(() => app.create(id, bound(user))),
      );
      const [out] = await Promise.all([runCli(['revoke-user', user, '--json', '--store', PG]), ...logins]);
      const { revoked } = json<{ revoked: number }>(out);
      const listed = new Set((await app.listByUser?.(user))?.map((s) => s.handle));
      let alive = 0;
      for (const id of [...before, ...racing]) {
        const got = await app.get(id);
        if (got) {
          alive++;
          expect(listed.has(storageKey(id))).toBe(true);
        }
      }
      for (const id of before) expect(await app.get(id)).toBeNull();
      outcomes.add(alive > 0 && alive < racing.length ? 'split' : String(alive));
      // Not equality: a login that read the old epoch and landed after the delete is dead on arrival,
      // ended by this revoke but not in its count (seen about 1 trial in 12 on PostgreSQL).
      expect(revoked).toBeGreaterThanOrEqual(before.length);
      expect(revoked + alive).toBeLessThanOrEqual(before.length + racing.length);
      const again = json<{ revoked: number }>(await runCli(['revoke-user', user, '--json', '--store', PG]));
      expect(again.revoked).toBe(alive);
      for (const id of [...before, ...racing]) expect(await app.get(id)).toBeNull();
    }
    // The logins really straddled the revoke: some landed before it, some after.
    expect(outcomes.has('split')).toBe(true);
  }, 20_000);

  it('a down store exits 3 quickly and never prints the password (raw or percent-encoded)', async () => {
    for (const url of [
      'postgres://app:s3cr%40tPW@127.0.0.1:1/app',
      'mysql://app:s3cr%40tPW@127.0.0.1:1/app',
      'redis://app:s3cr%40tPW@127.0.0.1:1',
      'postgres://app@127.0.0.1:1/app?password=s3cr%40tPW',
    ]) {
      for (const extra of [[], ['--json']]) {
        const started = Date.now();
        const r = await runCli(['stats', '--timeout', '1000', '--store', url, ...extra]);
        expect(r.code, url).toBe(3);
        expect(Date.now() - started).toBeLessThan(3_000);
        expect(r.stdout + r.stderr).not.toMatch(/s3cr/);
      }
    }
  }, 30_000);

  it('hostile table names and prefixes are refused as a bad URL (exit 4), touching nothing', async () => {
    for (const url of [
      'postgres://postgres@127.0.0.1:5432/test?table=x;drop%20table%20y',
      'postgres://postgres@127.0.0.1:5432/test?table=a%22b',
      'mysql://root@127.0.0.1:3306/test?table=a%60b',
      'redis://127.0.0.1:6379?prefix=a%7Bb',
    ]) {
      const r = await runCli(['list', '--store', url]);
      expect(r.code, `${url}: ${r.stderr}`).toBe(4);
    }
  });
});
