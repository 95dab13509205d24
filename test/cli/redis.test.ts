import { createClient } from 'redis';
import { createStore } from '../../src/stores/factory.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';
import { runCliSuite } from './harness.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `${runNamespace('skcli')}:`;
const url = new URL(REDIS_URL);
url.searchParams.set('prefix', prefix);
const admin = createClient({ url: REDIS_URL, socket: { connectTimeout: 3_000, reconnectStrategy: false } });
admin.on('error', () => undefined);

runCliSuite({
  name: 'Redis',
  skip: await serviceSkipReason('Redis', () => admin.connect()),
  url: () => url.href,
  open: () => createStore(url.href),
  // Redis expires the record by itself; prune only sweeps index entries it left behind.
  pruneCounts: false,
  pageSizeIsHint: true,
  cleanup: async () => {
    if (!admin.isOpen) return;
    for await (const keys of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
      if (keys.length > 0) await admin.del(keys);
    }
    await admin.quit();
  },
});
