import { type Collection, type Document, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MongoWireServer, startMongoWireServer } from './mongo-wire-server.js';
import { runNamespace } from './services.js';

/**
 * Recorded expectations of real MongoDB behaviour for every operation the stand-in serves, written from
 * MongoDB's manual (update operators, upsert, "Query and Projection Operators", write errors, index
 * builds). They always run against the stand-in; with MONGODB_URL set they also run against that real
 * server, which checks the expectations themselves.
 */
const standIn = await startMongoWireServer();
const targets: { label: string; url: string }[] = [{ label: 'the stand-in', url: standIn.url }];
if (process.env.MONGODB_URL)
  targets.push({ label: 'the real server at MONGODB_URL', url: process.env.MONGODB_URL });
console.info(
  `\n[sessionkit] mongo-wire-server.test.ts: expectations checked against ${targets.map((t) => t.label).join(' and ')}\n`,
);
afterAll(() => standIn.close());

type Doc = Document & { _id: string };

async function serverError(promise: Promise<unknown>): Promise<{ code?: number; name: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: number; name: string };
  }
  throw new Error('expected the server to refuse the operation');
}

for (const target of targets) {
  describe(`MongoDB behaviour the stand-in reproduces, on ${target.label}`, () => {
    let client: MongoClient;
    let coll: Collection<Doc>;
    const dbName = runNamespace('wire');
    beforeAll(async () => {
      client = new MongoClient(target.url, { serverSelectionTimeoutMS: 5_000 });
      coll = client.db(dbName).collection<Doc>('things');
    });
    afterAll(async () => {
      if (target.url !== standIn.url) await client.db(dbName).dropDatabase();
      await client.close();
    });

    it('$unset of a missing field matches but modifies nothing; $set of the same value neither', async () => {
      await coll.insertOne({ _id: 'unset', a: 1 });
      expect(await coll.updateOne({ _id: 'unset' }, { $unset: { nope: '' } })).toMatchObject({
        matchedCount: 1,
        modifiedCount: 0,
      });
      expect(await coll.updateOne({ _id: 'unset' }, { $set: { a: 1 } })).toMatchObject({ modifiedCount: 0 });
      expect(await coll.updateOne({ _id: 'unset' }, { $unset: { a: '' } })).toMatchObject({
        modifiedCount: 1,
      });
      expect(await coll.findOne({ _id: 'unset' })).toEqual({ _id: 'unset' });
    });

    it('an update without upsert that matches nothing creates nothing', async () => {
      expect(await coll.updateOne({ _id: 'ghost' }, { $set: { a: 1 } })).toMatchObject({
        matchedCount: 0,
        modifiedCount: 0,
        upsertedCount: 0,
        upsertedId: null,
      });
      expect(await coll.findOne({ _id: 'ghost' })).toBeNull();
    });

    it('an upsert inserts the filter equalities, $set and $setOnInsert, and reports upsertedId', async () => {
      const result = await coll.updateOne(
        { _id: 'up', kind: 'x', n: { $gt: 5 } },
        { $set: { a: 1 }, $setOnInsert: { created: true } },
        { upsert: true },
      );
      expect(result).toMatchObject({ matchedCount: 0, modifiedCount: 0, upsertedCount: 1, upsertedId: 'up' });
      expect(await coll.findOne({ _id: 'up' })).toEqual({ _id: 'up', kind: 'x', a: 1, created: true });
      const again = await coll.updateOne(
        { _id: 'up' },
        { $set: { a: 2 }, $setOnInsert: { created: false } },
        { upsert: true },
      );
      expect(again).toMatchObject({ matchedCount: 1, modifiedCount: 1, upsertedCount: 0, upsertedId: null });
      expect((await coll.findOne({ _id: 'up' }))?.created).toBe(true);
    });

    it('duplicate _id: insert, and an upsert whose filter misses an existing _id, fail with 11000', async () => {
      await coll.insertOne({ _id: 'dup', expiresAt: new Date(Date.now() + 60_000) });
      expect((await serverError(coll.insertOne({ _id: 'dup' }))).code).toBe(11000);
      const upsert = coll.replaceOne(
        { _id: 'dup', expiresAt: { $lte: new Date() } },
        { v: 1 },
        { upsert: true },
      );
      expect((await serverError(upsert)).code).toBe(11000);
    });

    it('$inc creates a missing field with the increment and refuses a non-number', async () => {
      await coll.insertOne({ _id: 'inc', s: 'text' });
      await coll.updateOne({ _id: 'inc' }, { $inc: { version: 1 } });
      await coll.updateOne({ _id: 'inc' }, { $inc: { version: 1 } });
      expect((await coll.findOne({ _id: 'inc' }))?.version).toBe(2);
      expect((await serverError(coll.updateOne({ _id: 'inc' }, { $inc: { s: 1 } }))).code).toBe(14);
    });

    it('dotted paths create nested documents, and cannot pass through a scalar', async () => {
      await coll.insertOne({ _id: 'dots', data: { keep: 1 }, n: 5 });
      await coll.updateOne({ _id: 'dots' }, { $set: { 'data.a': 1, 'deep.er.x': true } });
      expect(await coll.findOne({ _id: 'dots' })).toEqual({
        _id: 'dots',
        data: { keep: 1, a: 1 },
        n: 5,
        deep: { er: { x: true } },
      });
      expect((await serverError(coll.updateOne({ _id: 'dots' }, { $set: { 'n.x': 1 } }))).code).toBe(28);
      await coll.updateOne({ _id: 'dots' }, { $unset: { 'data.keep': '', 'data.none': '' } });
      expect((await coll.findOne({ _id: 'dots' }))?.data).toEqual({ a: 1 });
    });

    it('conflicting paths in one update are refused with 40; a $-prefixed path part is refused', async () => {
      await coll.insertOne({ _id: 'conflict', data: {} });
      const same = coll.updateOne({ _id: 'conflict' }, { $set: { 'data.a': 1 }, $unset: { 'data.a': '' } });
      expect((await serverError(same)).code).toBe(40);
      const prefix = coll.updateOne({ _id: 'conflict' }, { $set: { data: {}, 'data.a': 1 } });
      expect((await serverError(prefix)).code).toBe(40);
      await serverError(coll.updateOne({ _id: 'conflict' }, { $set: { 'data.$x': 1 } }));
    });

    it('stores keys holding dots and dollars inside nested documents (5.0+)', async () => {
      const doc = { _id: 'odd', data: { 'a.b': { $c: [1, null] } } };
      await coll.insertOne(doc);
      expect(await coll.findOne({ _id: 'odd' })).toEqual(doc);
    });

    it('replaceOne keeps _id and drops every other field', async () => {
      await coll.insertOne({ _id: 'rep', a: 1, b: 2 });
      await coll.replaceOne({ _id: 'rep' }, { c: 3 });
      expect(await coll.findOne({ _id: 'rep' })).toEqual({ _id: 'rep', c: 3 });
    });

    it('range operators match only their own type; {f: null} matches a missing field', async () => {
      const now = new Date();
      const people = client.db(dbName).collection<Doc>('typed');
      await people.insertMany([
        { _id: 'date', at: new Date(now.getTime() + 1000), u: 'x' },
        { _id: 'string', at: 'zzzz' },
        { _id: 'missing', u: 'y' },
        { _id: 'past', at: new Date(now.getTime() - 1000), u: null },
      ]);
      const ids = async (filter: Document) =>
        (await people.find(filter).sort({ _id: 1 }).toArray()).map((d) => d._id);
      expect(await ids({ at: { $gt: now } })).toEqual(['date']);
      expect(await ids({ at: { $lte: now } })).toEqual(['past']);
      expect(await ids({ u: null })).toEqual(['past', 'string']);
      expect(await ids({ at: { $exists: false } })).toEqual(['missing']);
      expect(await ids({ $or: [{ at: { $exists: false } }, { at: { $gt: now } }] })).toEqual([
        'date',
        'missing',
      ]);
      expect(await ids({ u: { $in: ['x', 'y'] }, _id: { $ne: 'date' } })).toEqual(['missing']);
    });

    it('find sorts, limits and pages through a cursor with getMore', async () => {
      const many = client.db(dbName).collection<Doc>('many');
      await many.insertMany(
        Array.from({ length: 25 }, (_, i) => ({ _id: `k${String(i).padStart(2, '0')}`, i })),
      );
      const all = await many.find({}, { sort: { _id: -1 }, batchSize: 4 }).toArray();
      expect(all.map((d) => d.i)).toEqual(Array.from({ length: 25 }, (_, i) => 24 - i));
      const page = await many.find({ _id: { $gt: 'k10' } }, { sort: { _id: 1 }, limit: 3 }).toArray();
      expect(page.map((d) => d._id)).toEqual(['k11', 'k12', 'k13']);
      expect(await many.countDocuments({ i: { $lt: 5 } })).toBe(5);
      expect(await many.countDocuments({ i: { $lt: 0 } })).toBe(0);
      expect((await many.deleteMany({ i: { $gte: 20 } })).deletedCount).toBe(5);
      expect((await many.deleteOne({ _id: 'nope' })).deletedCount).toBe(0);
      expect(await many.findOneAndDelete({ _id: 'k00' })).toEqual({ _id: 'k00', i: 0 });
      expect(await many.findOneAndDelete({ _id: 'k00' })).toBeNull();
    });

    it('createIndexes is idempotent for an identical spec and refuses changed TTL options with 85', async () => {
      const indexed = client.db(dbName).collection<Doc>('indexed');
      expect(await indexed.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 })).toBe('expiresAt_1');
      expect(await indexed.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 })).toBe('expiresAt_1');
      const changed = indexed.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 60 });
      expect((await serverError(changed)).code).toBe(85);
      const listed = await indexed.listIndexes().toArray();
      expect(listed.map((index) => index.name).sort()).toEqual(['_id_', 'expiresAt_1']);
      expect(listed.find((index) => index.name === 'expiresAt_1')?.expireAfterSeconds).toBe(0);
    });
  });
}

describe('the stand-in refuses what it does not implement, loudly', () => {
  let server: MongoWireServer;
  let client: MongoClient;
  beforeAll(async () => {
    server = await startMongoWireServer();
    client = new MongoClient(server.url, { serverSelectionTimeoutMS: 2_000 });
  });
  afterAll(async () => {
    await client.close();
    await server.close();
  });

  it('answers an unknown command with CommandNotFound and records it', async () => {
    const error = await serverError(client.db('x').command({ collMod: 'c' }));
    expect(error).toMatchObject({ code: 59, name: 'MongoServerError' });
    expect(server.rejected.at(-1)).toMatch(/collMod/);
  });

  it('refuses query operators, update operators, fields and stages it lacks, naming the stand-in', async () => {
    const coll = client.db('x').collection<Doc>('c');
    await coll.insertOne({ _id: 'a', list: [] });
    const before = server.rejected.length;
    for (const attempt of [
      () => coll.findOne({ _id: { $regex: '^a' } }),
      () => coll.updateOne({ _id: 'a' }, { $push: { list: 1 } } as Document),
      () => coll.find({}, { hint: { _id: 1 } }).toArray(),
      () => coll.aggregate([{ $project: { _id: 1 } }]).toArray(),
      () => coll.find({}, { projection: { _id: 1 } }).toArray(),
    ]) {
      const error = await serverError(attempt());
      expect([115, 40415]).toContain(error.code);
    }
    expect(server.rejected.length - before).toBe(5);
    expect(server.rejected.slice(before).join('\n')).toMatch(/stand-in does not implement/);
  });
});
