import { randomUUID } from 'node:crypto';
import { type Collection, type Db, type Document, MongoClient, type MongoClientOptions } from 'mongodb';
import {
  CorruptSessionError,
  OptionsError,
  SessionError,
  StoreError,
  StoreUnavailableError,
  StoreUrlError,
} from '../core/errors.js';
import { storageKey } from '../core/id.js';
import {
  applyDelta,
  applyDeltaToRecord,
  fromStoredExpressSession,
  isForbiddenKey,
  parseJson,
  stringifyJson,
} from '../core/serializer.js';
import type {
  CookieData,
  LimitOutcome,
  ListOptions,
  ListPage,
  SessionDelta,
  SessionRecord,
  SessionSummary,
  UserLimit,
} from '../core/types.js';
import { closeWithin } from './close.js';
import {
  checkDataBytes,
  checkDelta,
  checkDestroyByUser,
  checkHandle,
  checkHandleCursor,
  checkId,
  checkListOptions,
  checkRecord,
  checkSwaps,
  checkTouchTimes,
  checkUserIdArgument,
  checkUserLimit,
  checkWellFormedJson,
  checkWellFormedKey,
  type DataSwap,
  evictionsFor,
  isWellFormedKey,
  reportCorrupt,
  type SessionStore,
  wellFormedText,
} from './contract.js';
import { Store, type StoreOptions } from './express-compat/store.js';
import { readParams, storeDefinition } from './registry.js';
import { STORE_CLOSED } from './sql.js';

export interface MongoStoreOptions extends StoreOptions {
  /** A connected or unconnected client. The store never closes a client it was given. */
  client?: MongoClient;
  /** A database handle. The store never closes its client. */
  db?: Db;
  /** A connection string; the store makes its own client and closes it on `close()`. */
  url?: string;
  /** Database, with `client` or `url`. Default: the one named in the URL, else the driver's (`test`). */
  dbName?: string;
  /** Default `sessions`. With `legacy`, set it to a name of its own (see docs/stores/mongodb.md). */
  collectionName?: string;
  /** Create the TTL index (`expiresAt`, `expireAfterSeconds: 0`) so the server deletes expired sessions. Default true. */
  autoRemove?: boolean;
  /** Extra options for the client made from `url`. */
  clientOptions?: MongoClientOptions;
  /** Read sessions connect-mongo wrote, and move each to the native layout on its next write. */
  legacy?: 'connect-mongo';
  /** The collection connect-mongo used. Default `sessions`, connect-mongo's own default. */
  legacyCollectionName?: string;
}

export const DEFAULT_COLLECTION = 'sessions';

/** The store's own client; a connection string the driver refuses is an ERR_STORE_URL like any other. */
function makeClient(
  url: string,
  timeout: number,
  clientOptions: MongoClientOptions | undefined,
): MongoClient {
  try {
    return new MongoClient(url, {
      serverSelectionTimeoutMS: timeout,
      // close() does not end a connection still in its handshake; this bounds how long one can linger
      // (and keep the process alive) when the server accepts connections and never answers.
      connectTimeoutMS: timeout,
      ...clientOptions,
    });
  } catch (error) {
    if ((error as Error | null)?.name !== 'MongoParseError') throw error;
    throw Object.assign(new StoreUrlError(`mongodb URL: ${(error as Error).message}`), { cause: error });
  }
}
/**
 * Compare-and-set rounds a contended write always gets (a size-capped update, destroyByUser's epoch
 * raise); past them it goes on until the store's `timeout`. Each round one of the writers that read the
 * same version wins, so N writers all finish within N rounds, where a fixed count would refuse the
 * writers past it.
 */
const CAS_ROUNDS = 16;

/**
 * A document in the native layout. `_id` is SHA-256 of the session ID (base64url), never the ID itself;
 * `data` and `cookie` keys are escaped (see `escapeKey`) so any JSON key round-trips.
 */
export interface MongoSessionDocument {
  _id: string;
  expiresAt: Date;
  userId: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  version: number;
  cookie: Document;
  data: Document;
  /**
   * The user's revocation epoch when the session was bound to them. Absent on an anonymous session and on
   * one a sessionkit without epochs (0.1.0) bound, which the epoch does not revoke (see `revoked`).
   */
  epoch?: number;
}

/**
 * A user's revocation epoch, in `<collection>_epochs` under `_id: userId`: sessions stamped below `n` are
 * dead, but `keep` (a handle) while its stamp is `from` or more. Created by the first destroyByUser and
 * never removed: a lost epoch would revive every session it made dead.
 */
interface EpochDocument {
  _id: string;
  n: number;
  keep?: string;
  from?: number;
}

/**
 * A per-user lease, in `<collection>_leases` under `_id: userId`, held by one login under the per-user
 * limit at a time (see createWithinLimit). `until` frees it if its holder died.
 */
interface LeaseDocument {
  _id: string;
  until: Date;
  token: string;
}

/**
 * sessionkit's MongoDB store, on the official driver. Writes are deltas: one `updateOne` with `$set` and
 * `$unset` on `data.<key>`, filtered on the record being alive and never upserting, so two requests that
 * change different keys both keep their change and a destroyed session stays destroyed. The TTL monitor
 * runs only once a minute, so every read also filters on `expiresAt > now`.
 */
export class MongoStore extends Store implements SessionStore {
  readonly collectionName: string;
  readonly legacyCollectionName: string | null;
  private readonly client: MongoClient | null;
  private readonly ownsClient: boolean;
  private readonly database: Db;
  private readonly autoRemove: boolean;
  private readiness: Promise<void> | null = null;
  private closed = false;

  /**
   * A `url` may carry the store's own options as parameters (`?collection=…&autoRemove=false`), as with
   * `createStore()`; options given here win over them.
   */
  constructor(options: MongoStoreOptions) {
    if (typeof options?.url === 'string') {
      const split = fromConnectionString(options.url);
      options = { ...split.options, ...options, url: split.url };
    }
    super(options);
    const sources = [options.client, options.db, options.url].filter((source) => source !== undefined);
    if (sources.length !== 1) throw new OptionsError('client', 'give exactly one of `client`, `db` or `url`');
    if (options.db && options.dbName !== undefined) {
      throw new OptionsError('dbName', 'only applies with `client` or `url`; a `db` names its own database');
    }
    this.collectionName = checkName('collectionName', options.collectionName ?? DEFAULT_COLLECTION);
    this.autoRemove = options.autoRemove ?? true;
    if (options.legacy !== undefined && options.legacy !== 'connect-mongo') {
      throw new OptionsError('legacy', "must be 'connect-mongo'");
    }
    this.legacyCollectionName = options.legacy
      ? checkName('legacyCollectionName', options.legacyCollectionName ?? DEFAULT_COLLECTION)
      : null;
    if (this.legacyCollectionName === this.collectionName) {
      throw new OptionsError(
        'collectionName',
        `must differ from legacyCollectionName ("${this.collectionName}") while legacy: 'connect-mongo' is on, ` +
          "e.g. collectionName: 'sessionkit_sessions'; keep that name after the migration",
      );
    }
    if (options.url !== undefined) {
      this.client = makeClient(options.url, this.timeout, options.clientOptions);
      this.ownsClient = true;
    } else {
      this.client = options.client ?? null;
      this.ownsClient = false;
    }
    this.database = options.db ?? (this.client as MongoClient).db(options.dbName);
  }

  /** Connects and creates the indexes now rather than on first use. */
  async open(): Promise<void> {
    await this.run('open', () => this.ready());
  }

  async get(id: string): Promise<SessionRecord | null> {
    checkId('get', id);
    return this.run('get', async () => {
      const now = Date.now();
      const doc = await (await this.native()).findOne({
        _id: storageKey(id),
        expiresAt: { $gt: new Date(now) },
      });
      if (doc) {
        if (typeof doc.userId === 'string' && (await this.revoked([doc])).length > 0) return null;
        return this.decodeOrReport(doc);
      }
      return this.legacyCollectionName ? this.readLegacy(id, now) : null;
    });
  }

  async create(id: string, record: SessionRecord): Promise<boolean> {
    checkId('create', id);
    checkRecord(this, 'create', record);
    return this.run('create', async () => {
      const collection = await this.native();
      if (this.legacyCollectionName && (await this.readLegacy(id, Date.now()))) return false;
      const doc = toDocument(storageKey(id), record);
      // Read before the insert: a revoke that raises the epoch after this read finds the session by its
      // userId if it is in by then, and otherwise leaves it stamped below the new epoch, dead.
      if (record.userId !== null) doc.epoch = await this.epochOf(record.userId);
      if (await insertedFresh(() => collection.insertOne(doc))) return true;
      // The key is taken; an expired holder (the TTL monitor lags) may be replaced, a live one may not.
      return insertedFresh(() =>
        collection.replaceOne({ _id: doc._id, expiresAt: { $lte: new Date() } }, doc, { upsert: true }),
      );
    });
  }

  /**
   * MongoDB offers no multi-document transaction without a replica set, so logins of one user under the
   * limit take turns through a lease document (an insert or a takeover of an expired lease, which the
   * unique `_id` lets only one of them win, on every server). Within it: count, evict, insert. The lease
   * lasts twice the store's timeout, longer than any login is waited for; a login that the server keeps
   * running past that could overlap the next one, which no store timeout can exclude here.
   */
  async createWithinLimit(id: string, record: SessionRecord, limit: UserLimit): Promise<LimitOutcome> {
    checkId('createWithinLimit', id);
    checkUserLimit(this, 'createWithinLimit', record, limit);
    const userId = record.userId as string;
    return this.run('createWithinLimit', () =>
      this.withLease(userId, async () => {
        const collection = await this.native();
        const key = storageKey(id);
        const now = new Date();
        if (await collection.findOne({ _id: key, expiresAt: { $gt: now } }))
          return { result: 'exists', evicted: [] };
        if (this.legacyCollectionName && (await this.readLegacy(id, now.getTime())))
          return { result: 'exists', evicted: [] };
        const replaced = limit.replaces === undefined ? null : storageKey(limit.replaces);
        const docs = await collection.find({ userId, expiresAt: { $gt: now } }).toArray();
        const live = (await this.unrevoked(docs))
          .filter((doc) => doc._id !== key && doc._id !== replaced)
          .map((doc) => ({ key: String(doc._id), createdAt: new Date(doc.createdAt as Date).getTime() }))
          .sort((a, b) => a.createdAt - b.createdAt || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        const evict = evictionsFor(live, limit);
        if (evict === null) return { result: 'refused', evicted: [] };
        const victims = evict.map((victim) => victim.key);
        if (victims.length > 0) await collection.deleteMany({ _id: { $in: victims }, userId });
        const doc = toDocument(key, record);
        doc.epoch = await this.epochOf(userId);
        const inserted =
          (await insertedFresh(() => collection.insertOne(doc))) ||
          (await insertedFresh(() =>
            collection.replaceOne({ _id: key, expiresAt: { $lte: new Date() } }, doc, { upsert: true }),
          ));
        return inserted ? { result: 'created', evicted: victims } : { result: 'exists', evicted: [] };
      }),
    );
  }

  private async withLease<T>(userId: string, work: () => Promise<T>): Promise<T> {
    const leases = this.database.collection<LeaseDocument>(`${this.collectionName}_leases`);
    const token = randomUUID();
    // The lease's dates are the database's wall clock; how long to keep asking is a duration.
    const deadline = performance.now() + this.timeout;
    for (let pause = 1; ; pause = Math.min(pause * 2, 25)) {
      const now = Date.now();
      const taken = await insertedFresh(() =>
        leases.updateOne(
          { _id: userId, until: { $lte: new Date(now) } },
          { $set: { until: new Date(now + 2 * this.timeout), token } },
          { upsert: true },
        ),
      );
      if (taken) break;
      // The caller has already been answered with a timeout: stop asking.
      if (performance.now() > deadline) throw new Error('the per-user limit lease stayed taken; try again');
      await new Promise((resolve) => setTimeout(resolve, pause * (0.5 + Math.random())));
    }
    try {
      return await work();
    } finally {
      await leases.deleteOne({ _id: userId, token }).catch(() => undefined);
    }
  }

  async update(id: string, delta: SessionDelta): Promise<boolean> {
    checkId('update', id);
    checkDelta(this, 'update', delta);
    return this.run('update', async () => {
      if (await this.applyNative(id, delta)) return true;
      if (!this.legacyCollectionName) return false;
      return this.migrate(
        id,
        (record) => applyDeltaToRecord(record, delta),
        () => this.applyNative(id, delta),
      );
    });
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    checkId('set', id);
    checkRecord(this, 'set', record);
    await this.run('set', async () => {
      const { _id, version: _version, ...fields } = toDocument(storageKey(id), record);
      const collection = await this.native();
      // A rewrite that keeps the session's user keeps its stamp (or its lack of one), so it never revives
      // a revoked session. An anonymous session carries none (see MongoSessionDocument.epoch).
      if (record.userId === null) {
        await collection.updateOne(
          { _id },
          { $set: fields, $unset: { epoch: '' }, $inc: { version: 1 } },
          { upsert: true },
        );
      } else {
        const kept = await collection.updateOne(
          { _id, userId: record.userId },
          { $set: fields, $inc: { version: 1 } },
        );
        if (kept.matchedCount === 0) {
          const epoch = await this.epochOf(record.userId);
          await collection.updateOne(
            { _id },
            { $set: { ...fields, epoch }, $inc: { version: 1 } },
            { upsert: true },
          );
        }
      }
      if (this.legacyCollectionName) await this.legacy().deleteOne({ _id: id });
    });
  }

  async destroy(id: string): Promise<void> {
    checkId('destroy', id);
    await this.run('destroy', async () => {
      // Legacy first: a move in flight deletes the legacy document after inserting the native one, and
      // undoes its insert when the document was already gone (see migrate).
      if (this.legacyCollectionName) await this.legacy().deleteOne({ _id: id });
      await (await this.native()).deleteOne({ _id: storageKey(id) });
    });
  }

  async touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    checkId('touch', id);
    checkTouchTimes('touch', expiresAt, lastSeenAt);
    return this.run('touch', async () => {
      const moveNative = async () => {
        const result = await (await this.native()).updateOne(
          { _id: storageKey(id), expiresAt: { $gt: new Date() } },
          { $set: { expiresAt: new Date(expiresAt), lastSeenAt: new Date(lastSeenAt) } },
        );
        return result.matchedCount === 1;
      };
      if (await moveNative()) return true;
      if (!this.legacyCollectionName) return false;
      return this.migrate(id, (record) => ({ ...record, expiresAt, lastSeenAt }), moveNative);
    });
  }

  /** Pages in `_id` (handle) order; the cursor is the last handle of the page. Unmigrated legacy sessions are not listed. */
  async list(options: ListOptions = {}): Promise<ListPage> {
    checkListOptions('list', options);
    checkHandleCursor('list', options.cursor);
    return this.run('list', async () => {
      const limit = Math.min(Math.max(Math.trunc(options.limit ?? 100), 1), 1_000);
      const filter: Document = { expiresAt: { $gt: new Date() } };
      if (typeof options.cursor === 'string' && options.cursor !== '') filter._id = { $gt: options.cursor };
      const docs = await (await this.native()).find(filter, { sort: { _id: 1 }, limit: limit + 1 }).toArray();
      const page = docs.slice(0, limit);
      const last = page[page.length - 1];
      return {
        sessions: this.summaries(await this.unrevoked(page)),
        cursor: docs.length > limit && last ? String(last._id) : null,
      };
    });
  }

  /** Live sessions, counting connect-mongo sessions not migrated yet. */
  async length(): Promise<number> {
    return this.run('length', async () => {
      const now = new Date();
      let count = await (await this.native()).countDocuments({ expiresAt: { $gt: now } });
      if (this.legacyCollectionName) count += await this.legacy().countDocuments(legacyLive(now));
      return count;
    });
  }

  async clear(): Promise<void> {
    await this.run('clear', async () => {
      await (await this.native()).deleteMany({});
      await this.epochs().deleteMany({});
      await this.database.collection(`${this.collectionName}_leases`).deleteMany({});
      if (this.legacyCollectionName) await this.legacy().deleteMany({});
    });
  }

  async prune(): Promise<number> {
    return this.run('prune', async () => {
      const now = new Date();
      const { deletedCount } = await (await this.native()).deleteMany({ expiresAt: { $lte: now } });
      if (!this.legacyCollectionName) return deletedCount;
      const legacy = await this.legacy().deleteMany({ expires: { $lte: now } });
      return deletedCount + legacy.deletedCount;
    });
  }

  async listByUser(userId: string): Promise<SessionSummary[]> {
    checkUserIdArgument('listByUser', userId);
    return this.run('listByUser', async () => {
      const docs = await (await this.native()).find({ userId, expiresAt: { $gt: new Date() } }).toArray();
      return this.summaries(await this.unrevoked(docs));
    });
  }

  /**
   * Raises the user's revocation epoch FIRST, then deletes their sessions. A login that read the epoch
   * before the raise and inserts after the delete is stamped below the new epoch: dead on load. The
   * `except` session is recorded as exempt in the same compare-and-set as the raise, so it never looks
   * revoked, not even between the two steps.
   */
  async destroyByUser(userId: string, options: { except?: string } = {}): Promise<number> {
    checkDestroyByUser('destroyByUser', userId, options);
    return this.run('destroyByUser', async () => {
      const keep = options.except === undefined ? null : storageKey(options.except);
      await this.raiseEpoch(userId, keep);
      const filter: Document = { userId, expiresAt: { $gt: new Date() } };
      if (keep !== null) filter._id = { $ne: keep };
      const { deletedCount } = await (await this.native()).deleteMany(filter);
      return deletedCount;
    });
  }

  async getByHandle(handle: string): Promise<SessionSummary | null> {
    checkHandle('getByHandle', handle);
    return this.run('getByHandle', async () => {
      const doc = await (await this.native()).findOne({ _id: handle, expiresAt: { $gt: new Date() } });
      return doc ? (this.summaries(await this.unrevoked([doc]))[0] ?? null) : null;
    });
  }

  async destroyByHandle(handle: string): Promise<boolean> {
    checkHandle('destroyByHandle', handle);
    return this.run('destroyByHandle', async () => {
      const result = await (await this.native()).deleteOne({ _id: handle, expiresAt: { $gt: new Date() } });
      return result.deletedCount === 1;
    });
  }

  /**
   * Closes the client only if this store made it from a URL, waiting at most `timeout`: the driver offers
   * no way to drop its sockets, and a close it has not finished by then is left to finish on its own.
   */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.ownsClient ? this.client : null;
    if (client)
      await closeWithin(
        this.timeout,
        () => client.close(),
        () => undefined,
      );
  }

  /**
   * A call on a closed store, or one cut by close() (the driver's MongoClientClosedError,
   * MongoExpiredSessionError, PoolClosedError…), fails as unavailable (503), as on the SQL stores: a
   * graceful shutdown must not turn the requests in flight into 500s. The store's own typed errors keep
   * their meaning.
   */
  override run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError(operation, STORE_CLOSED));
    return super.run(operation, async () => {
      try {
        return await fn();
      } catch (error) {
        if (this.closed && !(error instanceof SessionError)) {
          throw new StoreUnavailableError(operation, STORE_CLOSED, error);
        }
        throw error;
      }
    });
  }

  /** The native collection, once its indexes exist. A failed index build is retried on the next call. */
  private async native(): Promise<Collection<MongoSessionDocument>> {
    await this.ready();
    return this.database.collection<MongoSessionDocument>(this.collectionName);
  }

  private ready(): Promise<void> {
    if (!this.readiness) {
      const indexes: { key: Document; name: string; expireAfterSeconds?: number }[] = [
        { key: { userId: 1 }, name: 'userId_1' },
      ];
      if (this.autoRemove)
        indexes.push({ key: { expiresAt: 1 }, name: 'expiresAt_1', expireAfterSeconds: 0 });
      this.readiness = this.database
        .collection(this.collectionName)
        .createIndexes(indexes)
        .then(() => undefined);
      this.readiness.catch(() => {
        this.readiness = null;
      });
    }
    return this.readiness;
  }

  private legacy(): Collection<LegacyDocument> {
    return this.database.collection<LegacyDocument>(this.legacyCollectionName as string);
  }

  private async applyNative(id: string, delta: SessionDelta): Promise<boolean> {
    if (delta.maxBytes !== undefined && Object.keys(delta.set).length > 0)
      return this.applyCapped(id, delta, delta.maxBytes);
    const collection = await this.native();
    const filter: Document = { _id: storageKey(id), expiresAt: { $gt: new Date() } };
    const update = deltaUpdate(delta);
    if (delta.userId !== undefined) {
      // Same user: the stamp stays. A new user: their epoch, read before the write.
      const same = await collection.updateOne({ ...filter, userId: delta.userId }, update);
      if (same.matchedCount === 1) return true;
      await this.restamp(update, delta.userId);
    }
    const result = await collection.updateOne(filter, update);
    return result.matchedCount === 1;
  }

  /**
   * A delta that adds data under a size cap: reads the document, checks the merged data's size, and writes
   * only if the document's `version` is still the one read (every write bumps it), so concurrent writes
   * cannot add up past the cap; a write that lost the race reads again.
   */
  private async applyCapped(id: string, delta: SessionDelta, maxBytes: number): Promise<boolean> {
    const collection = await this.native();
    const _id = storageKey(id);
    const deadline = performance.now() + this.timeout;
    for (let round = 0; round < CAS_ROUNDS || performance.now() <= deadline; round++) {
      const doc = await collection.findOne({ _id, expiresAt: { $gt: new Date() } });
      if (!doc) return false;
      const stored = isObject(doc.data) ? (unescapeDeep(doc.data) as Record<string, unknown>) : {};
      checkDataBytes(applyDelta(stored, delta), maxBytes);
      const update = deltaUpdate(delta);
      // Same user: the stamp stays. A new user: their epoch, read before the write.
      if (delta.userId !== undefined && doc.userId !== delta.userId) await this.restamp(update, delta.userId);
      const version = typeof doc.version === 'number' ? doc.version : { $exists: false };
      const result = await collection.updateOne(
        { _id, expiresAt: { $gt: new Date() }, version } as Document,
        update,
      );
      if (result.matchedCount === 1) return true;
    }
    throw new StoreError('update', undefined, 'the session kept changing under this update; try again');
  }

  private epochs(): Collection<EpochDocument> {
    return this.database.collection<EpochDocument>(`${this.collectionName}_epochs`);
  }

  private async epochOf(userId: string): Promise<number> {
    return (await this.epochs().findOne({ _id: userId }))?.n ?? 0;
  }

  /** Makes `update` stamp a session bound to `userId` now: their epoch, or no stamp for no user. */
  private async restamp(update: Document, userId: string | null): Promise<void> {
    if (userId !== null) (update.$set as Document).epoch = await this.epochOf(userId);
    else update.$unset = { ...(update.$unset as Document | undefined), epoch: '' };
  }

  /** Compare-and-set on the epoch document, so concurrent revokes of one user each raise it once. */
  private async raiseEpoch(userId: string, keep: string | null): Promise<void> {
    const epochs = this.epochs();
    const deadline = performance.now() + this.timeout;
    for (let round = 0; round < CAS_ROUNDS || performance.now() <= deadline; round++) {
      const current = await epochs.findOne({ _id: userId });
      const n = current?.n ?? 0;
      const next: Omit<EpochDocument, '_id'> = { n: n + 1 };
      if (keep !== null) {
        next.keep = keep;
        next.from = current?.keep === keep && typeof current.from === 'number' ? current.from : n;
      }
      if (!current) {
        if (await insertedFresh(() => epochs.insertOne({ _id: userId, ...next }))) return;
        continue;
      }
      const update: Document = { $set: next };
      if (keep === null) update.$unset = { keep: '', from: '' };
      if ((await epochs.updateOne({ _id: userId, n }, update)).matchedCount === 1) return;
    }
    throw new Error('the revocation epoch kept moving under this destroyByUser; try again');
  }

  /** The documents whose user has not revoked them (revoked ones are removed, best effort). */
  private async unrevoked(docs: Document[]): Promise<Document[]> {
    if (!docs.some((doc) => typeof doc.userId === 'string')) return docs;
    const dead = new Set(await this.revoked(docs));
    return dead.size === 0 ? docs : docs.filter((doc) => !dead.has(doc));
  }

  /**
   * Which of `docs` are stamped below their user's epoch; those are deleted unless rebound or re-stamped
   * since. One without a stamp was bound by a sessionkit without epochs (0.1.0, sharing the collection
   * during a rolling upgrade) and is judged as that version judged it: the epoch does not revoke it
   * (destroyByUser still deletes it by its userId). Taking it for epoch 0 would log out every login such
   * a server makes after the user's first revoke.
   */
  private async revoked(docs: Document[]): Promise<Document[]> {
    const users = [
      ...new Set(docs.map((doc) => doc.userId).filter((u): u is string => typeof u === 'string')),
    ];
    if (users.length === 0) return [];
    const found =
      users.length === 1
        ? await this.epochs()
            .find({ _id: users[0] as string })
            .toArray()
        : await this.epochs()
            .find({ _id: { $in: users } })
            .toArray();
    const byUser = new Map(found.map((e) => [e._id, e]));
    const dead = docs.filter((doc) => {
      const epoch = typeof doc.userId === 'string' ? byUser.get(doc.userId) : undefined;
      if (!epoch || typeof doc.epoch !== 'number') return false;
      const stamp = doc.epoch;
      if (stamp >= epoch.n) return false;
      return !(doc._id === epoch.keep && stamp >= (epoch.from ?? 0));
    });
    if (dead.length > 0) {
      const collection = await this.native();
      await Promise.all(
        dead.map((doc) =>
          collection
            .deleteOne({
              _id: doc._id as string,
              userId: doc.userId as string,
              epoch: doc.epoch as number,
            })
            .catch(() => undefined),
        ),
      );
    }
    return dead;
  }

  private async readLegacy(id: string, now: number): Promise<SessionRecord | null> {
    const doc = await this.legacy().findOne({ _id: id, ...legacyLive(new Date(now)) });
    if (!doc) return null;
    let record: SessionRecord;
    try {
      record = fromLegacy(doc, now, this.ttl);
    } catch (error) {
      reportCorrupt(this, error);
      return null;
    }
    if (await this.legacyRevoked(record)) {
      await this.legacy()
        .deleteOne({ _id: id })
        .catch(() => undefined);
      return null;
    }
    return record;
  }

  /**
   * A session still in connect-mongo's layout was bound before its user's first revoke (that layout has
   * no epoch, and this store only reads it), so any revoke since ended it.
   */
  private async legacyRevoked(record: SessionRecord): Promise<boolean> {
    return record.userId !== null && (await this.epochOf(record.userId)) > 0;
  }

  /**
   * Moves a connect-mongo session to the native layout on its first write: inserts the native document,
   * then deletes the legacy one. A destroy deletes the legacy document first, so when this delete finds
   * it already gone, a destroy ran meanwhile and the insert is undone: a logout is never outlived by the
   * move, whichever way the two interleave. A writer whose insert loses to another's retries the
   * native write.
   */
  private async migrate(
    id: string,
    change: (record: SessionRecord) => SessionRecord,
    retryNative: () => Promise<boolean>,
  ): Promise<boolean> {
    const now = Date.now();
    const found = await this.legacy().findOne({ _id: id, ...legacyLive(new Date(now)) });
    if (!found) return retryNative();
    let legacy: SessionRecord;
    try {
      legacy = fromLegacy(found, now, this.ttl);
    } catch (error) {
      reportCorrupt(this, error);
      await this.legacy().deleteOne({ _id: id });
      return false;
    }
    if (await this.legacyRevoked(legacy)) {
      await this.legacy().deleteOne({ _id: id });
      return false;
    }
    // A lone surrogate connect-mongo kept in its JSON text (an emoji cut in half) cannot go into a BSON
    // string, which the store refuses (ERR_SESSION_DATA): every write of the session, and a login, would
    // fail. It moves as the driver would encode it, U+FFFD; data the request sets is checked as ever.
    const record = change({ ...legacy, data: wellFormed(legacy.data) as Record<string, unknown> });
    const collection = await this.native();
    if (!(await insertedFresh(() => collection.insertOne(toDocument(storageKey(id), record)))))
      return retryNative();
    const { deletedCount } = await this.legacy().deleteOne({ _id: id });
    if (deletedCount > 0) return true;
    await collection.deleteOne({ _id: storageKey(id) });
    return false;
  }

  private decodeOrReport(doc: Document): SessionRecord | null {
    try {
      return fromDocument(doc);
    } catch (error) {
      reportCorrupt(this, error);
      return null;
    }
  }

  private summaries(docs: Document[]): SessionSummary[] {
    return docs.flatMap((doc) => {
      const record = this.decodeOrReport(doc);
      if (!record) return [];
      const { cookie: _cookie, ...rest } = record;
      return [{ handle: String(doc._id), ...rest }];
    });
  }

  /**
   * See SessionStore.resealByHandle: one `updateOne` per value, filtered on the value still being the one
   * read, so each is a compare-and-set on the server. `version` moves as with any write, so a size-capped
   * update that read before it reads again.
   */
  resealByHandle(handle: string, swaps: readonly DataSwap[]): Promise<number> {
    checkHandle('resealByHandle', handle);
    checkSwaps('resealByHandle', swaps);
    return this.run('resealByHandle', async () => {
      const collection = await this.native();
      let replaced = 0;
      for (const { key, from, to } of swaps) {
        const field = `data.${escapeKey(key)}`;
        const result = await collection.updateOne(
          { _id: handle, expiresAt: { $gt: new Date() }, [field]: from } as Document,
          { $set: { [field]: to }, $inc: { version: 1 } },
        );
        replaced += result.modifiedCount;
      }
      return replaced;
    });
  }
}

/** What connect-mongo 6 writes: `{ _id: sid, session: JSON string | object, expires: Date, lastModified?, createdAt? }`. */
interface LegacyDocument {
  _id: string;
  session?: unknown;
  expires?: Date;
  lastModified?: Date;
  createdAt?: Date;
}

/** connect-mongo's own liveness filter: a document without `expires` never expires. */
function legacyLive(now: Date): Document {
  return { $or: [{ expires: { $exists: false } }, { expires: { $gt: now } }] };
}

function fromLegacy(doc: LegacyDocument, now: number, ttl: number): SessionRecord {
  if (typeof doc.session !== 'string' && (typeof doc.session !== 'object' || doc.session === null)) {
    throw new CorruptSessionError('connect-mongo document has no session');
  }
  const record = fromStoredExpressSession(doc.session, now, ttl, {
    createdAt: doc.createdAt instanceof Date ? doc.createdAt.getTime() : now,
    // connect-mongo writes `lastModified` only with its `touchAfter`; without it the cookie tells (see
    // fromStoredExpressSession), never "now", which would leave a session that is only read untouched.
    lastSeenAt: doc.lastModified instanceof Date ? doc.lastModified.getTime() : undefined,
  });
  // connect-mongo's `expires` is what its readers honour (cookie expiry, else now + its own ttl).
  if (doc.expires instanceof Date) record.expiresAt = doc.expires.getTime();
  return record;
}

/** `value` with every lone surrogate in its strings and keys replaced by U+FFFD. */
function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return wellFormedText(value);
  if (Array.isArray(value)) return value.map(wellFormed);
  // Plain objects only: a Date (connect-mongo's `stringify: false` keeps BSON dates) stays as it is.
  if (typeof value !== 'object' || value === null) return value;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) out[wellFormedText(key)] = wellFormed(inner);
  return out;
}

function checkName(option: string, name: string): string {
  if (typeof name !== 'string' || name === '' || name.includes('$') || name.includes('\0')) {
    throw new OptionsError(option, 'must be a non-empty collection name without `$` or NUL');
  }
  return name;
}

async function insertedFresh(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 11000) return false;
    throw error;
  }
}

/*
 * Key escaping. MongoDB update paths split on `.`, and `$` opens an operator, so the keys of `data` and of
 * every object inside it are percent-encoded on the way in: `%` → `%25`, `.` → `%2E`, `$` → `%24`,
 * NUL → `%00` (BSON names are C strings), and the empty key becomes a lone `%`. Every other character is
 * kept, so ordinary keys are stored as they are. Decoding reverses exactly these, left to right.
 */
const ESCAPES: Record<string, string> = { '%': '%25', '.': '%2E', $: '%24', '\0': '%00' };

export function escapeKey(key: string): string {
  return key === '' ? '%' : key.replace(/[%.$\0]/g, (char) => ESCAPES[char] as string);
}

export function unescapeKey(key: string): string {
  if (key === '%') return '';
  return key.replace(/%(25|2E|24|00)/g, (_match, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

function escapeDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(escapeDeep);
  if (value === null || typeof value !== 'object') return value;
  const out: Document = {};
  for (const [key, inner] of Object.entries(value)) {
    if (!isForbiddenKey(key)) out[escapeKey(key)] = escapeDeep(inner);
  }
  return out;
}

/** Rebuilds plain objects with the keys unescaped; `__proto__`-style keys are dropped, never assigned. */
function unescapeDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unescapeDeep);
  if (value === null || typeof value !== 'object' || !isPlainDocument(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    const name = unescapeKey(key);
    if (!isForbiddenKey(name)) out[name] = unescapeDeep(inner);
  }
  return out;
}

function isPlainDocument(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && !('_bsontype' in value);
}

/** A JSON value as BSON: through JSON first, so what is stored is what every other store would keep. */
function encodeValue(value: unknown): unknown {
  const json = stringifyJson(value) as string | undefined;
  if (json === undefined) return undefined;
  checkWellFormedJson(json);
  return escapeDeep(parseJson(json));
}

function toDocument(key: string, record: SessionRecord): MongoSessionDocument {
  return {
    _id: key,
    expiresAt: new Date(record.expiresAt),
    userId: record.userId,
    createdAt: new Date(record.createdAt),
    lastSeenAt: new Date(record.lastSeenAt),
    version: 1,
    cookie: (encodeValue(record.cookie) ?? {}) as Document,
    data: (encodeValue(record.data) ?? {}) as Document,
  };
}

function deltaUpdate(delta: SessionDelta): Document {
  const $set: Document = { expiresAt: new Date(delta.expiresAt), lastSeenAt: new Date(delta.lastSeenAt) };
  const $unset: Document = {};
  if (delta.cookie) $set.cookie = encodeValue(delta.cookie) ?? {};
  if (delta.userId !== undefined) $set.userId = delta.userId;
  const removed = new Set(delta.unset);
  if (delta.replace) {
    const data: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(delta.set)) if (!removed.has(key)) data[key] = value;
    $set.data = encodeValue(data) ?? {};
  } else {
    for (const [key, value] of Object.entries(delta.set)) {
      if (removed.has(key) || isForbiddenKey(key)) continue;
      checkWellFormedKey(key);
      const encoded = encodeValue(value);
      // A value JSON drops (undefined, a function) leaves the key absent, as in every other store.
      if (encoded === undefined) removed.add(key);
      else $set[`data.${escapeKey(key)}`] = encoded;
    }
    // A key checkWellFormedKey refuses was never stored; its U+FFFD name would be another key's.
    for (const key of removed) if (isWellFormedKey(key)) $unset[`data.${escapeKey(key)}`] = '';
  }
  const update: Document = { $set, $inc: { version: 1 } };
  if (Object.keys($unset).length > 0) update.$unset = $unset;
  return update;
}

function isObject(value: unknown): value is Document {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && isPlainDocument(value);
}

function time(doc: Document, field: string): number {
  const value = doc[field];
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new CorruptSessionError(`\`${field}\` is not a date`);
  }
  return value.getTime();
}

/** Validates a native document; anything malformed is a CorruptSessionError. */
function fromDocument(doc: Document): SessionRecord {
  if (!isObject(doc.data)) throw new CorruptSessionError('`data` is not an object');
  if (!isObject(doc.cookie)) throw new CorruptSessionError('`cookie` is not an object');
  const userId = doc.userId ?? null;
  if (userId !== null && typeof userId !== 'string')
    throw new CorruptSessionError('`userId` is not a string');
  return {
    data: unescapeDeep(doc.data) as Record<string, unknown>,
    cookie: unescapeDeep(doc.cookie) as CookieData,
    expiresAt: time(doc, 'expiresAt'),
    createdAt: time(doc, 'createdAt'),
    lastSeenAt: time(doc, 'lastSeenAt'),
    userId,
  };
}

const MONGO = storeDefinition('MongoStore');

/**
 * The store's own parameters (`collection`/`collectionName`, `autoRemove`, `timeout`, `ttl`, `legacy`,
 * `legacyCollectionName`) split off a connection string, as options; the rest goes to the driver. Read as
 * text: a URL with several hosts (`mongodb://a:27017,b:27017/app`) is valid here but not to `new URL()`.
 */
function fromConnectionString(text: string): { url: string; options: MongoStoreOptions } {
  const at = text.indexOf('?');
  if (at < 0) return { url: text, options: {} };
  const query = new URLSearchParams(text.slice(at + 1));
  const protocol = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(text)?.[0]?.toLowerCase() ?? '';
  const params = readParams({ protocol, searchParams: query }, MONGO);
  const options: MongoStoreOptions = {};
  if (params.collectionName !== undefined) options.collectionName = params.collectionName as string;
  if (params.autoRemove !== undefined) options.autoRemove = params.autoRemove as boolean;
  if (params.timeout !== undefined) options.timeout = params.timeout as number;
  if (params.ttl !== undefined) options.ttl = params.ttl as number;
  if (params.legacy !== undefined) options.legacy = params.legacy as 'connect-mongo';
  if (params.legacyCollectionName !== undefined)
    options.legacyCollectionName = params.legacyCollectionName as string;
  for (const param of MONGO.params)
    for (const name of [param.name, ...(param.aliases ?? [])]) query.delete(name);
  const rest = query.toString();
  return { url: text.slice(0, at) + (rest ? `?${rest}` : ''), options };
}

/**
 * Builds a store from `mongodb://…` or `mongodb+srv://…`. sessionkit's own options ride in the query
 * string and are removed before the rest goes to the driver. The database is the URL's path. The store
 * owns the client it makes and closes it on `close()`.
 */
export async function createFromUrl(url: URL): Promise<MongoStore> {
  if (url.protocol !== 'mongodb:' && url.protocol !== 'mongodb+srv:') {
    throw new StoreUrlError(`MongoStore needs a mongodb:// or mongodb+srv:// URL, not ${url.protocol}//`);
  }
  return new MongoStore({ url: url.href });
}
