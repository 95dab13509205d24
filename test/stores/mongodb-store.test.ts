import ConnectMongo from 'connect-mongo';
import type expressSession from 'express-session';
import { type CommandStartedEvent, type Document, MongoClient } from 'mongodb';
import request from 'supertest';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import { createFromUrl, escapeKey, MongoStore, unescapeKey } from '../../src/stores/mongodb.js';
import { announce, mongoTarget } from '../support/mongo/target.js';
import { runNamespace } from '../support/services.js';
import { record } from './conformance.js';
import { expressSessionApp, expressSessionId } from './express-session-compat.js';

// MongoStore beyond the shared suite: its document layout, write shape, indexes, options and the
// connect-mongo migration. Same target rule: MONGODB_URL when set, else the in-process stand-in.
const target = await mongoTarget();
announce(target, 'mongodb-store.test.ts');
const dbName = runNamespace('sessionkit');
const client = new MongoClient(target.url, { serverSelectionTimeoutMS: 5_000, monitorCommands: true });
const db = client.db(dbName);

afterAll(async () => {
  if (target.kind === 'real') await db.dropDatabase();
  await client.close();
  await target.close();
});

function commandsDuring<T>(run: () => Promise<T>): Promise<{ result: T; commands: CommandStartedEvent[] }> {
  const commands: CommandStartedEvent[] = [];
  const listen = (event: CommandStartedEvent) => commands.push(event);
  client.on('commandStarted', listen);
  return run().then(
    (result) => {
      client.off('commandStarted', listen);
      return { result, commands };
    },
    (error) => {
      client.off('commandStarted', listen);
      throw error;
    },
  );
}

describe(`MongoStore layout and writes, on the ${target.label}`, () => {
  const collectionName = runNamespace('layout');
  const store = new MongoStore({ client, dbName, collectionName });
  const raw = () => db.collection<Document & { _id: string }>(collectionName);
  afterAll(() => store.close());

  it('stores the native document: SHA-256 _id, Date times, escaped data keys, no session ID anywhere', async () => {
    const id = generateId();
    const rec = record({ userId: 'u1', data: { 'a.b': 1, $c: { 'd.e': 2 }, '%': 3, '': 4 } });
    await store.create(id, rec);
    const doc = await raw().findOne({ _id: storageKey(id) });
    expect(doc).toMatchObject({
      _id: storageKey(id),
      userId: 'u1',
      version: 1,
      expiresAt: new Date(rec.expiresAt),
      createdAt: new Date(rec.createdAt),
      lastSeenAt: new Date(rec.lastSeenAt),
      cookie: rec.cookie,
      data: { 'a%2Eb': 1, '%24c': { 'd%2Ee': 2 }, '%25': 3, '%': 4 },
    });
    expect(JSON.stringify(doc)).not.toContain(id);
    expect((await store.get(id))?.data).toEqual(rec.data);
  });

  it('writes a delta as one updateOne: no upsert, alive filter, $set/$unset on data paths, $inc version', async () => {
    const id = generateId();
    await store.create(id, record({ data: { a: 1, b: 2, c: 3 } }));
    const delta = {
      set: { b: 20, 'x.y': true },
      unset: ['c'],
      expiresAt: Date.now() + 60_000,
      lastSeenAt: Date.now(),
    };
    const { result, commands } = await commandsDuring(() => store.update(id, delta));
    expect(result).toBe(true);
    expect(commands.map((c) => c.commandName)).toEqual(['update']);
    const [statement] = (commands[0]?.command.updates ?? []) as Document[];
    expect(statement?.upsert ?? false).toBe(false);
    expect(statement?.q).toMatchObject({ _id: storageKey(id), expiresAt: { $gt: expect.any(Date) } });
    expect(Object.keys(statement?.u.$set).sort()).toEqual([
      'data.b',
      'data.x%2Ey',
      'expiresAt',
      'lastSeenAt',
    ]);
    expect(statement?.u.$unset).toEqual({ 'data.c': '' });
    expect(statement?.u.$inc).toEqual({ version: 1 });
    expect((await raw().findOne({ _id: storageKey(id) }))?.version).toBe(2);
  });

  it('creates the TTL index on expiresAt and the userId index; autoRemove: false skips the TTL one', async () => {
    const indexes = await raw().listIndexes().toArray();
    expect(indexes.find((index) => index.name === 'expiresAt_1')).toMatchObject({
      key: { expiresAt: 1 },
      expireAfterSeconds: 0,
    });
    expect(indexes.some((index) => index.name === 'userId_1')).toBe(true);
    const plainName = runNamespace('nottl');
    const plain = new MongoStore({ client, dbName, collectionName: plainName, autoRemove: false });
    await plain.open();
    const names = (await db.collection(plainName).listIndexes().toArray()).map((index) => index.name);
    expect(names.sort()).toEqual(['_id_', 'userId_1']);
  });

  it('escapes exactly %, ., $, NUL and the empty key, and reverses it', () => {
    for (const key of ['plain', 'a.b', '$x', '%2E', '%', '', 'a\u0000b', 'ü.$%']) {
      expect(unescapeKey(escapeKey(key))).toBe(key);
    }
    expect(escapeKey('%2E')).toBe('%252E');
    expect(escapeKey('naïve_key-1')).toBe('naïve_key-1');
  });
});

describe(`MongoStore options and clients, on the ${target.label}`, () => {
  it('never closes a client it was given; closes the one it made from a URL', async () => {
    const given = new MongoStore({ client, dbName, collectionName: runNamespace('own') });
    await given.close();
    await expect(db.command({ ping: 1 })).resolves.toMatchObject({ ok: 1 });
    const owned = new MongoStore({ url: target.url, dbName, collectionName: runNamespace('own') });
    const internal = (owned as unknown as { client: MongoClient }).client;
    const close = vi.spyOn(internal, 'close');
    await owned.open();
    await owned.close();
    expect(close).toHaveBeenCalledOnce();
  });

  it('accepts a Db handle', async () => {
    const store = new MongoStore({ db, collectionName: runNamespace('db') });
    const id = generateId();
    await store.create(id, record());
    expect(await store.get(id)).not.toBeNull();
  });

  it('createFromUrl reads its own options from the query string and hands the rest to the driver', async () => {
    const url = new URL(target.url);
    url.pathname = `/${dbName}`;
    url.searchParams.set('collection', 'from_url');
    url.searchParams.set('autoRemove', 'false');
    url.searchParams.set('timeout', '1500');
    url.searchParams.set('serverSelectionTimeoutMS', '3000');
    const store = await createFromUrl(url);
    try {
      expect(store.collectionName).toBe('from_url');
      expect(store.timeout).toBe(1500);
      const id = generateId();
      await store.create(id, record());
      expect(await db.collection('from_url').countDocuments({ _id: storageKey(id) as never })).toBe(1);
    } finally {
      await store.close();
    }
    await expect(createFromUrl(new URL('redis://127.0.0.1'))).rejects.toMatchObject({
      code: 'ERR_STORE_URL',
    });
  });

  it('checks its options at construction', () => {
    expect(() => new MongoStore({})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    expect(() => new MongoStore({ client, db })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
    expect(() => new MongoStore({ client, legacy: 'connect-mongo' })).toThrow(/legacyCollectionName/);
    expect(
      () => new MongoStore({ client, legacy: 'connect-mongo', collectionName: 'sessionkit_sessions' }),
    ).not.toThrow();
  });
});

describe(`connect-mongo migration (documents written by connect-mongo 6 itself), on the ${target.label}`, () => {
  const legacyCollectionName = runNamespace('cm_sessions');
  const collectionName = runNamespace('sk_sessions');
  const connectMongo = ConnectMongo.create({ client, dbName, collectionName: legacyCollectionName });
  const plainConnectMongo = ConnectMongo.create({
    client,
    dbName,
    collectionName: legacyCollectionName,
    stringify: false,
  });
  const store = new MongoStore({
    client,
    dbName,
    collectionName,
    legacy: 'connect-mongo',
    legacyCollectionName,
  });
  const legacy = () => db.collection<Document & { _id: string }>(legacyCollectionName);
  const native = () => db.collection<Document & { _id: string }>(collectionName);
  afterAll(async () => {
    await store.close();
    await connectMongo.close();
  });

  it('an express-session app moves from connect-mongo to MongoStore without logging anyone out', async () => {
    const before = expressSessionApp(connectMongo);
    const first = await request(before).get('/').expect(200, 'views: 1');
    const cookie = first.headers['set-cookie'] as unknown as string[];
    await request(before).get('/').set('Cookie', cookie).expect(200, 'views: 2');
    const sid = expressSessionId(cookie);
    const written = await legacy().findOne({ _id: sid });
    expect(typeof written?.session).toBe('string');
    expect(written?.expires).toBeInstanceOf(Date);

    const after = expressSessionApp(store as unknown as expressSession.Store);
    await request(after).get('/').set('Cookie', cookie).expect(200, 'views: 3');
    expect(await legacy().findOne({ _id: sid })).toBeNull();
    expect((await native().findOne({ _id: storageKey(sid) }))?.data).toEqual({ views: 3 });
    await request(after).get('/').set('Cookie', cookie).expect(200, 'views: 4');
  });

  it('reads a stringify:false document, moves it on update, and keeps the connect-mongo expiry', async () => {
    const sid = generateId().slice(0, 32);
    const expires = new Date(Date.now() + 30_000);
    await new Promise<void>((resolve, reject) =>
      plainConnectMongo.set(
        sid,
        { cookie: { originalMaxAge: 30_000, expires, httpOnly: true, path: '/' }, cart: ['a'] } as never,
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    expect(typeof (await legacy().findOne({ _id: sid }))?.session).toBe('object');
    const got = await store.get(sid);
    expect(got).toMatchObject({ data: { cart: ['a'] }, expiresAt: expires.getTime() });
    expect(got?.cookie).toMatchObject({ originalMaxAge: 30_000, expires: expires.toISOString() });
    const delta = {
      set: { cart: ['a', 'b'] },
      unset: [],
      expiresAt: Date.now() + 60_000,
      lastSeenAt: Date.now(),
    };
    expect(await store.update(sid, delta)).toBe(true);
    expect(await legacy().countDocuments({ _id: sid })).toBe(0);
    expect((await store.get(sid))?.data).toEqual({ cart: ['a', 'b'] });
  });

  it('log out everywhere ends legacy sessions bound to the user, read or written first', async () => {
    const user = `revoked-${generateId().slice(0, 8)}`;
    // As sessionkit's login writes one through connect-mongo: the user rides inside the cookie.
    const bound = (sid: string) => ({
      _id: sid,
      session: JSON.stringify({
        cookie: { originalMaxAge: null, __sessionkit: { createdAt: Date.now(), userId: user } },
        a: 1,
      }),
      expires: new Date(Date.now() + 60_000),
    });
    const [read, written] = [generateId().slice(0, 32), generateId().slice(0, 32)];
    await legacy().insertMany([bound(read), bound(written)]);
    expect((await store.get(read))?.userId).toBe(user);
    await store.destroyByUser(user);
    expect(await store.get(read)).toBeNull();
    expect(await legacy().countDocuments({ _id: read })).toBe(0);
    expect(await store.touch(written, Date.now() + 60_000, Date.now())).toBe(false);
    expect(await store.get(written)).toBeNull();
    expect(await native().countDocuments({ _id: storageKey(written) })).toBe(0);
  });

  it('destroy removes a legacy session; expired and corrupt legacy documents read as absent', async () => {
    const sid = generateId().slice(0, 32);
    await legacy().insertOne({
      _id: sid,
      session: '{"cookie":{"originalMaxAge":null},"a":1}',
      expires: new Date(Date.now() + 60_000),
    });
    expect((await store.get(sid))?.data).toEqual({ a: 1 });
    await store.destroy(sid);
    expect(await store.get(sid)).toBeNull();
    expect(
      await store.update(sid, {
        set: { a: 2 },
        unset: [],
        expiresAt: Date.now() + 1000,
        lastSeenAt: Date.now(),
      }),
    ).toBe(false);

    const old = generateId().slice(0, 32);
    await legacy().insertOne({
      _id: old,
      session: '{"cookie":{},"a":1}',
      expires: new Date(Date.now() - 1000),
    });
    expect(await store.get(old)).toBeNull();
    expect(await store.touch(old, Date.now() + 60_000, Date.now())).toBe(false);

    const bad = generateId().slice(0, 32);
    await legacy().insertOne({
      _id: bad,
      session: '{"cookie": trunc',
      expires: new Date(Date.now() + 60_000),
    });
    const reported = new Promise((resolve) => store.once('corrupt', resolve));
    expect(await store.get(bad)).toBeNull();
    expect(await reported).toMatchObject({ code: 'ERR_SESSION_CORRUPT' });
  });

  it('create refuses an ID that a live connect-mongo session holds', async () => {
    const sid = generateId().slice(0, 32);
    await legacy().insertOne({ _id: sid, session: '{"cookie":{}}', expires: new Date(Date.now() + 60_000) });
    expect(await store.create(sid, record())).toBe(false);
  });
});

describe.runIf(target.standIn)('the stand-in served every command above', () => {
  it('refused nothing the driver sent for MongoStore or connect-mongo', () => {
    expect(target.standIn?.rejected).toEqual([]);
  });
});
