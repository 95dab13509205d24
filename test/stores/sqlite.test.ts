import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import { createFromUrl, SQLiteStore } from '../../src/stores/sqlite.js';
import { record, runStoreConformance } from './conformance.js';
import { runExpressSessionCompat } from './express-session-compat.js';
import { runScript, sourcePath } from './sql-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'sessionkit-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runStoreConformance<SQLiteStore>({
  name: 'SQLiteStore',
  create: () => new SQLiteStore(join(dir, 'conformance.db')),
  createPeer: () => new SQLiteStore(join(dir, 'conformance.db')),
  async corrupt(store, id) {
    store.db.prepare('UPDATE sessionkit_sessions SET data = ? WHERE id = ?').run('{"trunc', storageKey(id));
  },
});

runExpressSessionCompat('SQLiteStore', () => new SQLiteStore(join(dir, 'compat.db')));

describe('SQLiteStore specifics', () => {
  it('creates the directory of its file, uses WAL, and keys rows by the SHA-256 of the ID', async () => {
    const path = join(dir, 'nested', 'deeper', 'sessions.db');
    const store = new SQLiteStore(path);
    const id = generateId();
    await store.create(id, record());
    expect(existsSync(path)).toBe(true);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    const keys = store.db.prepare('SELECT id FROM sessionkit_sessions').pluck().all();
    expect(keys).toEqual([storageKey(id)]);
    expect(JSON.stringify(store.db.prepare('SELECT * FROM sessionkit_sessions').all())).not.toContain(id);
    await store.close();
  });

  it('uses an open Database it is given and leaves it open on close', async () => {
    const db = new Database(':memory:');
    const store = new SQLiteStore(db, { table: 'my_sessions' });
    const id = generateId();
    await store.create(id, record({ userId: 'u1' }));
    expect((await store.listByUser('u1')).length).toBe(1);
    await store.close();
    expect(db.open).toBe(true);
    expect(db.prepare('SELECT COUNT(*) FROM my_sessions').pluck().get()).toBe(1);
    db.close();
  });

  it('sees writes made by another connection to the same file', async () => {
    const path = join(dir, 'shared.db');
    const a = new SQLiteStore(path);
    const b = new SQLiteStore(path);
    const id = generateId();
    await a.create(id, record({ data: {} }));
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) =>
        a.update(id, {
          set: { [`a${i}`]: i },
          unset: [],
          expiresAt: Date.now() + 60_000,
          lastSeenAt: Date.now(),
        }),
      ),
      ...Array.from({ length: 20 }, (_, i) =>
        b.update(id, {
          set: { [`b${i}`]: i },
          unset: [],
          expiresAt: Date.now() + 60_000,
          lastSeenAt: Date.now(),
        }),
      ),
    ]);
    const data = (await b.get(id))?.data ?? {};
    expect(Object.keys(data).length).toBe(40);
    await a.close();
    await b.close();
  });

  it("waits out another process's lock with the event loop free, and fails with 503 past busyTimeout", async () => {
    // better-sqlite3 waits for a lock synchronously: a wait inside SQLite would block every request.
    const path = join(dir, 'busy.db');
    const store = new SQLiteStore(path, { busyTimeout: 1_000, timeout: 5_000 });
    // The same database with a busyTimeout far past the timer below: a loaded machine that runs the timer
    // late must not have the wait given up first.
    const patient = new SQLiteStore(path, { busyTimeout: 5_000, timeout: 10_000 });
    const id = generateId();
    await store.create(id, record({ data: { n: 0 } }));
    const holder = new Database(path);
    const delta = (n: number) => ({ set: { n }, unset: [], expiresAt: Date.now() + 60_000, lastSeenAt: 1 });
    try {
      // Held, then let go by a timer: the update waits for it (the timer could not fire in a blocked
      // loop) and lands.
      holder.exec('BEGIN IMMEDIATE');
      const waiting = patient.update(id, delta(1));
      setTimeout(() => holder.exec('COMMIT'), 300);
      expect(await waiting).toBe(true);
      expect((await store.get(id))?.data).toEqual({ n: 1 });
      // Held past busyTimeout: the update fails as the store being unavailable, not before busyTimeout,
      // and other work (a timer due long before) runs meanwhile.
      holder.exec('BEGIN IMMEDIATE');
      const order: string[] = [];
      setTimeout(() => order.push('timer'), 50);
      const started = performance.now();
      await expect(
        store.update(id, delta(2)).finally(() => order.push('update settled')),
      ).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 });
      expect(performance.now() - started).toBeGreaterThan(900);
      expect(order).toEqual(['timer', 'update settled']);
      holder.exec('ROLLBACK');
      expect((await store.get(id))?.data).toEqual({ n: 1 });
    } finally {
      holder.close();
      await patient.close();
      await store.close();
    }
  });

  it('under a lock, waiting writes take turns and all land; one answered 503 never lands later', async () => {
    const path = join(dir, 'busy-queue.db');
    // Eight writes in turn after the lock goes, each with its commit to disk, must all fit in the calls'
    // timeout on a machine busy with the rest of the suite: this store waits long.
    const patient = new SQLiteStore(path, { busyTimeout: 5_000, timeout: 5_000 });
    // busyTimeout longer than timeout: the retries must still stop before the call is answered.
    const store = new SQLiteStore(path, { busyTimeout: 5_000, timeout: 400 });
    const ids = Array.from({ length: 8 }, () => generateId());
    for (const id of ids) await store.create(id, record({ data: { n: 0 } }));
    const holder = new Database(path);
    const delta = (n: number) => ({ set: { n }, unset: [], expiresAt: Date.now() + 60_000, lastSeenAt: 1 });
    let release: NodeJS.Timeout | undefined;
    try {
      holder.exec('BEGIN IMMEDIATE');
      const waiting = ids.map((id) => patient.update(id, delta(1)));
      release = setTimeout(() => holder.exec('COMMIT'), 150);
      expect(await Promise.all(waiting)).toEqual(ids.map(() => true));
      for (const id of ids) expect((await store.get(id))?.data).toEqual({ n: 1 });
      // Held past the call's timeout: it is answered 503, and once the lock goes, nothing lands.
      holder.exec('BEGIN IMMEDIATE');
      await expect(store.update(ids[0] as string, delta(2))).rejects.toMatchObject({ status: 503 });
      holder.exec('COMMIT');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await store.get(ids[0] as string))?.data).toEqual({ n: 1 });
      // A call waiting for the lock when the store closes fails as a closed store, not a 500.
      holder.exec('BEGIN IMMEDIATE');
      const closing = store.update(ids[1] as string, delta(3));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await store.close();
      await expect(closing).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 });
      holder.exec('ROLLBACK');
    } finally {
      clearTimeout(release);
      holder.close();
      await store.close();
      await patient.close();
    }
  });

  it('a call after close() fails as unavailable (503), saying the store was closed', async () => {
    const store = new SQLiteStore(join(dir, 'closed.db'));
    const id = generateId();
    const inFlight = store.create(id, record());
    await store.close();
    await inFlight.catch(() => undefined);
    for (const call of [
      () => store.get(id),
      () => store.create(generateId(), record()),
      () => store.length(),
    ])
      await expect(call()).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
        status: 503,
        message: expect.stringContaining('closed'),
      });
  });

  it('refuses a target that is neither a path nor a Database, naming the option', () => {
    expect(() => new SQLiteStore({ path: './x.db' } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'target' }),
    );
  });

  it('refuses a table name that is not a plain SQL name', () => {
    expect(() => new SQLiteStore(':memory:', { table: 'x; DROP TABLE y' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });

  it('prunes on its own timer', async () => {
    const store = new SQLiteStore(':memory:', { pruneInterval: 40 });
    for (let i = 0; i < 5; i++) await store.create(generateId(), record({ expiresAt: Date.now() + 20 }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(store.db.prepare('SELECT COUNT(*) FROM sessionkit_sessions').pluck().get()).toBe(0);
    await store.close();
  });

  it('createFromUrl understands sqlite:relative, sqlite:///absolute and sqlite::memory:', async () => {
    const memory = await createFromUrl(new URL('sqlite::memory:?table=mem_sessions'));
    expect(memory.db.memory).toBe(true);
    await memory.create(generateId(), record());
    expect(await memory.length()).toBe(1);
    await memory.close();
    const absolute = await createFromUrl(new URL(`sqlite://${join(dir, 'abs.db')}`));
    expect(absolute.db.name).toBe(join(dir, 'abs.db'));
    await absolute.close();
    const relative = await createFromUrl(new URL(`sqlite:${join(dir, 'rel.db').slice(1)}`));
    expect(relative.db.name).toBe(join(dir, 'rel.db').slice(1));
    await relative.close();
    await expect(createFromUrl(new URL('sqlite://remote-host/x.db'))).rejects.toMatchObject({
      code: 'ERR_STORE_URL',
    });
  });

  it('close() lets the process exit by itself', async () => {
    const script = `
      const { SQLiteStore } = await import(${JSON.stringify(sourcePath('stores/sqlite.ts'))});
      const store = new SQLiteStore(${JSON.stringify(join(dir, 'exit.db'))});
      await store.create('a'.repeat(43), { data: { a: 1 }, cookie: { originalMaxAge: null }, expiresAt: Date.now() + 60000, createdAt: Date.now(), lastSeenAt: Date.now(), userId: null });
      await store.close();
    `;
    const code = await runScript(script);
    expect(code).toBe(0);
  });
});
