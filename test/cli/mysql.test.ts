import mysql from 'mysql2/promise';
import { createStore } from '../../src/stores/factory.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';
import { runCliSuite } from './harness.js';

const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const table = runNamespace('sk_cli');
const url = new URL(MYSQL_URL);
url.searchParams.set('table', table);
const admin = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 1, connectTimeout: 3_000 });

runCliSuite({
  name: 'MySQL',
  skip: await serviceSkipReason('MySQL', () => admin.query('SELECT 1')),
  url: () => url.href,
  open: () => createStore(url.href),
  pruneCounts: true,
  cleanup: async () => {
    await admin.query(`DROP TABLE IF EXISTS \`${table}\`, \`${table}_epochs\``);
    await admin.end();
  },
});
