import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { OptionsError, StoreUrlError } from '../core/errors.js';
import { inTurn } from '../core/turns.js';
import { DEFAULT_STORE_TIMEOUT_MS } from './contract.js';
import { readParams, storeDefinition } from './registry.js';
import {
  addEpochColumnSql,
  checkIdentifier,
  createTableSql,
  DEFAULT_TABLE,
  quoteIdentifier,
  type Row,
  type SqlExecutor,
  SqlStore,
  type SqlStoreOptions,
  STORE_CLOSED,
  sqlOptionsFromParams,
  type TxBody,
} from './sql.js';

export interface SQLiteStoreOptions extends SqlStoreOptions {
  /** How long a writer waits for another process's lock before SQLITE_BUSY (ms). Default: `timeout`. */
  busyTimeout?: number;
}

export const DEFAULT_SQLITE_PATH = './data/sessions.db';
/** SQLite prunes cheaply and locally, so it runs more often than the network stores. */
const DEFAULT_PRUNE_MS = 300_000;

type Db = Database.Database;

/**
 * The longest one statement waits inside SQLite for another process's lock. better-sqlite3 is synchronous,
 * so that wait blocks the event loop: a wait of `busyTimeout` would freeze every request of the process,
 * and no timer (not even `timeout`'s) could fire. Longer waits are made of such slices, with the loop
 * free between them.
 */
const BUSY_SLICE_MS = 20;

/** better-sqlite3 is synchronous: every statement, and every transaction body, runs to completion at once. */
class SqliteExecutor implements SqlExecutor {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Db,
    private readonly owned: boolean,
    /** How long a call may keep retrying a lock another process holds (`busyTimeout`). */
    private readonly busyMs: number,
  ) {}

  all(sql: string, params: readonly unknown[]): Promise<Row[]> {
    // A read takes no write lock (WAL): it goes ahead of calls waiting for one.
    return this.whenFree(() => this.prepare(sql).all(...params) as Row[], true);
  }

  run(sql: string, params: readonly unknown[]): Promise<number> {
    return this.whenFree(() => this.prepare(sql).run(...params).changes, false);
  }

  transaction<T>(makeBody: () => TxBody<T>): Promise<T> {
    // A transaction that met a lock rolled back whole: it runs again from a fresh body.
    return this.whenFree(() => this.runTransaction(makeBody), false);
  }

  /** Calls of this process waiting for another process's lock, and the turn they take one at a time. */
  private waiting = 0;
  private readonly queue: { turn: Promise<void> | null } = { turn: null };
  /** Whether the last try of a waiting call met the lock (the next waiter pauses before its try). */
  private locked = false;

  /**
   * Runs `attempt`; while another process holds the lock, again after a pause, until `busyMs` has
   * passed since the call began. Waiting calls take turns, one try at a time: each try may block the loop
   * for a slice, and calls trying side by side would block it for a slice each. A write that arrives
   * while others wait joins the queue; a read goes ahead (WAL readers take no lock).
   */
  private async whenFree<T>(attempt: () => T, read: boolean): Promise<T> {
    if (read || this.waiting === 0) {
      try {
        return attempt();
      } catch (error) {
        if (!isBusy(error) || this.busyMs <= BUSY_SLICE_MS) throw error;
      }
    }
    // On the monotonic clock: a wall clock stepped back would keep a write answered 503 retrying, and
    // landing once the lock goes.
    const deadline = performance.now() + this.busyMs - BUSY_SLICE_MS;
    this.waiting++;
    try {
      for (let pause = 2; ; pause = Math.min(pause * 2, BUSY_SLICE_MS)) {
        const tried = await inTurn(this.queue, 'turn', async () => {
          if (this.locked) await sleep(pause);
          if (!this.db.open) throw closedError();
          try {
            const result = attempt();
            this.locked = false;
            return { result };
          } catch (error) {
            if (!isBusy(error)) throw error;
            this.locked = true;
            if (performance.now() >= deadline) throw error;
            return null;
          }
        });
        if (tried !== null) return tried.result;
      }
    } finally {
      this.waiting--;
    }
  }

  private runTransaction<T>(makeBody: () => TxBody<T>): T {
    const drive = () => {
      const body = makeBody();
      let next = body.next();
      while (!next.done) {
        const { kind, sql, params } = next.value;
        const statement = this.prepare(sql);
        next = body.next(kind === 'all' ? statement.all(...params) : statement.run(...params).changes);
      }
      return next.value;
    };
    // IMMEDIATE takes the write lock up front, so another process cannot write between our read and write.
    return this.db.transaction(drive).immediate();
  }

  isUnavailable(error: unknown): boolean {
    const code = (error as { code?: unknown } | null)?.code;
    return isBusy(error) || code === 'SQLITE_LOCKED' || code === 'ERR_STORE_CLOSED';
  }

  isDuplicateKey(error: unknown): boolean {
    // Only a key taken: a CHECK, NOT NULL or trigger refusal is a store failure, not an ID collision.
    const code = (error as { code?: unknown } | null)?.code;
    return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
  }

  async close(): Promise<void> {
    if (this.owned && this.db.open) this.db.close();
  }

  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/** A call that was waiting for a lock when the store was closed: unavailable, as after close(). */
function closedError(): Error {
  return Object.assign(new Error(STORE_CLOSED), { code: 'ERR_STORE_CLOSED' });
}

/** SQLITE_BUSY and its extended codes: another connection holds the lock this statement needs. */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** A table made before the revocation epoch gets its `epoch` column (existing sessions: no stamp). */
function addEpochColumn(db: Db, table: string): void {
  const quoted = quoteIdentifier('sqlite', table);
  const columns = db.pragma(`table_info(${quoted})`) as Array<{ name: string }>;
  if (!columns.some((c) => c.name === 'epoch')) db.exec(addEpochColumnSql('sqlite', quoted));
}

function openDatabase(path: string): Db {
  if (path !== ':memory:' && path !== '') mkdirSync(dirname(resolve(path)), { recursive: true });
  return new Database(path);
}

/**
 * Sessions in one SQLite file (better-sqlite3): WAL journal, a busy timeout for other processes,
 * prepared statements, and a pruning timer off the request path. The embedded default for apps.
 */
export class SQLiteStore extends SqlStore {
  /** The better-sqlite3 handle, for inspection and tests. */
  readonly db: Db;
  /**
   * The `busyTimeout` option: how long a call waits for another process's lock, in slices, before failing
   * with 503 (ms). A call's retries also end 100 ms before its `timeout`, whichever comes first.
   */
  readonly busyTimeout: number;

  /**
   * `target`: a file path (default `./data/sessions.db`, its directory created), `:memory:`, an open
   * Database, or a `sqlite:` URL with the store's options as parameters, as with `createStore()` (options
   * given here win over them).
   */
  constructor(target: string | Db = DEFAULT_SQLITE_PATH, options: SQLiteStoreOptions = {}) {
    if (typeof target === 'string' && target.startsWith('sqlite:'))
      [target, options] = fromUrl(target, options);
    const owned = typeof target === 'string';
    if (!owned && typeof (target as Partial<Db> | null)?.pragma !== 'function') {
      throw new OptionsError('target', 'must be a file path, ":memory:", or an open better-sqlite3 Database');
    }
    const table = checkIdentifier('table', options.table ?? DEFAULT_TABLE);
    const timeout = options.timeout ?? DEFAULT_STORE_TIMEOUT_MS;
    const busy = options.busyTimeout ?? timeout;
    if (!(Number.isInteger(busy) && busy >= 0))
      throw new OptionsError('busyTimeout', 'must be a whole number of milliseconds');
    const db = typeof target === 'string' ? openDatabase(target) : target;
    try {
      // The setup below runs once, inside the constructor (synchronous anyway): it may wait out all of
      // busyTimeout for a process that holds the lock on a new file. Calls afterwards wait in slices.
      db.pragma(`busy_timeout = ${busy}`);
      if (owned) {
        db.pragma('journal_mode = WAL');
        // With WAL, NORMAL loses no committed data on an application crash, only on power loss.
        db.pragma('synchronous = NORMAL');
      }
      if (options.createTable !== false) {
        for (const ddl of createTableSql('sqlite', table)) db.exec(ddl);
        addEpochColumn(db, table);
      }
      db.pragma(`busy_timeout = ${Math.min(busy, BUSY_SLICE_MS)}`);
    } catch (error) {
      if (owned) db.close();
      throw error;
    }
    super(options, {
      dialect: 'sqlite',
      // Retries end before the call's own timeout: a call already answered 503 must not land later.
      executor: new SqliteExecutor(db, owned, Math.min(busy, Math.max(0, timeout - 100))),
      table: quoteIdentifier('sqlite', table),
      setup: [],
      legacy: null,
      pruneInterval: options.pruneInterval ?? DEFAULT_PRUNE_MS,
    });
    this.db = db;
    this.busyTimeout = busy;
  }
}

const SQLITE = storeDefinition('SQLiteStore');

function fromUrl(text: string, options: SQLiteStoreOptions): [string, SQLiteStoreOptions] {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new StoreUrlError('not a sqlite: URL: use sqlite:relative.db or sqlite:///abs/path.db');
  }
  if (url.hostname && url.hostname !== 'localhost')
    throw new StoreUrlError(
      'a sqlite: URL names a local file: use sqlite:relative.db or sqlite:///abs/path.db',
    );
  const path = decodeURIComponent(url.pathname);
  if (!path) throw new StoreUrlError('a sqlite: URL needs a file path or :memory:');
  const params = readParams(url, SQLITE);
  const fromParams: SQLiteStoreOptions = sqlOptionsFromParams(params);
  if (params.busyTimeout !== undefined) fromParams.busyTimeout = params.busyTimeout as number;
  return [path, { ...fromParams, ...options }];
}

/** `sqlite:relative/path.db`, `sqlite:///absolute/path.db`, `sqlite::memory:`; `?table=…&timeout=…`. */
export async function createFromUrl(url: URL): Promise<SQLiteStore> {
  if (url.protocol !== 'sqlite:') throw new StoreUrlError(`not a sqlite: URL: ${url.protocol}`);
  return new SQLiteStore(url.href);
}
