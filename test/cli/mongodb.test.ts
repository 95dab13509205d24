import { MongoClient } from 'mongodb';
import { afterAll } from 'vitest';
import { createStore } from '../../src/stores/factory.js';
import { announce, mongoTarget } from '../support/mongo/target.js';
import { runNamespace } from '../support/services.js';
import { runCliSuite } from './harness.js';

// MONGODB_URL when set, else the in-process wire-protocol stand-in, which the CLI child reaches over TCP.
const target = await mongoTarget();
announce(target, 'cli/mongodb.test.ts');
const dbName = runNamespace('sessionkit_cli');
const url = new URL(target.url);
url.pathname = `/${dbName}`;
url.searchParams.set('collectionName', 'sessions');

afterAll(async () => {
  if (target.kind === 'real') {
    const client = new MongoClient(target.url);
    await client.db(dbName).dropDatabase();
    await client.close();
  }
  await target.close();
});

runCliSuite({
  name: `MongoDB (${target.label})`,
  skip: false,
  url: () => url.href,
  open: () => createStore(url.href),
  // A real server's TTL monitor may remove the record first; the stand-in has none.
  pruneCounts: target.kind === 'stand-in',
});
