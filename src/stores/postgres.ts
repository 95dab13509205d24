import { createHash } from 'node:crypto';
import type { Pool, PoolClient, PoolConfig, QueryResult } from 'pg';
import pg from 'pg';
import { OptionsError, StoreUrlError } from '../core/errors.js';
import { DEFAULT_STORE_TIMEOUT_MS, isConnectionError } from './contract.js';
import { driverUrl, readParams, storeDefinition } from './registry.js';
import {
  type ConnectPgSimpleLayout,
  checkIdentifier,
  connectPgSimpleStatements,
  createTableSql,
  DEFAULT_TABLE,
  driveAsync,
  legacyFromParams,
  quoteIdentifier,
  type Row,
  retryTransaction,
  SQL_USER_ID_MAX_BYTES,
  type SqlConnection,
  type SqlExecutor,
  SqlStore,
  type SqlStoreOptions,
  sqlOptionsFromParams,
  type TxBody,
} from './sql.js';

export interface PostgresStoreOptions extends SqlStoreOptions {
  /** Schema of the native table; default: the connection's search_path. */
  schema?: string;
  /**
   * Read connect-pg-simple's table when the native record is missing, and move each session to the
   * native layout on its next write. A string selects the default names (`session(sid, sess, expire)`).
   */
  legacy?: 'connect-pg-simple' | ConnectPgSimpleLayout;
  /** Settings for the pool the store creates from a connection string (ignored when you pass a Pool). */
  pool?: Omit<PoolConfig, 'connectionString'>;
  /** Use named prepared statements. Turn off behind PgBouncer in transaction mode. Default true. */
  preparedStatements?: boolean;
}

const DEFAULT_PRUNE_MS = 900_000;
/** Messages of pg's own (non-server) errors that mean the connection is gone or never came. */
const CONNECTION_MESSAGE =
  /connection terminated|connection ended|not queryable|timeout exceeded when trying to connect|connection timeout|query read timeout|sessionkit: query timed out/i;
const DDL_RACE_CODES = new Set(['23505', '42P07', '42710']);
/**
 * lock_not_available (a lock wait ran past `lock_timeout`) and idle_in_transaction_session_timeout (the
 * server ended a transaction whose client stopped sending): the store could not answer in time.
 */
const TIMED_OUT_CODES = new Set(['55P03', '25P03']);

class PgExecutor implements SqlExecutor {
  private readonly texts = new Map<string, { text: string; name?: string }>();
  /**
   * A transaction locks rows (a session's, a user's epoch) between statements. If its app server is lost
   * mid-way (a crashed host sends no FIN), PostgreSQL would keep that transaction open, and its locks,
   * until TCP keepalive notices, hours later: the user could not log out or in meanwhile. Bounded here,
   * on any pool (yours too), to the store's timeout, past which the store has given up on the call
   * anyway: the server ends such a transaction, and a statement waiting on a lock stops waiting. One
   * simple-protocol query, so no extra round trip.
   */
  private readonly begin: string;

  constructor(
    private readonly pool: Pool,
    private readonly owned: boolean,
    private readonly timeoutMs: number,
    private readonly prepared: boolean,
  ) {
    const ms = serverTimeout(timeoutMs);
    this.begin = `BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${ms}; SET LOCAL lock_timeout = ${ms}`;
  }

  all(sql: string, params: readonly unknown[]): Promise<Row[]> {
    return this.withClient(async (client) => (await this.query(client, sql, params)).rows);
  }

  run(sql: string, params: readonly unknown[]): Promise<number> {
    // A statement PostgreSQL chose as a deadlock's victim was rolled back whole: running it again is safe.
    return retryTransaction(
      () =>
        this.withClient(async (client) => {
          try {
            return (await this.query(client, sql, params)).rowCount ?? 0;
          } catch (error) {
            // Two processes creating the table at once: the loser's CREATE … IF NOT EXISTS still collides.
            const code = (error as { code?: unknown }).code;
            if (sql.startsWith('CREATE') && typeof code === 'string' && DDL_RACE_CODES.has(code)) return 0;
            throw error;
          }
        }),
      isTransactionConflict,
    );
  }

  transaction<T>(body: () => TxBody<T>): Promise<T> {
    return retryTransaction(() => this.transactionOnce(body), isTransactionConflict);
  }

  private transactionOnce<T>(body: () => TxBody<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query(this.begin);
      try {
        const tx: SqlConnection = {
          all: async (sql, params) => (await this.query(client, sql, params)).rows,
          run: async (sql, params) => (await this.query(client, sql, params)).rowCount ?? 0,
        };
        const result = await driveAsync(tx, body);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // A broken connection has aborted the transaction already, and is destroyed on release.
        if (!this.isUnavailable(error)) await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  isUnavailable(error: unknown): boolean {
    if (isConnectionError(error)) return true;
    if (error instanceof pg.DatabaseError) return TIMED_OUT_CODES.has(error.code ?? '');
    if (!(error instanceof Error)) return false;
    return CONNECTION_MESSAGE.test(error.message);
  }

  isDuplicateKey(error: unknown): boolean {
    return (error as { code?: unknown } | null)?.code === '23505';
  }

  async close(): Promise<void> {
    if (!this.owned) return;
    const ended = this.pool.end();
    // An ending pg pool never serves the calls queued for a connection: fail them now, not at the timeout.
    for (const fail of [...this.waiting]) fail(new Error('Cannot use a pool after calling end on the pool'));
    await ended;
  }

  destroy(): void {
    if (!this.owned) return;
    // pg has no public way to drop a pool's sockets; `_clients` holds every connection, idle, busy or
    // still connecting.
    const clients = (this.pool as unknown as { _clients?: unknown[] })._clients ?? [];
    for (const client of clients) {
      (client as { connection?: { stream?: { destroy?(): void } } }).connection?.stream?.destroy?.();
    }
  }

  private query(client: PoolClient, sql: string, params: readonly unknown[]): Promise<QueryResult<Row>> {
    const { text, name } = this.translate(sql);
    return client.query<Row>({ text, values: params as unknown[], ...(name ? { name } : {}) });
  }

  /** `?` → `$n` (the shared SQL never has a `?` elsewhere), plus a stable prepared-statement name. */
  private translate(sql: string): { text: string; name?: string } {
    let entry = this.texts.get(sql);
    if (!entry) {
      let n = 0;
      const text = sql.replace(/\?/g, () => `$${++n}`);
      const name =
        this.prepared && !sql.startsWith('CREATE')
          ? `sessionkit_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`
          : undefined;
      entry = name ? { text, name } : { text };
      this.texts.set(sql, entry);
    }
    return entry;
  }

  /** Calls of an owned pool waiting for a connection, each failed by `close()`. */
  private readonly waiting = new Set<(error: Error) => void>();

  /** A pooled connection; one that comes after `close()` gave up on it goes straight back. */
  private connect(): Promise<PoolClient> {
    if (!this.owned) return this.pool.connect();
    return new Promise<PoolClient>((resolve, reject) => {
      const fail = (error: Error) => {
        this.waiting.delete(fail);
        reject(error);
      };
      this.waiting.add(fail);
      this.pool.connect().then(
        (client) => {
          if (this.waiting.delete(fail)) resolve(client);
          else client.release();
        },
        (error: unknown) => {
          if (this.waiting.delete(fail)) reject(error);
        },
      );
    });
  }

  /**
   * Holds one pooled connection for one call. A query the server never answers would keep that
   * connection forever (and a later query on it would queue behind), so past the store's timeout the
   * connection is destroyed; broken connections are destroyed too, never handed back to the pool.
   */
  private async withClient<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    // A duration, so the monotonic clock: a wall-clock step (NTP) must not time out a call or prolong it.
    const started = performance.now();
    const client = await this.connect();
    // pg-pool listens for a client's 'error' only while it is idle: a connection that dies while checked
    // out would emit an unhandled 'error' and crash the process. The failed query reports it instead.
    const ignoreError = () => undefined;
    client.on('error', ignoreError);
    let released = false;
    const release = (error?: Error) => {
      if (released) return;
      released = true;
      // A destroyed client keeps the listener (late errors may still come); a reused one must not pile them up.
      if (!error) client.removeListener('error', ignoreError);
      client.release(error);
    };
    const timer = setTimeout(() => release(new Error('sessionkit: query timed out')), this.timeoutMs);
    timer.unref();
    try {
      // The caller has given up already (its timeout passed while the pool was busy): run nothing late.
      if (performance.now() - started >= this.timeoutMs) throw new Error('sessionkit: query timed out');
      const result = await fn(client);
      release();
      return result;
    } catch (error) {
      release(error instanceof pg.DatabaseError ? undefined : (error as Error));
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The store's timeout as a PostgreSQL setting: whole milliseconds, within the server's range. */
function serverTimeout(timeoutMs: number): number {
  return Math.min(Math.max(1, Math.ceil(timeoutMs)), 2_147_483_647);
}

/** deadlock_detected, serialization_failure: PostgreSQL rolled the transaction back; it may run again. */
function isTransactionConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

function isPool(value: unknown): value is Pool {
  return typeof value === 'object' && value !== null && typeof (value as Pool).connect === 'function';
}

/**
 * Sessions in a PostgreSQL table (`pg`). Takes a `pg.Pool` (yours: `close()` leaves it open) or a
 * connection string (the store's own pool, with connection timeouts; `close()` ends it).
 */
export class PostgresStore extends SqlStore {
  readonly pool: Pool;

  /**
   * A connection string that is a `postgres://` URL may carry the store's own options as parameters
   * (`?table=…&schema=…`), as with `createStore()`; options given here win over them.
   */
  constructor(client: Pool | string, options: PostgresStoreOptions = {}) {
    if (typeof client === 'string') [client, options] = fromConnectionString(client, options);
    const timeout = options.timeout ?? DEFAULT_STORE_TIMEOUT_MS;
    const table = checkIdentifier('table', options.table ?? DEFAULT_TABLE);
    const schema = options.schema === undefined ? undefined : checkIdentifier('schema', options.schema);
    const legacy =
      options.legacy === undefined
        ? null
        : connectPgSimpleStatements(
            typeof options.legacy === 'string' ? { layout: options.legacy } : options.legacy,
          );
    if (options.legacy !== undefined && legacyLayout(options.legacy) !== 'connect-pg-simple')
      throw new OptionsError('legacy', "must be 'connect-pg-simple'");
    let pool: Pool;
    if (typeof client === 'string') {
      pool = new pg.Pool({
        connectionTimeoutMillis: timeout,
        keepAlive: true,
        idleTimeoutMillis: 30_000,
        // A single statement waiting on a lock stops when the store has given up on it (see PgExecutor).
        lock_timeout: serverTimeout(timeout),
        ...options.pool,
        connectionString: client,
      });
      // An idle connection that breaks is dropped by the pool and the next query reconnects; without a
      // listener the error would crash the process.
      pool.on('error', () => undefined);
    } else if (isPool(client)) {
      pool = client;
    } else {
      throw new OptionsError('client', 'must be a pg Pool or a connection string');
    }
    const q = (name: string) => quoteIdentifier('postgres', name);
    super(options, {
      dialect: 'postgres',
      executor: new PgExecutor(
        pool,
        typeof client === 'string',
        timeout,
        options.preparedStatements !== false,
      ),
      table: schema ? `${q(schema)}.${q(table)}` : q(table),
      setup: options.createTable === false ? [] : createTableSql('postgres', table, schema),
      legacy,
      // text cannot hold NUL; longer IDs would strain the user_id index.
      userIdLimits: { maxBytes: SQL_USER_ID_MAX_BYTES, nul: false },
      pruneInterval: options.pruneInterval ?? DEFAULT_PRUNE_MS,
    });
    this.pool = pool;
  }
}

function legacyLayout(legacy: string | { layout: string }): string {
  return typeof legacy === 'string' ? legacy : legacy.layout;
}

const POSTGRES = storeDefinition('PostgresStore');

/**
 * Splits the store's own parameters off a `postgres://` connection string. Anything else (a libpq
 * key/value string, a socket path) goes to pg as it is.
 */
function fromConnectionString(text: string, options: PostgresStoreOptions): [string, PostgresStoreOptions] {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return [text, options];
  }
  if (!POSTGRES.schemes.includes(url.protocol)) return [text, options];
  const params = readParams(url, POSTGRES);
  const fromUrl: PostgresStoreOptions = sqlOptionsFromParams(params);
  if (params.schema !== undefined) fromUrl.schema = params.schema as string;
  if (params.preparedStatements !== undefined)
    fromUrl.preparedStatements = params.preparedStatements as boolean;
  const legacy = legacyFromParams(params);
  if (legacy !== undefined) fromUrl.legacy = legacy as PostgresStoreOptions['legacy'];
  return [driverUrl(url, POSTGRES).href, { ...fromUrl, ...options }];
}

/**
 * `postgres://user:pass@host:5432/db?table=…&schema=…&legacy=connect-pg-simple&legacyTable=session`.
 * The store's own parameters are removed before the URL reaches pg.
 */
export async function createFromUrl(url: URL): Promise<PostgresStore> {
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    throw new StoreUrlError(`not a postgres: URL: ${url.protocol}`);
  return new PostgresStore(url.href);
}
