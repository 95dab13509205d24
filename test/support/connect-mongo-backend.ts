/**
 * A connect-mongo 6 backend in the shape of test/support/migration-apps.ts's `Backend`: the anchor is
 * connect-mongo's MongoStore (express-session store; with sessionkit, the bridge), `native` is sessionkit's
 * MongoStore with `legacy: 'connect-mongo'` reading the anchor's collection. Runs on MONGODB_URL when set,
 * else the in-process wire-protocol stand-in (test/support/mongo-wire-server.ts).
 */
import ConnectMongo from 'connect-mongo';
import { type Document, MongoClient } from 'mongodb';
import type { ExpressStoreLike } from '../../src/index.js';
import { MongoStore } from '../../src/stores/mongodb.js';
import type { Backend } from './migration-apps.js';
import { type MongoTarget, mongoTarget } from './mongo/target.js';
import { runNamespace } from './services.js';

export interface ConnectMongoOptions {
  stringify?: boolean;
  touchAfter?: number;
  ttl?: number;
  autoRemove?: 'native' | 'interval' | 'disabled';
  collectionName?: string;
}

export interface MongoBackend extends Backend {
  native: MongoStore;
  /** The raw connect-mongo document of `sid`, or null. */
  legacyDoc(id: string): Promise<Document | null>;
  /** connect-mongo's own options, as given. */
  cmOptions: ConnectMongoOptions;
}

let shared: { target: MongoTarget; client: MongoClient; users: number } | null = null;

export async function mongoShared() {
  if (!shared) {
    const target = await mongoTarget();
    const client = new MongoClient(target.url, { serverSelectionTimeoutMS: 5_000 });
    shared = { target, client, users: 0 };
  }
  return shared;
}

export async function releaseMongo(): Promise<void> {
  if (!shared) return;
  const s = shared;
  shared = null;
  await s.client.close().catch(() => {});
  await s.target.close();
}

export async function openConnectMongo(options: ConnectMongoOptions = {}): Promise<MongoBackend> {
  const { client } = await mongoShared();
  const dbName = runNamespace('cmongo');
  const legacyCollectionName = options.collectionName ?? 'sessions';
  const anchor = ConnectMongo.create({
    client,
    dbName,
    collectionName: legacyCollectionName,
    ...(options.stringify === undefined ? {} : { stringify: options.stringify }),
    ...(options.touchAfter === undefined ? {} : { touchAfter: options.touchAfter }),
    ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
    ...(options.autoRemove === undefined ? {} : { autoRemove: options.autoRemove }),
  });
  const native = new MongoStore({
    client,
    dbName,
    collectionName: 'sessionkit_sessions',
    legacy: 'connect-mongo',
    legacyCollectionName,
  });
  const legacyDoc = async (id: string) =>
    (await client
      .db(dbName)
      .collection<Document & { _id: string }>(legacyCollectionName)
      .findOne({ _id: id })) as Document | null;
  return {
    anchor: anchor as unknown as ExpressStoreLike,
    native,
    cmOptions: options,
    legacyDoc,
    legacyRaw: async (id) => {
      const doc = await legacyDoc(id);
      if (!doc) return null;
      return typeof doc.session === 'string' ? JSON.parse(doc.session) : doc.session;
    },
    close: async () => {
      await native.close().catch(() => {});
      if (shared?.target.kind === 'real')
        await client
          .db(dbName)
          .dropDatabase()
          .catch(() => {});
    },
  };
}
