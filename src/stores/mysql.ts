import type {
  Pool as CallbackPool,
  Pool,
  PoolConnection,
  PoolOptions,
  ResultSetHeader,
  RowDataPacket,
} from 'mysql2';
import type { Pool as PromisePool, PoolConnection as PromisePoolConnection } from 'mysql2/promise';
import mysql from 'mysql2/promise';
import { InvalidUserIdError, OptionsError, StoreUrlError } from '../core/errors.js';
import { DEFAULT_STORE_TIMEOUT_MS, isConnectionError } from './contract.js';
import { maskCredentials } from './credentials.js';
import { readParams, storeDefinition } from './registry.js';
import {
  checkIdentifier,
  DEFAULT_TABLE,
  driveAsync,
  type ExpressMysqlSessionLayout,
  expressMysqlSessionStatements,
  legacyFromParams,
  MYSQL_USER_ID_MAX_CHARS,
  mysqlTableSetup,
  quoteIdentifier,
  type Row,
  retryTransaction,
  type SqlConnection,
  type SqlExecutor,
  SqlStore,
  type SqlStoreOptions,
  sqlOptionsFromParams,
  type TxBody,
} from './sql.js';

export interface MySQLStoreOptions extends SqlStoreOptions {
  /**
   * Read express-mysql-session's table when the native record is missing, and move each session to the
   * native layout on its next write. A string selects the default names (`sessions(session_id, expires, data)`).
   */
  legacy?: 'express-mysql-session' | ExpressMysqlSessionLayout;
}

const DEFAULT_PRUNE_MS = 900_000;
/**
 * Codes that mean the connection is gone, never came, or stopped answering (mysql2's own), or that the
 * server gave up waiting for a lock another transaction held past the store's timeout.
 */
const UNAVAILABLE_CODES = new Set([
  'ER_LOCK_WAIT_TIMEOUT',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ETIMEDOUT',
]);

type AnyPool = PromisePool | CallbackPool | Pool;

class MysqlExecutor implements SqlExecutor {
  constructor(
    private readonly pool: PromisePool,
    private readonly owned: boolean,
    private readonly timeoutMs: number,
  ) {}

  all(sql: string, params: readonly unknown[]): Promise<Row[]> {
    return this.withConnection(async (conn) => (await this.query(conn, sql, params)) as Row[]);
  }

  run(sql: string, params: readonly unknown[]): Promise<number> {
    // A statement InnoDB chose as a deadlock's victim was rolled back whole: running it again is safe.
    return retryTransaction(
      () =>
        this.withConnection(
          async (conn) => ((await this.query(conn, sql, params)) as ResultSetHeader).affectedRows,
        ),
      isTransactionConflict,
    );
  }

  transaction<T>(body: () => TxBody<T>): Promise<T> {
    return retryTransaction(() => this.transactionOnce(body), isTransactionConflict);
  }

  isUnavailable(error: unknown): boolean {
    if (isConnectionError(error)) return true;
    const { code, fatal } = (error ?? {}) as { code?: unknown; fatal?: unknown };
    // mysql2 flags errors that broke the connection itself as fatal.
    return (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) || fatal === true;
  }

  isDuplicateKey(error: unknown): boolean {
    return (error as { code?: unknown } | null)?.code === 'ER_DUP_ENTRY';
  }

  async close(): Promise<void> {
    if (this.owned) await this.pool.end();
  }

  destroy(): void {
    if (!this.owned) return;
    // mysql2 has no public way to drop a pool's sockets; `_allConnections` holds every connection, idle,
    // busy or still in its handshake.
    const all = (
      this.pool.pool as unknown as { _allConnections?: { length: number; get(i: number): unknown } }
    )._allConnections;
    if (!all) return;
    const connections: unknown[] = [];
    for (let i = 0; i < all.length; i++) connections.push(all.get(i));
    for (const connection of connections) (connection as { destroy?(): void }).destroy?.();
  }

  private transactionOnce<T>(body: () => TxBody<T>): Promise<T> {
    return this.withConnection(async (conn) => {
      await conn.query({ sql: 'START TRANSACTION', timeout: this.timeoutMs });
      try {
        const tx: SqlConnection = {
          all: async (sql, params) => (await this.query(conn, sql, params)) as Row[],
          run: async (sql, params) => ((await this.query(conn, sql, params)) as ResultSetHeader).affectedRows,
        };
        const result = await driveAsync(tx, body);
        await conn.query({ sql: 'COMMIT', timeout: this.timeoutMs });
        return result;
      } catch (error) {
        // A broken connection has aborted the transaction already, and is destroyed on release.
        if (!this.isUnavailable(error))
          await conn.query({ sql: 'ROLLBACK', timeout: this.timeoutMs }).catch(() => undefined);
        throw error;
      }
    });
  }

  private async query(
    conn: PromisePoolConnection,
    sql: string,
    params: readonly unknown[],
  ): Promise<RowDataPacket[] | ResultSetHeader> {
    // `timeout` makes mysql2 give up on (and destroy) a connection whose server stopped answering.
    const [result] = await conn.query<RowDataPacket[] | ResultSetHeader>({
      sql,
      values: params as unknown[],
      timeout: this.timeoutMs,
    });
    return result;
  }

  /** One pooled connection per call; destroyed, never handed back, when it broke or stopped answering. */
  private async withConnection<T>(fn: (conn: PromisePoolConnection) => Promise<T>): Promise<T> {
    // A duration, so the monotonic clock: a wall-clock step (NTP) must not time out a call or prolong it.
    const started = performance.now();
    const conn = await this.pool.getConnection();
    let done = false;
    const finish = (broken: boolean) => {
      if (done) return;
      done = true;
      if (broken) conn.destroy();
      else conn.release();
    };
    const timer = setTimeout(() => finish(true), this.timeoutMs + 100);
    timer.unref();
    try {
      // The caller has given up already (its timeout passed while the pool was busy): run nothing late.
      if (performance.now() - started >= this.timeoutMs)
        throw Object.assign(new Error('sessionkit: no connection within the timeout'), { code: 'ETIMEDOUT' });
      const result = await fn(conn);
      finish(false);
      return result;
    } catch (error) {
      finish(this.isUnavailable(error));
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT is not retried: the wait already used the caller's time. */
function isTransactionConflict(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ER_LOCK_DEADLOCK';
}

function toPromisePool(client: AnyPool): PromisePool {
  const candidate = client as { promise?: () => PromisePool };
  return typeof candidate.promise === 'function' ? candidate.promise() : (client as PromisePool);
}

function isPool(value: unknown): value is AnyPool {
  return typeof value === 'object' && value !== null && typeof (value as Pool).getConnection === 'function';
}

/**
 * Sessions in a MySQL or MariaDB table (mysql2). Takes a mysql2 pool (promise or callback flavour; yours:
 * `close()` leaves it open), a connection URL or pool options (the store's own pool; `close()` ends it).
 */
export class MySQLStore extends SqlStore {
  readonly pool: PromisePool;

  /**
   * A URL may carry the store's own options as parameters (`?table=…`), as with `createStore()`; options
   * given here win over them.
   */
  constructor(client: AnyPool | string | PoolOptions, options: MySQLStoreOptions = {}) {
    if (typeof client === 'string') [client, options] = fromUrlString(client, options);
    const timeout = options.timeout ?? DEFAULT_STORE_TIMEOUT_MS;
    const table = checkIdentifier('table', options.table ?? DEFAULT_TABLE);
    if (options.legacy !== undefined) {
      const layout = typeof options.legacy === 'string' ? options.legacy : options.legacy.layout;
      if (layout !== 'express-mysql-session')
        throw new OptionsError('legacy', "must be 'express-mysql-session'");
    }
    const legacy =
      options.legacy === undefined
        ? null
        : expressMysqlSessionStatements(
            typeof options.legacy === 'string' ? { layout: options.legacy } : options.legacy,
          );
    const owned = !isPool(client);
    let pool: PromisePool;
    if (isPool(client)) pool = toPromisePool(client);
    else if (typeof client === 'object' && client !== null) pool = createPool(client, timeout);
    else throw new OptionsError('client', 'must be a mysql2 pool, a mysql:// URL or pool options');
    super(options, {
      dialect: 'mysql',
      executor: new MysqlExecutor(pool, owned, timeout),
      table: quoteIdentifier('mysql', table),
      setup: options.createTable === false ? [] : [mysqlTableSetup(table)],
      legacy,
      pruneInterval: options.pruneInterval ?? DEFAULT_PRUNE_MS,
    });
    this.pool = pool;
  }

  /** Also refuses what `varchar(255)` cannot hold: over 255 characters (ERR_INVALID_USER). */
  override checkUserId(userId: string): void {
    super.checkUserId(userId);
    if (userId.length > MYSQL_USER_ID_MAX_CHARS && [...userId].length > MYSQL_USER_ID_MAX_CHARS)
      throw new InvalidUserIdError(
        `it is over ${MYSQL_USER_ID_MAX_CHARS} characters, the most this store holds`,
      );
  }
}

function createPool(options: PoolOptions, timeout: number): PromisePool {
  const pool = mysql.createPool({
    connectTimeout: timeout,
    connectionLimit: 10,
    enableKeepAlive: true,
    charset: 'utf8mb4_bin',
    ...options,
  });
  // READ COMMITTED: a locking read of a missing row takes no gap lock, so concurrent first writes of
  // different sessions do not deadlock each other. Only on the store's own pool.
  // A transaction locks rows (a session's, a user's epoch) between statements. If its app server is lost
  // mid-way (a crashed host sends no FIN), the server would keep it open, and its locks, for hours
  // (`wait_timeout`): the user could not log out or in meanwhile. Past the store's timeout the store has
  // given up on the call anyway, so a lock wait stops then, and MariaDB (10.3+) ends a transaction left
  // idle that long; MySQL has no such setting (docs/stores/sql.md).
  // The promise pool forwards the core pool's event, whose connection has the callback API.
  const seconds = Math.min(Math.max(1, Math.ceil(timeout / 1000)), 31_536_000);
  pool.pool.on('connection', (conn: PoolConnection) => {
    conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', () => undefined);
    conn.query(`SET SESSION innodb_lock_wait_timeout = ${seconds}`, () => undefined);
    // Unknown on MySQL: the error is expected there, and changes nothing.
    conn.query(`SET SESSION idle_transaction_timeout = ${seconds}`, () => undefined);
  });
  return pool;
}

/** Node's own URL error carries the whole URL, password included, as `input`: never let it out. */
function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new OptionsError('client', `is not a valid mysql:// URL: ${JSON.stringify(maskCredentials(url))}`);
  }
}

function poolOptionsFromUrl(url: URL): PoolOptions {
  const options: PoolOptions = { host: url.hostname || '127.0.0.1' };
  if (url.port) options.port = Number(url.port);
  if (url.username) options.user = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database) options.database = database;
  return options;
}

const MYSQL = storeDefinition('MySQLStore');

function fromUrlString(text: string, options: MySQLStoreOptions): [PoolOptions, MySQLStoreOptions] {
  const url = parseUrl(text);
  const params = readParams(url, MYSQL);
  const fromUrl: MySQLStoreOptions = sqlOptionsFromParams(params);
  const legacy = legacyFromParams(params);
  if (legacy !== undefined) fromUrl.legacy = legacy as MySQLStoreOptions['legacy'];
  return [poolOptionsFromUrl(url), { ...fromUrl, ...options }];
}

/**
 * `mysql://user:pass@host:3306/db?table=…&legacy=express-mysql-session&legacyTable=sessions`
 * (`mariadb://` alike). Only host, port, user, password and database reach mysql2.
 */
export async function createFromUrl(url: URL): Promise<MySQLStore> {
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:')
    throw new StoreUrlError(`not a mysql: or mariadb: URL: ${url.protocol}`);
  return new MySQLStore(url.href);
}
