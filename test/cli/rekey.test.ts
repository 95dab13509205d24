import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealedWith } from '../../src/core/encryption.js';
import { generateId, storageKey } from '../../src/core/id.js';
import type { SessionRecord } from '../../src/core/types.js';
import type { DataSwap, SessionStore } from '../../src/stores/contract.js';
import { encryptStore } from '../../src/stores/encrypted.js';
import { type AnyStore, createStore } from '../../src/stores/factory.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { rekeyStore, resealPlan } from '../../src/stores/rekey.js';
import { withLeads } from '../support/leads.js';
import { announce, mongoTarget } from '../support/mongo/target.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';
import { cliPath, json, runCli } from './harness.js';

const key = () => randomBytes(32).toString('base64');
const OLD = { id: 'k2024', key: key() };
const NEW = { id: 'k2025', key: key() };
const STRAY = { id: 'k2023', key: key() };

const dir = mkdtempSync(join(tmpdir(), 'sessionkit-rekey-'));
const keysFile = join(dir, 'keys.json');
writeFileSync(keysFile, JSON.stringify([NEW, OLD]));

interface RekeyOutput {
  resealed: number;
  current: number;
  failed: number;
  raced: number;
  seen: number;
  failedHandles: string[];
  complete: boolean;
  cursor: string | null;
  elapsedMs: number;
}

function record(data: Record<string, unknown>, userId: string | null = null): SessionRecord {
  const now = Date.now();
  return {
    data,
    cookie: { originalMaxAge: 86_400_000 },
    expiresAt: now + 86_400_000,
    createdAt: now,
    lastSeenAt: now,
    userId,
  };
}

/** Every stored value of every record, as the store holds it (sealed text). */
async function rawValues(store: SessionStore): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  let cursor: string | null = null;
  do {
    const page = await (store.list as NonNullable<SessionStore['list']>)({ cursor, limit: 500 });
    for (const s of page.sessions) out.set(s.handle, s.data);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

async function seedOld(store: SessionStore, n: number): Promise<Map<string, Record<string, unknown>>> {
  const app = encryptStore(store, { keys: [OLD] });
  const seeded = new Map<string, Record<string, unknown>>();
  for (let i = 0; i < n; i++) {
    const id = generateId();
    const data = { views: i, cart: ['apple', { n: i }], note: `n\u00e9 ${i}` };
    await app.create(id, record(data, i % 3 === 0 ? `user-${i}` : null));
    seeded.set(id, data);
  }
  return seeded;
}

const TRIALS = 25;

/**
 * The app (through the encryption layer) and the rekey tool (under it, on its own store instance, as in
 * production) write the same records at once; the app's write must always win.
 */
async function concurrentWritesSurvive(appStore: SessionStore, toolStore = appStore): Promise<void> {
  const app = encryptStore(appStore, { keys: [NEW, OLD] });
  const old = encryptStore(appStore, { keys: [OLD] });
  const ring = app.keyring;
  const later = () => ({ expiresAt: Date.now() + 86_400_000, lastSeenAt: Date.now() });
  for (let trial = 0; trial < TRIALS; trial++) {
    const id = generateId();
    await old.create(id, record({ a: 'old-a', b: 'old-b', c: 'old-c' }));
    const write = app.update(id, { set: { a: `app-${trial}` }, unset: ['b'], ...later() });
    const tool = rekeyStore(toolStore, ring);
    await Promise.all([write, tool]);
    expect((await app.get(id))?.data).toEqual({ a: `app-${trial}`, c: 'old-c' });
    const raw = (await rawValues(appStore)).get(storageKey(id)) ?? {};
    expect(sealedWith(raw.c)).toBe(NEW.id);
    await appStore.destroy(id);
  }
  // The app's write landing between the tool's read and its re-seal, every time:
  const id = generateId();
  const handle = storageKey(id);
  await old.create(id, record({ a: 'old-a', b: 'old-b', c: 'old-c' }));
  const data = (await rawValues(toolStore)).get(handle) as Record<string, unknown>;
  const plan = resealPlan(ring, { handle, data, userId: null, createdAt: 0, lastSeenAt: 0, expiresAt: 0 });
  expect(plan).toHaveLength(3);
  await app.update(id, { set: { a: 'app-late' }, unset: ['b'], ...later() });
  const reseal = toolStore.resealByHandle as NonNullable<SessionStore['resealByHandle']>;
  expect(await reseal.call(toolStore, handle, plan as DataSwap[])).toBe(1);
  expect((await app.get(id))?.data).toEqual({ a: 'app-late', c: 'old-c' });
  await appStore.destroy(id);
  // A record destroyed meanwhile stays destroyed.
  expect(await reseal.call(toolStore, handle, plan as DataSwap[])).toBe(0);
  expect(await app.get(id)).toBeNull();
}

interface Suite {
  name: string;
  skip: string | false;
  url: string;
  open(): Promise<AnyStore>;
  /** The listing's order is stable (SQL, MongoDB: by handle), so a resumed run sees exactly the rest. */
  ordered: boolean;
  cleanup(): Promise<void>;
}

function rekeySuite(suite: Suite): void {
  // The stores run side by side (each with its own store, URL and state files); within a store the tests
  // run in order, as they share its records.
  describe.skipIf(suite.skip)(`sessionkit rekey on ${suite.name}`, { concurrent: true }, () => {
    let store: AnyStore;
    const cli = (...args: string[]) => runCli([...args, '--store', suite.url]);

    beforeAll(async () => {
      store = await suite.open();
    });
    afterAll(async () => {
      await store?.clear?.();
      await store?.close?.();
      await suite.cleanup();
    });

    it.sequential('re-seals every record under an older key with the newest; the app opens them without the old key', async () => {
      await store.clear?.();
      const seeded = await seedOld(store, 23);
      // Two already under the newest key.
      const current = encryptStore(store, { keys: [NEW, OLD] });
      for (let i = 0; i < 2; i++) await current.create(generateId(), record({ fresh: i }));

      const result = await cli('rekey', '--keys-file', keysFile, '--batch', '5', '--json');
      expect(result.code, result.stderr).toBe(0);
      const out = json<RekeyOutput>(result);
      expect(out).toMatchObject({ resealed: 23, failed: 0, raced: 0, complete: true, cursor: null });
      // SCAN may hand a record over twice; a record seen again is already current.
      if (suite.ordered) expect(out.current).toBe(2);
      else expect(out.current).toBeGreaterThanOrEqual(2);

      for (const data of (await rawValues(store)).values())
        for (const value of Object.values(data)) expect(sealedWith(value)).toBe(NEW.id);
      // The old key is gone from the app's ring: only a re-sealed record opens.
      const app = encryptStore(store, { keys: [NEW] });
      for (const [id, data] of seeded) expect((await app.get(id))?.data).toEqual(data);

      const again = json<RekeyOutput>(await cli('rekey', '--keys-file', keysFile, '--json'));
      expect(again.resealed).toBe(0);
      const human = await cli('rekey', '--keys-file', keysFile);
      expect(human.stdout).toMatch(/resealed: +0\nalready current: +\d+\nfailed: +0\nelapsed: +[\d.]+ s\n$/);
    });

    it.sequential('reports a record that does not open by handle, skips it, and exits 7', async () => {
      await store.clear?.();
      await seedOld(store, 4);
      const strayId = generateId();
      await encryptStore(store, { keys: [STRAY] }).create(strayId, record({ views: 1 }));
      const alteredId = generateId();
      await encryptStore(store, { keys: [OLD] }).create(alteredId, record({ views: 2, secret: 'x' }));
      // Another record's ciphertext pasted into this one: it opens under no binding.
      const donor = generateId();
      const old = encryptStore(store, { keys: [OLD] });
      await old.create(donor, record({ views: 3 }));
      const raw = await rawValues(store);
      const donorViews = raw.get(storageKey(donor))?.views as string;
      await store.update(alteredId, {
        set: { views: donorViews },
        unset: [],
        expiresAt: Date.now() + 86_400_000,
        lastSeenAt: Date.now(),
      });
      const before = await rawValues(store);

      const result = await cli('rekey', '--keys-file', keysFile, '--json');
      expect(result.code).toBe(7);
      expect(result.stderr).toMatch(/^sessionkit: 2 records did not open with these keys/);
      const out = json<RekeyOutput>(result);
      expect(out.failed).toBe(2);
      expect(out.failedHandles.sort()).toEqual([storageKey(strayId), storageKey(alteredId)].sort());
      expect(out.resealed).toBe(5);
      expect(result.stdout).not.toContain(strayId);
      expect(result.stdout).not.toContain(alteredId);
      // Left exactly as they were.
      const after = await rawValues(store);
      expect(after.get(storageKey(strayId))).toEqual(before.get(storageKey(strayId)));
      expect(after.get(storageKey(alteredId))).toEqual(before.get(storageKey(alteredId)));
    });

    it.runIf(suite.ordered).sequential(
      'resumes after being killed mid-run, without redoing the pages done',
      async () => {
        // The pause between pages leaves the test the time to kill the run midway; a test process starved
        // for longer than the rest of the run finds it finished, and tries again with longer pauses.
        await withLeads(
          [150, 600, 2_400],
          async (pause) => {
            await store.clear?.();
            const seeded = await seedOld(store, 40);
            const state = join(dir, `state-${runNamespace('r')}.json`);
            const args = ['rekey', '--keys-file', keysFile, '--batch', '4', '--state', state];
            const child: ChildProcess = spawn(
              process.execPath,
              [await cliPath(), ...args, '--pause', String(pause), '--store', suite.url],
              {
                stdio: 'ignore',
              },
            );
            const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
            // Killed (no chance to save anything) once a few pages are recorded.
            const deadline = Date.now() + 20_000;
            while (Date.now() < deadline) {
              const saved = existsSync(state) ? JSON.parse(readFileSync(state, 'utf8')) : null;
              if (saved && saved.resealed >= 12) break;
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
            child.kill('SIGKILL');
            // It ended on its own before the kill came: no run was cut midway.
            if ((await exited) === 0) return false;
            const saved = JSON.parse(readFileSync(state, 'utf8'));
            expect(saved.complete).toBe(false);
            const done = saved.resealed + saved.current;
            expect(done).toBeGreaterThanOrEqual(12);
            expect(done).toBeLessThan(40);

            const resumed = await cli(...args, '--resume', '--json');
            expect(resumed.code, resumed.stderr).toBe(0);
            const out = json<RekeyOutput>(resumed);
            // Only what came after the saved cursor was looked at.
            expect(out.seen).toBe(40 - done);
            expect(out.resealed + out.current).toBe(40);
            expect(out.complete).toBe(true);
            const app = encryptStore(store, { keys: [NEW] });
            for (const [id, data] of seeded) expect((await app.get(id))?.data).toEqual(data);

            // A finished state file resumes to nothing.
            const finished = json<RekeyOutput>(
              await cli('rekey', '--keys-file', keysFile, '--state', state, '--resume', '--json'),
            );
            expect(finished).toMatchObject({ seen: 0, complete: true });
            return true;
          },
          'killing the run midway',
        );
      },
      60_000,
    );

    // Redis pages by SCAN, whose page is at least the store's scanCount: these records make one page.
    it.runIf(suite.ordered).sequential(
      'stops cleanly on SIGTERM, saving where it got to (exit 8)',
      async () => {
        // As above: a run that finished before the signal came is tried again with longer pauses.
        await withLeads(
          [200, 800, 3_200],
          async (pause) => {
            await store.clear?.();
            await seedOld(store, 30);
            const state = join(dir, `state-${runNamespace('t')}.json`);
            const child = spawn(
              process.execPath,
              [
                await cliPath(),
                'rekey',
                '--keys-file',
                keysFile,
                '--batch',
                '3',
                '--pause',
                String(pause),
                '--state',
                state,
                '--json',
                '--store',
                suite.url,
              ],
              { stdio: ['ignore', 'pipe', 'pipe'] },
            );
            let stdout = '';
            child.stdout.on('data', (chunk) => {
              stdout += chunk;
            });
            const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
            const deadline = Date.now() + 20_000;
            while (!existsSync(state) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
            child.kill('SIGTERM');
            const code = await exited;
            if (code === 0) return false;
            expect(code).toBe(8);
            const out = JSON.parse(stdout) as RekeyOutput;
            expect(out.complete).toBe(false);
            expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({
              cursor: out.cursor,
              resealed: out.resealed,
              complete: false,
            });
            return true;
          },
          'signalling the run midway',
        );
      },
      30_000,
    );

    it.sequential('a concurrent application write survives: a compare-and-set per value', async () => {
      await store.clear?.();
      const tool = await suite.open();
      try {
        await concurrentWritesSurvive(store, tool);
      } finally {
        await tool.close?.();
      }
    }, 60_000);

    it.sequential('no keys, a bad key file, or keys that do not open the records: a clear error and exit 7', async () => {
      await store.clear?.();
      await seedOld(store, 3);
      const none = await cli('rekey');
      expect(none.code).toBe(7);
      expect(none.stderr).toBe(
        'sessionkit: no keys: pass --keys-file <path> or set SESSION_ENCRYPTION_KEYS\n',
      );

      const short = join(dir, 'short.json');
      const shortKey = randomBytes(16).toString('base64');
      writeFileSync(short, JSON.stringify([{ id: 'k1', key: shortKey }]));
      const bad = await cli('rekey', '--keys-file', short, '--json');
      expect(bad.code).toBe(7);
      expect(json<{ error: { code: string; message: string } }>(bad).error).toMatchObject({
        code: 'ERR_KEYS',
        message: expect.stringContaining('keys[0].key'),
      });
      expect(bad.stdout).not.toContain(shortKey);

      const missing = await cli('rekey', '--keys-file', join(dir, 'nope.json'));
      expect(missing.code).toBe(7);
      expect(missing.stderr).toMatch(/cannot read --keys-file .*ENOENT/);

      // The old key left out of the ring: nothing opens, nothing is touched.
      const onlyNew = join(dir, 'only-new.json');
      writeFileSync(onlyNew, JSON.stringify([NEW]));
      const before = await rawValues(store);
      const wrong = await runCli(['rekey', '--json', '--store', suite.url], {
        SESSION_ENCRYPTION_KEYS: readFileSync(onlyNew, 'utf8'),
      });
      expect(wrong.code).toBe(7);
      expect(json<RekeyOutput>(wrong)).toMatchObject({ resealed: 0, failed: 3 });
      expect(await rawValues(store)).toEqual(before);
    });
  });
}

// ---- stores

const sqliteUrl = `sqlite:${join(dir, 'sessions.db')}`;
rekeySuite({
  name: 'SQLite',
  skip: false,
  url: sqliteUrl,
  open: () => createStore(sqliteUrl),
  ordered: true,
  cleanup: async () => undefined,
});

const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgTable = runNamespace('sk_rekey');
const pgUrl = new URL(POSTGRES_URL);
pgUrl.searchParams.set('table', pgTable);
const pgAdmin = new pg.Pool({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000, max: 1 });
pgAdmin.on('error', () => undefined);
rekeySuite({
  name: 'PostgreSQL',
  skip: await serviceSkipReason('PostgreSQL', () => pgAdmin.query('SELECT 1')),
  url: pgUrl.href,
  open: () => createStore(pgUrl.href),
  ordered: true,
  cleanup: async () => {
    await pgAdmin.query(`DROP TABLE IF EXISTS ${pgTable}, ${pgTable}_epochs`).catch(() => undefined);
    await pgAdmin.end();
  },
});

const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const myTable = runNamespace('sk_rekey');
const myUrl = new URL(MYSQL_URL);
myUrl.searchParams.set('table', myTable);
const myAdmin = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 1, connectTimeout: 3_000 });
rekeySuite({
  name: 'MySQL',
  skip: await serviceSkipReason('MySQL', () => myAdmin.query('SELECT 1')),
  url: myUrl.href,
  open: () => createStore(myUrl.href),
  ordered: true,
  cleanup: async () => {
    await myAdmin.query(`DROP TABLE IF EXISTS \`${myTable}\`, \`${myTable}_epochs\``).catch(() => undefined);
    await myAdmin.end();
  },
});

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisUrl = new URL(REDIS_URL);
redisUrl.searchParams.set('prefix', `${runNamespace('skrekey')}:`);
const redisAdmin = createClient({
  url: REDIS_URL,
  socket: { connectTimeout: 3_000, reconnectStrategy: false },
});
redisAdmin.on('error', () => undefined);
rekeySuite({
  name: 'Redis',
  skip: await serviceSkipReason('Redis', () => redisAdmin.connect()),
  url: redisUrl.href,
  open: () => createStore(redisUrl.href),
  ordered: false,
  cleanup: async () => {
    if (redisAdmin.isOpen) await redisAdmin.quit();
  },
});

const mongo = await mongoTarget();
announce(mongo, 'cli/rekey.test.ts');
const mongoUrl = new URL(mongo.url);
mongoUrl.pathname = `/${runNamespace('sessionkit_rekey')}`;
rekeySuite({
  name: `MongoDB (${mongo.label})`,
  skip: false,
  url: mongoUrl.href,
  open: () => createStore(mongoUrl.href),
  ordered: true,
  cleanup: () => mongo.close(),
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// ---- on the in-process store, through the library (the CLI opens stores by URL)

describe('rekeyStore on the MemoryStore', () => {
  it('a concurrent application write survives', () => concurrentWritesSurvive(new MemoryStore()));
});
