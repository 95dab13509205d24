/**
 * Why: Node's timers hold at most 2^31-1 ms (about 24.8 days); a longer delay fires after 1 ms. A store
 * `timeout` past that would fail every call not answered within a millisecond (503 on a healthy
 * database), and a prune timer past it would prune in a loop. An application that writes "30 days" to
 * mean "rarely" relies on being told at start-up: the SQL and MongoDB constructors refuse such a
 * `timeout`, the SQL stores such a `pruneInterval`, with ERR_INVALID_OPTION naming the option; and a
 * mean the URL accepts (up to 2^31-1) never draws a wait longer than a timer holds.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStore } from '../../src/index.js';
import { MongoStore } from '../../src/stores/mongodb.js';
import { MySQLStore } from '../../src/stores/mysql.js';
import { PostgresStore } from '../../src/stores/postgres.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';

const OVER = 2 ** 31; // one ms past what a Node timer holds
const DAY = 24 * 3600_000;
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(() => vi.restoreAllMocks());

describe('store timeouts past what a Node timer holds', () => {
  // None of these connects: the options are checked before the first call.
  const constructors: [string, (timeout: number) => { close(): Promise<void> }][] = [
    ['SQLiteStore', (timeout) => new SQLiteStore(':memory:', { timeout, pruneInterval: false })],
    [
      'PostgresStore',
      (timeout) => new PostgresStore('postgres://127.0.0.1:1/none', { timeout, pruneInterval: false }),
    ],
    [
      'MySQLStore',
      (timeout) => new MySQLStore('mysql://root@127.0.0.1:1/none', { timeout, pruneInterval: false }),
    ],
    ['MongoStore', (timeout) => new MongoStore({ url: 'mongodb://127.0.0.1:1/none', timeout })],
  ];

  for (const [name, make] of constructors) {
    it(`${name}({ timeout: 2 ** 31 }) is refused with ERR_INVALID_OPTION`, () => {
      expect(() => make(OVER)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'timeout' }),
      );
    });

    it(`${name}({ timeout: 2 ** 31 - 1 }) is accepted`, async () => {
      const store = make(OVER - 1);
      await store.close();
    });
  }

  it('MongoStore refuses a timeout that is not a positive number', () => {
    for (const timeout of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => new MongoStore({ url: 'mongodb://127.0.0.1:1/none', timeout })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'timeout' }),
      );
  });
});

describe('SQL prune timers past what a Node timer holds', () => {
  for (const pruneInterval of [OVER, 30 * DAY, Number.POSITIVE_INFINITY]) {
    it(`pruneInterval: ${pruneInterval} is refused with ERR_INVALID_OPTION`, () => {
      expect(() => new SQLiteStore(':memory:', { pruneInterval })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'pruneInterval' }),
      );
    });
  }

  for (const [label, make] of [
    [
      'SQLiteStore(":memory:", { pruneInterval: 2 ** 31 - 1 })',
      () => new SQLiteStore(':memory:', { pruneInterval: OVER - 1 }),
    ],
    [
      'createStore("sqlite::memory:?pruneInterval=2147483647")',
      () => createStore('sqlite::memory:?pruneInterval=2147483647'),
    ],
  ] as const) {
    it(`${label} does not prune at once when the ±50% draw lands above the mean`, async () => {
      vi.spyOn(Math, 'random').mockReturnValue(0.99);
      const prune = vi.spyOn(SQLiteStore.prototype, 'prune');
      const store = (await make()) as { close(): Promise<void> };
      await wait(100);
      const prunes = prune.mock.calls.length;
      vi.restoreAllMocks();
      await store.close();
      expect(prunes).toBe(0);
    });
  }
});
