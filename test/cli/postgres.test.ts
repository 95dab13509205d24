import pg from 'pg';
import { createStore } from '../../src/stores/factory.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';
import { runCliSuite } from './harness.js';

const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const table = runNamespace('sk_cli');
const url = new URL(POSTGRES_URL);
url.searchParams.set('table', table);
const admin = new pg.Pool({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000, max: 1 });
admin.on('error', () => undefined);

runCliSuite({
  name: 'PostgreSQL',
  skip: await serviceSkipReason('PostgreSQL', () => admin.query('SELECT 1')),
  url: () => url.href,
  open: () => createStore(url.href),
  pruneCounts: true,
  cleanup: async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_epochs`);
    await admin.end();
  },
});
