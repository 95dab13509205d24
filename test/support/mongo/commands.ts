import { type Document, EJSON, Long, ObjectId } from 'bson';
import {
  badValue,
  commandNotFound,
  indexOptionsConflict,
  notImplemented,
  ServerError,
  unknownField,
} from './errors.js';
import { matches, sortDocuments } from './match.js';
import { type IndexSpec, MAX_BSON_SIZE, type MemoryCollection, MemoryDatabase } from './storage.js';
import { applyUpdate, upsertSeed } from './update.js';
import { valuesEqual } from './values.js';

/** Fields any command may carry: routing, sessions and concerns the driver adds on its own. */
const COMMON_FIELDS = [
  '$db',
  'lsid',
  '$clusterTime',
  '$readPreference',
  'writeConcern',
  'readConcern',
  'comment',
];

/** The wire version of MongoDB 7.0; the driver (v7) needs at least 9 (4.4). */
const MAX_WIRE_VERSION = 21;
const DEFAULT_BATCH = 101;

interface OpenCursor {
  namespace: string;
  remaining: Document[];
}

type Handler = (command: Document, db: string) => Document;

/**
 * The commands the official driver sends for sessionkit's MongoStore and for connect-mongo, over in-memory
 * databases. Each handler names the fields it understands; an unknown command or field is refused with
 * the server's own error shape, so a driver or store change that needs more shows up as a failure.
 */
export class CommandRouter {
  private readonly databases = new Map<string, MemoryDatabase>();
  private readonly cursors = new Map<number, OpenCursor>();
  private nextCursorId = 1;
  private connectionCount = 0;
  /** Never changes: this stand-in has no topology events to announce. */
  readonly topologyVersion = { processId: new ObjectId(), counter: Long.fromNumber(0) };

  private readonly handlers: Record<string, { fields: string[] | 'any'; run: Handler }> = {
    hello: { fields: 'any', run: () => this.hello() },
    isMaster: { fields: 'any', run: () => this.hello() },
    ismaster: { fields: 'any', run: () => this.hello() },
    ping: { fields: [], run: () => ({ ok: 1 }) },
    buildInfo: { fields: [], run: () => ({ version: '7.0.0', versionArray: [7, 0, 0, 0], ok: 1 }) },
    endSessions: { fields: [], run: () => ({ ok: 1 }) },
    find: {
      fields: ['filter', 'sort', 'projection', 'skip', 'limit', 'batchSize', 'singleBatch'],
      run: (cmd, db) => this.find(cmd, db),
    },
    getMore: { fields: ['collection', 'batchSize'], run: (cmd) => this.getMore(cmd) },
    killCursors: { fields: ['cursors'], run: (cmd) => this.killCursors(cmd) },
    insert: { fields: ['documents', 'ordered'], run: (cmd, db) => this.insert(cmd, db) },
    update: { fields: ['updates', 'ordered'], run: (cmd, db) => this.update(cmd, db) },
    delete: { fields: ['deletes', 'ordered'], run: (cmd, db) => this.delete(cmd, db) },
    findAndModify: {
      fields: ['query', 'remove', 'new', 'upsert'],
      run: (cmd, db) => this.findAndDelete(cmd, db),
    },
    aggregate: { fields: ['pipeline', 'cursor'], run: (cmd, db) => this.aggregate(cmd, db) },
    createIndexes: { fields: ['indexes'], run: (cmd, db) => this.createIndexes(cmd, db) },
    listIndexes: { fields: ['cursor'], run: (cmd, db) => this.listIndexes(cmd, db) },
    drop: { fields: [], run: (cmd, db) => this.drop(cmd, db) },
  };

  run(command: Document): Document {
    const name = Object.keys(command)[0];
    const handler = name === undefined ? undefined : this.handlers[name];
    if (!name || !handler) throw commandNotFound(`no such command: '${name ?? ''}'`);
    if (handler.fields !== 'any') {
      for (const field of Object.keys(command).slice(1)) {
        if (!handler.fields.includes(field) && !COMMON_FIELDS.includes(field)) {
          throw unknownField(`BSON field '${name}.${field}' is an unknown field.`);
        }
      }
    }
    return handler.run(command, String(command.$db ?? 'test'));
  }

  database(name: string): MemoryDatabase {
    let db = this.databases.get(name);
    if (!db) {
      db = new MemoryDatabase();
      this.databases.set(name, db);
    }
    return db;
  }

  private hello(): Document {
    // With topologyVersion the driver monitors through awaitable hellos (the streaming protocol), as
    // against any real server since 4.4; the wire server holds those for maxAwaitTimeMS.
    return {
      topologyVersion: this.topologyVersion,
      helloOk: true,
      isWritablePrimary: true,
      ismaster: true,
      maxBsonObjectSize: MAX_BSON_SIZE,
      maxMessageSizeBytes: 48_000_000,
      maxWriteBatchSize: 100_000,
      localTime: new Date(),
      logicalSessionTimeoutMinutes: 30,
      connectionId: ++this.connectionCount,
      minWireVersion: 0,
      maxWireVersion: MAX_WIRE_VERSION,
      readOnly: false,
      ok: 1,
    };
  }

  private collectionOf(command: Document, db: string): { collection: MemoryCollection; namespace: string } {
    const name = String(Object.values(command)[0]);
    return { collection: this.database(db).collection(name), namespace: `${db}.${name}` };
  }

  private find(cmd: Document, db: string): Document {
    if (cmd.projection && Object.keys(cmd.projection).length > 0) throw notImplemented('find projections');
    const { collection, namespace } = this.collectionOf(cmd, db);
    let docs = collection.where((doc) => matches(doc, (cmd.filter as Document) ?? {}));
    if (cmd.sort) docs = sortDocuments(docs, cmd.sort as Document);
    if (typeof cmd.skip === 'number') docs = docs.slice(cmd.skip);
    if (typeof cmd.limit === 'number' && cmd.limit > 0) docs = docs.slice(0, cmd.limit);
    return this.openCursor(namespace, docs, cmd.batchSize, cmd.singleBatch === true, 'firstBatch');
  }

  private openCursor(
    namespace: string,
    docs: Document[],
    batchSize: unknown,
    singleBatch: boolean,
    key: 'firstBatch' | 'nextBatch',
  ): Document {
    const size = typeof batchSize === 'number' && batchSize > 0 ? batchSize : DEFAULT_BATCH;
    const batch = docs.slice(0, size);
    let id = 0;
    if (!singleBatch && docs.length > size) {
      id = this.nextCursorId++;
      this.cursors.set(id, { namespace, remaining: docs.slice(size) });
    }
    return { cursor: { [key]: batch, id: Long.fromNumber(id), ns: namespace }, ok: 1 };
  }

  private getMore(cmd: Document): Document {
    const id = Number(cmd.getMore);
    const cursor = this.cursors.get(id);
    if (!cursor) throw new ServerError(43, 'CursorNotFound', `cursor id ${id} not found`);
    const size =
      typeof cmd.batchSize === 'number' && cmd.batchSize > 0 ? cmd.batchSize : cursor.remaining.length;
    const batch = cursor.remaining.splice(0, size);
    if (cursor.remaining.length === 0) this.cursors.delete(id);
    const nextId = cursor.remaining.length === 0 ? 0 : id;
    return { cursor: { nextBatch: batch, id: Long.fromNumber(nextId), ns: cursor.namespace }, ok: 1 };
  }

  private killCursors(cmd: Document): Document {
    const killed: Long[] = [];
    const notFound: Long[] = [];
    for (const raw of (cmd.cursors as unknown[]) ?? []) {
      const id = Number(raw);
      (this.cursors.delete(id) ? killed : notFound).push(Long.fromNumber(id));
    }
    return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
  }

  private insert(cmd: Document, db: string): Document {
    const { collection, namespace } = this.collectionOf(cmd, db);
    const docs = (cmd.documents as Document[]) ?? [];
    const writeErrors: Document[] = [];
    let n = 0;
    for (const [index, doc] of docs.entries()) {
      try {
        for (const key of Object.keys(doc)) {
          if (key.startsWith('$')) throw badValue(`Document can't have $ prefixed field names: ${key}`);
        }
        collection.insert(doc, namespace);
        n++;
      } catch (error) {
        writeErrors.push(writeError(index, error));
        if (cmd.ordered !== false) break;
      }
    }
    return writeErrors.length > 0 ? { n, writeErrors, ok: 1 } : { n, ok: 1 };
  }

  private update(cmd: Document, db: string): Document {
    const { collection, namespace } = this.collectionOf(cmd, db);
    const writeErrors: Document[] = [];
    const upserted: Document[] = [];
    let n = 0;
    let nModified = 0;
    for (const [index, statement] of ((cmd.updates as Document[]) ?? []).entries()) {
      try {
        for (const field of Object.keys(statement)) {
          if (!['q', 'u', 'upsert', 'multi'].includes(field))
            throw notImplemented(`update statement field '${field}'`);
        }
        const update = statement.u as Document;
        if (Array.isArray(update)) throw notImplemented('pipeline-style updates');
        const replacing = !Object.keys(update).some((key) => key.startsWith('$'));
        if (replacing && statement.multi)
          throw badValue('multi update is not supported for replacement-style update');
        const targets = collection.where((doc) => matches(doc, statement.q as Document));
        const chosen = statement.multi ? targets : targets.slice(0, 1);
        if (chosen.length === 0 && statement.upsert) {
          const doc = applyUpdate(upsertSeed(statement.q as Document, update), update, true);
          collection.insert(doc, namespace);
          upserted.push({ index, _id: doc._id });
          n++;
          continue;
        }
        for (const doc of chosen) {
          const next = applyUpdate(doc, update, false);
          n++;
          // A real server reports nModified 0 for an update that leaves the document byte-for-byte the same.
          if (!valuesEqual(next, doc) || Object.keys(next).join() !== Object.keys(doc).join()) {
            collection.replace(next);
            nModified++;
          }
        }
      } catch (error) {
        writeErrors.push(writeError(index, error));
        if (cmd.ordered !== false) break;
      }
    }
    const reply: Document = { n, nModified };
    if (upserted.length > 0) reply.upserted = upserted;
    if (writeErrors.length > 0) reply.writeErrors = writeErrors;
    return { ...reply, ok: 1 };
  }

  private delete(cmd: Document, db: string): Document {
    const { collection } = this.collectionOf(cmd, db);
    let n = 0;
    for (const statement of (cmd.deletes as Document[]) ?? []) {
      for (const field of Object.keys(statement)) {
        if (!['q', 'limit'].includes(field)) throw notImplemented(`delete statement field '${field}'`);
      }
      const targets = collection.where((doc) => matches(doc, statement.q as Document));
      for (const doc of statement.limit === 1 ? targets.slice(0, 1) : targets) {
        if (collection.remove(doc._id)) n++;
      }
    }
    return { n, ok: 1 };
  }

  /** Only the `remove: true` form (findOneAndDelete); updating forms are refused. */
  private findAndDelete(cmd: Document, db: string): Document {
    if (cmd.remove !== true || cmd.new === true || cmd.upsert === true) {
      throw notImplemented('findAndModify other than { remove: true }');
    }
    const { collection } = this.collectionOf(cmd, db);
    const doc = collection.where((candidate) => matches(candidate, (cmd.query as Document) ?? {}))[0];
    if (doc) collection.remove(doc._id);
    return { lastErrorObject: { n: doc ? 1 : 0 }, value: doc ?? null, ok: 1 };
  }

  /** `$match`, `$skip`, `$limit` and the `$group {_id: <const>, n: {$sum: 1}}` that countDocuments sends. */
  private aggregate(cmd: Document, db: string): Document {
    const { collection, namespace } = this.collectionOf(cmd, db);
    let docs = collection.all();
    for (const stage of (cmd.pipeline as Document[]) ?? []) {
      const [name, spec] = Object.entries(stage)[0] ?? [];
      if (name === '$match') docs = docs.filter((doc) => matches(doc, spec as Document));
      else if (name === '$skip') docs = docs.slice(Number(spec));
      else if (name === '$limit') docs = docs.slice(0, Number(spec));
      else if (name === '$group' && isCountGroup(spec as Document)) {
        const group = spec as Document;
        const outField = Object.keys(group).find((key) => key !== '_id') as string;
        docs = docs.length === 0 ? [] : [{ _id: group._id, [outField]: docs.length }];
      } else throw notImplemented(`aggregation stage ${name} ${EJSON.stringify(spec)}`);
    }
    const batchSize = (cmd.cursor as Document | undefined)?.batchSize;
    return this.openCursor(namespace, docs, batchSize, false, 'firstBatch');
  }

  private createIndexes(cmd: Document, db: string): Document {
    const database = this.database(db);
    const name = String(cmd.createIndexes);
    const existed = database.collections.has(name);
    const collection = database.collection(name);
    const before = collection.indexes.length;
    for (const raw of (cmd.indexes as Document[]) ?? []) {
      for (const field of Object.keys(raw)) {
        if (!['key', 'name', 'expireAfterSeconds', 'background', 'v'].includes(field)) {
          throw notImplemented(`index option '${field}'`);
        }
      }
      const spec: IndexSpec = { key: raw.key as Document, name: String(raw.name) };
      if (typeof raw.expireAfterSeconds === 'number') spec.expireAfterSeconds = raw.expireAfterSeconds;
      const sameName = collection.indexes.find((index) => index.name === spec.name);
      const sameKey = collection.indexes.find(
        (index) => EJSON.stringify(index.key) === EJSON.stringify(spec.key),
      );
      if (sameName && EJSON.stringify(sameName.key) !== EJSON.stringify(spec.key)) {
        throw new ServerError(
          86,
          'IndexKeySpecsConflict',
          `An existing index has the same name as the requested index: ${spec.name}`,
        );
      }
      const existing = sameName ?? sameKey;
      if (existing) {
        if (existing.name !== spec.name || existing.expireAfterSeconds !== spec.expireAfterSeconds) {
          throw indexOptionsConflict(
            `An equivalent index already exists with a different name and options: ${existing.name}`,
          );
        }
        continue;
      }
      collection.indexes.push(spec);
    }
    const after = collection.indexes.length;
    const reply: Document = {
      numIndexesBefore: before,
      numIndexesAfter: after,
      createdCollectionAutomatically: !existed,
    };
    if (before === after) reply.note = 'all indexes already exist';
    return { ...reply, ok: 1 };
  }

  private listIndexes(cmd: Document, db: string): Document {
    const name = String(cmd.listIndexes);
    const collection = this.database(db).collections.get(name);
    if (!collection) throw new ServerError(26, 'NamespaceNotFound', `ns does not exist: ${db}.${name}`);
    const docs = collection.indexes.map((index) => ({ v: 2, ...index }));
    return this.openCursor(`${db}.${name}`, docs, undefined, false, 'firstBatch');
  }

  private drop(cmd: Document, db: string): Document {
    // Since 7.0 dropping a collection that does not exist succeeds.
    this.database(db).collections.delete(String(cmd.drop));
    return { ok: 1 };
  }
}

function isCountGroup(spec: Document): boolean {
  const fields = Object.keys(spec).filter((key) => key !== '_id');
  if (fields.length !== 1) return false;
  const accumulator = spec[fields[0] as string] as Document;
  return typeof accumulator === 'object' && accumulator !== null && accumulator.$sum === 1;
}

function writeError(index: number, error: unknown): Document {
  if (!(error instanceof ServerError)) throw error;
  const entry: Document = { index, code: error.code, codeName: error.codeName, errmsg: error.message };
  if (error.code === 11000) entry.keyPattern = { _id: 1 };
  return entry;
}
