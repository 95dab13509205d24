import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { storageKey } from '../../src/core/id.js';
import { MongoStore } from '../../src/stores/mongodb.js';
import { announce, mongoTarget } from '../support/mongo/target.js';
import { runNamespace, urlVia } from '../support/services.js';
import { runStoreConformance } from './conformance.js';
import { runExpressSessionCompat } from './express-session-compat.js';

// Runs against MONGODB_URL when set, else against the in-process stand-in (test/support/mongo-wire-server.ts).
const target = await mongoTarget();
announce(target, 'mongodb.test.ts');
const dbName = runNamespace('sessionkit');
const collectionName = runNamespace('conformance');
const client = new MongoClient(target.url, { serverSelectionTimeoutMS: 5_000 });

afterAll(async () => {
  if (target.kind === 'real') await client.db(dbName).dropDatabase();
  await client.close();
  await target.close();
});

function viaAddress(host: string, port: number): string {
  const url = new URL(urlVia(target.url, host, port));
  url.pathname = `/${dbName}`;
  return url.href;
}

const address = new URL(target.url);

runStoreConformance({
  name: `MongoStore on the ${target.label}`,
  create: () => new MongoStore({ client, dbName, collectionName }),
  createPeer: () => new MongoStore({ client, dbName, collectionName }),
  // The stand-in answers in this process, on the tests' CPU: 30 trials of each create race keep the two
  // races under about a second together.
  createTrials: target.standIn ? 30 : undefined,
  async corrupt(_store, id) {
    await client
      .db(dbName)
      .collection(collectionName)
      .updateOne({ _id: storageKey(id) as never }, { $set: { data: 'not a document' } });
  },
  network:
    address.protocol === 'mongodb:'
      ? {
          host: address.hostname,
          port: Number(address.port || 27017),
          createVia: (host, port, timeoutMs) =>
            new MongoStore({ url: viaAddress(host, port), collectionName, timeout: timeoutMs }),
        }
      : undefined,
});

runExpressSessionCompat(
  `MongoStore on the ${target.label}`,
  () => new MongoStore({ client, dbName, collectionName: `${collectionName}_express` }),
);

describe.runIf(target.standIn)('the stand-in served every command above', () => {
  it('refused nothing the driver sent for MongoStore', () => {
    expect(target.standIn?.rejected).toEqual([]);
    expect(target.standIn?.commandCounts.get('update')).toBeGreaterThan(0);
  });
});
