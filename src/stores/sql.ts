import { OptionsError, SessionError, StoreUnavailableError, StoreUrlError } from '../core/errors.js';
import { storageKey } from '../core/id.js';
import {
  applyDeltaToRecord,
  decodeRecord,
  fromStoredExpressSession,
  parseJson,
  stringifyJson,
} from '../core/serializer.js';
import { MAX_TIMER_MS } from '../core/time.js';
import type {
  LimitOutcome,
  ListOptions,
  ListPage,
  SessionDelta,
  SessionRecord,
  SessionSummary,
  UserLimit,
} from '../core/types.js';
import { closeWithin } from './close.js';
import {
  checkDelta,
  checkDestroyByUser,
  checkHandle,
  checkHandleCursor,
  checkId,
  checkJsonBytes,
  checkListOptions,
  checkRecord,
  checkSwaps,
  checkTouchTimes,
  checkUserIdArgument,
  checkUserIdLimits,
  checkUserLimit,
  type DataSwap,
  evictionsFor,
  reportCorrupt,
  type SessionStore,
  type UserIdLimits,
} from './contract.js';
import { Store, type StoreOptions } from './express-compat/store.js';
import type { StoreParams } from './registry.js';

/**
 * Shared SQL logic of the SQLite, PostgreSQL and MySQL stores: one table layout, one set of statements,
 * the delta merge and the legacy fallback. Each store file only supplies an executor for its driver.
 *
 * The delta merge reads the row with a lock (`SELECT … FOR UPDATE`; SQLite has one writer, so its
 * transaction is the lock), applies the delta in JavaScript and writes it back, all in one transaction.
 * Not a single-statement jsonb merge: jsonb cannot hold `\u0000`, which session data may.
 */

export type Row = Record<string, unknown>;

/** One connection's worth of statements. SQL uses `?` placeholders; executors translate if they must. */
export interface SqlConnection {
  all(sql: string, params: readonly unknown[]): Promise<Row[]>;
  /** Resolves the number of rows the statement matched. */
  run(sql: string, params: readonly unknown[]): Promise<number>;
}

/** One statement a transaction body asks its driver to run; the driver sends back rows or a row count. */
export interface Step {
  kind: 'all' | 'run';
  sql: string;
  params: readonly unknown[];
}

/**
 * A transaction body, written once as a generator that yields statements. Async drivers await each
 * one; better-sqlite3 runs the whole body synchronously, so its write lock is never held across an
 * await (which would stall every other connection to the file, this process's included).
 */
export type TxBody<T> = Generator<Step, T, unknown>;

function* all(sql: string, params: readonly unknown[]): Generator<Step, Row[], unknown> {
  return (yield { kind: 'all', sql, params }) as Row[];
}

function* exec(sql: string, params: readonly unknown[]): Generator<Step, number, unknown> {
  return (yield { kind: 'run', sql, params }) as number;
}

/** Drives a transaction body over an async connection; for the executors of network databases. */
export async function driveAsync<T>(tx: SqlConnection, makeBody: () => TxBody<T>): Promise<T> {
  const body = makeBody();
  let next = body.next();
  while (!next.done) {
    const step = next.value;
    const result =
      step.kind === 'all' ? await tx.all(step.sql, step.params) : await tx.run(step.sql, step.params);
    next = body.next(result);
  }
  return next.value;
}

export interface SqlExecutor extends SqlConnection {
  /**
   * Runs a body in a transaction on one connection; commits when it returns, rolls back when it throws.
   * Takes a factory so a driver may run a fresh body again after a deadlock or serialization failure.
   */
  transaction<T>(body: () => TxBody<T>): Promise<T>;
  /** True when the driver error means the server could not be reached (maps to ERR_STORE_UNAVAILABLE). */
  isUnavailable(error: unknown): boolean;
  /** True when the error is a primary-key violation. */
  isDuplicateKey(error: unknown): boolean;
  /** Releases what the store opened; leaves what the application passed in alone. */
  close(): Promise<void>;
  /**
   * Destroys the sockets of what the store opened, for a `close()` the server does not let finish (a
   * server that accepts connections and never answers).
   */
  destroy?(): void;
}

export type DialectName = 'sqlite' | 'postgres' | 'mysql';

export interface SqlStoreOptions extends StoreOptions {
  /** Table of the native layout. Default `sessionkit_sessions`. */
  table?: string;
  /** Create the table and its indexes when missing. Default true. */
  createTable?: boolean;
  /** Mean time between prunes of expired rows (ms), randomized ±50%; `0` or `false` turns it off. */
  pruneInterval?: number | false;
}

export const DEFAULT_TABLE = 'sessionkit_sessions';
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const PRUNE_BATCH = 1_000;
const COLUMNS = ['id', 'data', 'cookie', 'user_id', 'created_at', 'last_seen_at', 'expires_at'] as const;
const SUMMARY_COLUMNS = 'id, data, user_id, created_at, last_seen_at, expires_at';

/** Checks a table, schema or column name at construction: they are spliced into SQL, so only plain names pass. */
export function checkIdentifier(option: string, name: string): string {
  if (!IDENTIFIER.test(name)) throw new OptionsError(option, 'must be a plain SQL name (letters, digits, _)');
  return name;
}

export function quoteIdentifier(dialect: DialectName, name: string): string {
  return dialect === 'mysql' ? `\`${name}\`` : `"${name}"`;
}

/**
 * The longest user ID (bytes of UTF-8) the SQL stores hold: an index entry must stay far below
 * PostgreSQL's B-tree row limit, and MySQL's column holds 255 characters of up to 4 bytes. Longer IDs
 * are refused.
 */
export const SQL_USER_ID_MAX_BYTES = 1020;

/**
 * The longest user ID (characters) MySQL's `user_id` column holds: `varchar(255)` in utf8mb4 is 1020
 * bytes, an index entry within InnoDB's 3072-byte limit, and the length sessionkit 0.1 used.
 */
export const MYSQL_USER_ID_MAX_CHARS = 255;

/**
 * MySQL's `user_id` type on a server without a NO PAD binary collation (MySQL 5.7, MariaDB before 10.2):
 * bytes, which every mysql2 reader gets as a Buffer.
 */
export const MYSQL_USER_ID_BYTES = `varbinary(${SQL_USER_ID_MAX_BYTES})`;

/**
 * DDL to run before the first statement: plain statements, or a step that looks at the table first (a
 * migration of a table made by sessionkit 0.1).
 */
export type SetupStep = string | ((db: SqlConnection) => Promise<void>);

/**
 * The native layout. Keys are `storageKey(id)` (43 base64url characters), times epoch milliseconds.
 * User IDs compare byte for byte on every dialect: MySQL's `mysqlUserId` (see mysqlTableSetup),
 * PostgreSQL's and SQLite's deterministic text.
 */
export function createTableSql(
  dialect: DialectName,
  table: string,
  schema?: string,
  mysqlUserId: string = MYSQL_USER_ID_BYTES,
): string[] {
  const q = (name: string) => quoteIdentifier(dialect, name);
  const full = schema ? `${q(schema)}.${q(table)}` : q(table);
  if (dialect === 'mysql') {
    return [
      `CREATE TABLE IF NOT EXISTS ${full} (
  id varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  data longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  cookie text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  user_id ${mysqlUserId} NULL,
  created_at bigint NOT NULL,
  last_seen_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  epoch bigint NULL,
  PRIMARY KEY (id),
  KEY ${q(`${table}_user_id`)} (user_id),
  KEY ${q(`${table}_expires_at`)} (expires_at)
) ENGINE=InnoDB`,
      ...epochTableSql(dialect, table, schema, mysqlUserId),
    ];
  }
  const idType = dialect === 'postgres' ? 'text COLLATE "C"' : 'TEXT';
  const int = dialect === 'postgres' ? 'bigint' : 'INTEGER';
  return [
    `CREATE TABLE IF NOT EXISTS ${full} (
  id ${idType} PRIMARY KEY,
  data text NOT NULL,
  cookie text NOT NULL,
  user_id text NULL,
  created_at ${int} NOT NULL,
  last_seen_at ${int} NOT NULL,
  expires_at ${int} NOT NULL,
  epoch ${int} NULL
)`,
    `CREATE INDEX IF NOT EXISTS ${q(`${table}_user_id`)} ON ${full} (user_id)`,
    `CREATE INDEX IF NOT EXISTS ${q(`${table}_expires_at`)} ON ${full} (expires_at)`,
    ...epochTableSql(dialect, table, schema),
  ];
}

/**
 * The per-user revocation epochs, `<table>_epochs(user_id, epoch)`: one row per user that
 * destroyByUser ever ran for (rows are never removed: a lost row would revive every session it made
 * dead). Each session row carries, in `epoch`, the user's epoch when it was bound; a session whose
 * epoch is below its user's is dead. An anonymous row, and a row bound by a sessionkit without epochs
 * (0.1.0, which may share the table during a rolling upgrade and never writes the column), has NULL:
 * never revoked by the epoch, as that version never revoked it (destroyByUser still deletes every row of
 * the user it finds). So a row 0.1.0 binds later is not taken for one bound before the last revoke.
 * `user_id` has the same type as the sessions table's, so the two compare alike.
 */
export function epochTableSql(
  dialect: DialectName,
  table: string,
  schema?: string,
  mysqlUserId: string = MYSQL_USER_ID_BYTES,
): string[] {
  const q = (name: string) => quoteIdentifier(dialect, name);
  const name = q(`${table}_epochs`);
  const full = schema ? `${q(schema)}.${name}` : name;
  if (dialect === 'mysql') {
    return [
      `CREATE TABLE IF NOT EXISTS ${full} (
  user_id ${mysqlUserId} NOT NULL,
  epoch bigint NOT NULL,
  PRIMARY KEY (user_id)
) ENGINE=InnoDB`,
    ];
  }
  const int = dialect === 'postgres' ? 'bigint' : 'INTEGER';
  return [`CREATE TABLE IF NOT EXISTS ${full} (\n  user_id text PRIMARY KEY,\n  epoch ${int} NOT NULL\n)`];
}

/**
 * Adds the `epoch` column to a sessions table made before it existed: nullable, no default, so its rows
 * and the rows a server still on that version inserts later carry no stamp (see epochTableSql).
 */
export function addEpochColumnSql(dialect: DialectName, fullTable: string): string {
  return `ALTER TABLE ${fullTable} ADD COLUMN epoch ${dialect === 'postgres' ? 'bigint' : dialect === 'mysql' ? 'bigint' : 'INTEGER'} NULL`;
}

/** `"schema"."t"` → `"schema"."t_epochs"`: the epochs table beside a quoted sessions table. */
export function epochTableOf(fullTable: string): string {
  return `${fullTable.slice(0, -1)}_epochs${fullTable.slice(-1)}`;
}

interface Statements {
  get: string;
  buryRevoked: string;
  bumpEpoch: string;
  readEpoch: string;
  restampKept: string;
  clearEpochs: string;
  probeEpoch: string;
  lockLive: string;
  insertIfAbsent: string;
  deleteExpired: string;
  upsert: string;
  rewrite: string;
  updateMeta: string;
  updateMetaAndUser: string;
  touch: string;
  destroy: string;
  list: string;
  length: string;
  clear: string;
  prune: string;
  byUser: string;
  destroyByUser: string;
  byHandle: string;
  destroyByHandle: string;
  lockUser: string;
  limitCandidates: string;
  liveId: string;
}

function statements(dialect: DialectName, t: string): Statements {
  const cols = COLUMNS.join(', ');
  const marks = COLUMNS.map(() => '?').join(', ');
  const rest = COLUMNS.slice(1);
  const forUpdate = dialect === 'sqlite' ? '' : ' FOR UPDATE';
  const live = 'expires_at > ?';
  // The same conditions in statements that lock rows by ID, written so that no planner can use the
  // expires_at index for them (`+ 0`): when few rows are expired, MariaDB plans `id = ? AND expires_at
  // <= ?` on that index, locks the entry of the session expiring first, then waits for its row, which a
  // concurrent update of that session holds while it waits for the same entry: a deadlock.
  const liveById = 'expires_at + 0 > ?';
  const expiredById = 'expires_at + 0 <= ?';
  const te = epochTableOf(t);
  // The stamp of a row bound to the user `?`: their epoch as of this statement, else the second `?`, 0
  // for a user before their first revoke and NULL for no user (an anonymous row carries no stamp, or a
  // login a server without epochs writes into it later would look bound before the last revoke). A login
  // reads it inside its own INSERT, so it is either committed before a revoke deletes the user's rows
  // (and deleted) or carries the epoch that revoke left behind (and is dead unless the revoke came first).
  const userEpoch = `COALESCE((SELECT ue.epoch FROM ${te} ue WHERE ue.user_id = ?), ?)`;
  // Sessions joined to their user's epoch; a row stamped below it is revoked and never shown. No stamp
  // (NULL): never revoked by the epoch (see epochTableSql).
  const joined = `${t} s LEFT JOIN ${te} ue ON ue.user_id = s.user_id`;
  const unrevoked = '(s.epoch IS NULL OR s.epoch >= COALESCE(ue.epoch, 0))';
  const summary = SUMMARY_COLUMNS.split(', ')
    .map((c) => `s.${c}`)
    .join(', ');
  const sameUser =
    dialect === 'mysql'
      ? 'user_id <=> VALUES(user_id)'
      : dialect === 'postgres'
        ? 's.user_id IS NOT DISTINCT FROM excluded.user_id'
        : 'user_id IS excluded.user_id';
  return {
    get: `SELECT ${COLUMNS.map((c) => `s.${c}`).join(', ')}, s.epoch AS stamp, ue.epoch AS revoked_below FROM ${joined} WHERE s.id = ? AND s.${live}`,
    buryRevoked: `DELETE FROM ${t} WHERE id = ? AND user_id = ? AND epoch = ?`,
    bumpEpoch:
      dialect === 'mysql'
        ? `INSERT INTO ${te} (user_id, epoch) VALUES (?, 1) ON DUPLICATE KEY UPDATE epoch = epoch + 1`
        : dialect === 'postgres'
          ? `INSERT INTO ${te} AS ue (user_id, epoch) VALUES (?, 1) ON CONFLICT (user_id) DO UPDATE SET epoch = ue.epoch + 1`
          : `INSERT INTO ${te} (user_id, epoch) VALUES (?, 1) ON CONFLICT (user_id) DO UPDATE SET epoch = epoch + 1`,
    readEpoch: `SELECT epoch FROM ${te} WHERE user_id = ?`,
    restampKept: `UPDATE ${t} SET epoch = ? WHERE id = ? AND user_id = ? AND (epoch IS NULL OR epoch >= ?)`,
    clearEpochs: `DELETE FROM ${te}`,
    probeEpoch: `SELECT epoch FROM ${t} WHERE 1 = 0`,
    lockLive: `SELECT ${cols}, epoch FROM ${t} WHERE id = ? AND ${liveById}${forUpdate}`,
    insertIfAbsent:
      dialect === 'mysql'
        ? // mysql2 sets CLIENT_FOUND_ROWS, so a no-op ON DUPLICATE KEY UPDATE also reports 1 row, and INSERT
          // IGNORE would silently truncate oversized values: a plain INSERT whose duplicate error means "taken".
          `INSERT INTO ${t} (${cols}, epoch) VALUES (${marks}, ${userEpoch})`
        : `INSERT INTO ${t} (${cols}, epoch) VALUES (${marks}, ${userEpoch}) ON CONFLICT (id) DO NOTHING`,
    deleteExpired: `DELETE FROM ${t} WHERE id = ? AND ${expiredById}`,
    // A rewrite that keeps the row's user keeps its stamp: rewriting a revoked session never revives it.
    upsert:
      dialect === 'mysql'
        ? `INSERT INTO ${t} (${cols}, epoch) VALUES (${marks}, ${userEpoch}) ON DUPLICATE KEY UPDATE epoch = IF(${sameUser}, epoch, VALUES(epoch)), ${rest.map((c) => `${c} = VALUES(${c})`).join(', ')}`
        : `INSERT INTO ${t}${dialect === 'postgres' ? ' AS s' : ''} (${cols}, epoch) VALUES (${marks}, ${userEpoch}) ON CONFLICT (id) DO UPDATE SET epoch = CASE WHEN ${sameUser} THEN ${dialect === 'postgres' ? 's.' : ''}epoch ELSE excluded.epoch END, ${rest.map((c) => `${c} = excluded.${c}`).join(', ')}`,
    rewrite: `UPDATE ${t} SET data = ?, cookie = ?, user_id = ?, last_seen_at = ?, expires_at = ?, epoch = ? WHERE id = ?`,
    updateMeta: `UPDATE ${t} SET cookie = COALESCE(?, cookie), last_seen_at = ?, expires_at = ? WHERE id = ? AND ${liveById}`,
    // The stamp is assigned before user_id: MySQL evaluates SET left to right, with the new values.
    updateMetaAndUser: `UPDATE ${t} SET cookie = COALESCE(?, cookie), epoch = CASE WHEN user_id = ? THEN epoch ELSE ${userEpoch} END, user_id = ?, last_seen_at = ?, expires_at = ? WHERE id = ? AND ${liveById}`,
    touch: `UPDATE ${t} SET last_seen_at = ?, expires_at = ? WHERE id = ? AND ${liveById}`,
    destroy: `DELETE FROM ${t} WHERE id = ?`,
    list: `SELECT ${summary} FROM ${joined} WHERE s.${live} AND s.id > ? AND ${unrevoked} ORDER BY s.id LIMIT ?`,
    length: `SELECT COUNT(*) AS n FROM ${joined} WHERE s.${live} AND ${unrevoked}`,
    clear: `DELETE FROM ${t}`,
    prune:
      dialect === 'mysql'
        ? `DELETE FROM ${t} WHERE expires_at <= ? LIMIT ${PRUNE_BATCH}`
        : `DELETE FROM ${t} WHERE id IN (SELECT id FROM ${t} WHERE expires_at <= ? LIMIT ${PRUNE_BATCH})`,
    byUser: `SELECT ${summary} FROM ${joined} WHERE s.user_id = ? AND s.${live} AND ${unrevoked}`,
    destroyByUser: `DELETE FROM ${t} WHERE user_id = ? AND ${liveById} AND id <> ?`,
    byHandle: `SELECT ${summary} FROM ${joined} WHERE s.id = ? AND s.${live} AND ${unrevoked}`,
    destroyByHandle: `DELETE FROM ${t} WHERE id = ? AND ${liveById}`,
    // Locks the user's epoch row (made at 0, which revokes nothing, when missing): logins under a limit
    // and destroyByUser (which raises that row first) of one user queue on it, on every connection.
    lockUser:
      dialect === 'mysql'
        ? `INSERT INTO ${te} (user_id, epoch) VALUES (?, 0) ON DUPLICATE KEY UPDATE epoch = epoch`
        : dialect === 'postgres'
          ? `INSERT INTO ${te} AS ue (user_id, epoch) VALUES (?, 0) ON CONFLICT (user_id) DO UPDATE SET epoch = ue.epoch`
          : `INSERT INTO ${te} (user_id, epoch) VALUES (?, 0) ON CONFLICT (user_id) DO UPDATE SET epoch = epoch`,
    limitCandidates: `SELECT s.id FROM ${joined} WHERE s.user_id = ? AND s.${live} AND ${unrevoked} AND s.id <> ? ORDER BY s.created_at, s.id`,
    liveId: `SELECT id FROM ${t} WHERE id = ? AND ${live}`,
  };
}

/**
 * An anchor's table, read when the native record is missing. Rows are keyed by the raw session ID (the
 * anchors store it as is); the payload is express-session's `{ cookie, …data }` JSON.
 */
export interface LegacyStatements {
  /** Params `[sid, nowMs]`; columns `payload` (JSON text) and `expires_ms`. */
  select: string;
  /** The same, locking the row for the move to the native layout. */
  lock: string;
  /** Params `[sid]`. */
  destroy: string;
  /** Params `[nowMs]`. */
  prune: string;
}

export interface ConnectPgSimpleLayout {
  layout: 'connect-pg-simple';
  /** Default `session`. */
  table?: string;
  schema?: string;
  columns?: { sid?: string; sess?: string; expire?: string };
}

export interface ExpressMysqlSessionLayout {
  layout: 'express-mysql-session';
  /** Default `sessions`. */
  table?: string;
  columns?: { session_id?: string; expires?: string; data?: string };
}

/** connect-pg-simple 10: `session(sid varchar, sess json, expire timestamp without time zone)`. */
export function connectPgSimpleStatements(options: ConnectPgSimpleLayout): LegacyStatements {
  const q = (name: string) => quoteIdentifier('postgres', name);
  const table = q(checkIdentifier('legacy.table', options.table ?? 'session'));
  const full = options.schema ? `${q(checkIdentifier('legacy.schema', options.schema))}.${table}` : table;
  const sid = q(checkIdentifier('legacy.columns.sid', options.columns?.sid ?? 'sid'));
  const sess = q(checkIdentifier('legacy.columns.sess', options.columns?.sess ?? 'sess'));
  const expire = q(checkIdentifier('legacy.columns.expire', options.columns?.expire ?? 'expire'));
  // `expire` has no time zone and was filled from to_timestamp(), so it is read back through the same
  // connection TimeZone (the cast to timestamptz), exactly as connect-pg-simple compares it.
  const select = `SELECT ${sess}::text AS payload, (extract(epoch FROM ${expire}::timestamptz) * 1000)::float8 AS expires_ms FROM ${full} WHERE ${sid} = ? AND ${expire} > to_timestamp(?::float8 / 1000)`;
  return {
    select,
    lock: `${select} FOR UPDATE`,
    destroy: `DELETE FROM ${full} WHERE ${sid} = ?`,
    prune: `DELETE FROM ${full} WHERE ${expire} <= to_timestamp(?::float8 / 1000)`,
  };
}

/** express-mysql-session 3: `sessions(session_id varchar(128), expires int unsigned (seconds), data mediumtext)`. */
export function expressMysqlSessionStatements(options: ExpressMysqlSessionLayout): LegacyStatements {
  const q = (name: string) => quoteIdentifier('mysql', name);
  const full = q(checkIdentifier('legacy.table', options.table ?? 'sessions'));
  const sid = q(checkIdentifier('legacy.columns.session_id', options.columns?.session_id ?? 'session_id'));
  const expires = q(checkIdentifier('legacy.columns.expires', options.columns?.expires ?? 'expires'));
  const data = q(checkIdentifier('legacy.columns.data', options.columns?.data ?? 'data'));
  const select = `SELECT ${data} AS payload, ${expires} * 1000 AS expires_ms FROM ${full} WHERE ${sid} = ? AND ${expires} * 1000 > ?`;
  return {
    select,
    lock: `${select} FOR UPDATE`,
    destroy: `DELETE FROM ${full} WHERE ${sid} = ?`,
    prune: `DELETE FROM ${full} WHERE ${expires} * 1000 <= ?`,
  };
}

/** Binary NO PAD collations, by preference: MariaDB 10.2+'s, MySQL 8.0.17+'s. */
const MYSQL_NOPAD_BIN = ['utf8mb4_nopad_bin', 'utf8mb4_0900_bin'] as const;

/**
 * MySQL's `user_id` type on this server. User IDs must match byte for byte: the default collations make
 * `'Alice'` equal `'alice'`, and every PAD SPACE one (`utf8mb4_bin` included) `'alice'` equal `'alice '`,
 * so one user's "log out everywhere" would end another's sessions. A binary NO PAD collation compares
 * exactly and keeps the column text, which every mysql2 reader gets as a string (sessionkit 0.1 takes
 * anything else for a corrupt session and deletes it). Without one, bytes.
 */
export async function mysqlUserIdType(db: SqlConnection): Promise<string> {
  const rows = await db.all(
    `SELECT COLLATION_NAME AS name FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN (${MYSQL_NOPAD_BIN.map(() => '?').join(', ')})`,
    MYSQL_NOPAD_BIN,
  );
  const offered = new Set(rows.map((row) => String(row.name).toLowerCase()));
  const collation = MYSQL_NOPAD_BIN.find((name) => offered.has(name));
  return collation
    ? `varchar(${MYSQL_USER_ID_MAX_CHARS}) CHARACTER SET utf8mb4 COLLATE ${collation}`
    : MYSQL_USER_ID_BYTES;
}

/**
 * The MySQL store's setup: the tables with the server's `user_id` type (mysqlUserIdType), and a `user_id`
 * made otherwise (sessionkit 0.1's `varchar(255)` in PAD SPACE `utf8mb4_bin`) brought to it, characters
 * kept. On a server with a NO PAD binary collation only the collation changes, so 0.1 servers still
 * running read the same strings. A `varbinary` column already matches exactly: it is kept, and the other
 * table made alike, since the two are joined on it.
 */
export function mysqlTableSetup(table: string): SetupStep {
  return async (db) => {
    const epochs = `${table}_epochs`;
    const columns = await db.all(
      "SELECT TABLE_NAME AS name, DATA_TYPE AS type, COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?) AND COLUMN_NAME = 'user_id'",
      [table, epochs],
    );
    const isBytes = (column: Row) => String(column.type).toLowerCase() === 'varbinary';
    const userId = columns.some(isBytes) ? MYSQL_USER_ID_BYTES : await mysqlUserIdType(db);
    for (const ddl of createTableSql('mysql', table, undefined, userId)) await db.run(ddl, []);
    const collation = / COLLATE (\w+)$/.exec(userId)?.[1] ?? null;
    for (const column of columns) {
      if (isBytes(column)) continue;
      if (collation !== null && String(column.collation).toLowerCase() === collation) continue;
      const isEpochs = String(column.name).toLowerCase() === epochs.toLowerCase();
      await db.run(
        `ALTER TABLE ${quoteIdentifier('mysql', isEpochs ? epochs : table)} MODIFY user_id ${userId} ${isEpochs ? 'NOT NULL' : 'NULL'}`,
        [],
      );
    }
  };
}

export interface SqlStoreConfig {
  dialect: DialectName;
  executor: SqlExecutor;
  /** The table, quoted and schema-qualified as the dialect wants it. */
  table: string;
  /** DDL to run once before the first statement; empty when the table is not ours to create. */
  setup: SetupStep[];
  /** What the `user_id` column can hold; IDs outside it are refused before anything is written. */
  userIdLimits?: UserIdLimits;
  legacy: LegacyStatements | null;
  pruneInterval: number | false;
}

function toTime(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

/** Integral milliseconds: the columns are bigint, and PostgreSQL refuses a fraction there. */
function ms(value: number): number {
  return Math.round(value);
}

/**
 * A session still in the old layout was bound before its user's first revoke (that layout has no epoch,
 * and this store only reads it), so any revoke since, `epoch` above 0, ended it. Unlike a native row
 * without a stamp, destroyByUser never reaches that table, so the epoch is all that ends such a session.
 */
function legacyRevoked(epochRows: Row[]): boolean {
  const epoch = epochRows[0]?.epoch;
  return epoch !== undefined && epoch !== null && Number(epoch) > 0;
}

/** Whole-table statements shared by the three SQL stores. Subclasses only pass their executor. */
export class SqlStore extends Store implements SessionStore {
  protected readonly executor: SqlExecutor;
  private readonly sql: Statements;
  /**
   * MySQL's user column is `varbinary` on a server without a NO PAD binary collation: its driver gives
   * bytes. Elsewhere bytes are corrupt.
   */
  private readonly userIdBytes: boolean;
  private readonly legacy: LegacyStatements | null;
  private readonly setup: SetupStep[];
  private readonly addColumn: string;
  private readonly userIdLimits: UserIdLimits;
  private ready: Promise<void> | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;
  private readonly pruneInterval: number | false;
  private closed = false;
  /** resealByHandle's write: the data column only. */
  private readonly resealData: string;

  constructor(options: StoreOptions, config: SqlStoreConfig) {
    super(options);
    const interval = config.pruneInterval;
    if (interval !== false && !(Number.isFinite(interval) && interval >= 0 && interval <= MAX_TIMER_MS))
      throw new OptionsError(
        'pruneInterval',
        `must be a number of milliseconds at most ${MAX_TIMER_MS}, 0 or false`,
      );
    this.executor = config.executor;
    this.sql = statements(config.dialect, config.table);
    this.userIdBytes = config.dialect === 'mysql';
    this.legacy = config.legacy;
    this.setup = config.setup;
    this.addColumn = addEpochColumnSql(config.dialect, config.table);
    this.userIdLimits = config.userIdLimits ?? { maxBytes: SQL_USER_ID_MAX_BYTES };
    this.pruneInterval = interval === 0 ? false : interval;
    this.resealData = `UPDATE ${config.table} SET data = ? WHERE id = ?`;
    this.schedulePrune();
  }

  /** Refuses a user ID the `user_id` column could not hold byte for byte (ERR_INVALID_USER). */
  override checkUserId(userId: string): void {
    checkUserIdLimits(userId, this.userIdLimits);
  }

  async get(id: string): Promise<SessionRecord | null> {
    checkId('get', id);
    const key = storageKey(id);
    return this.op('get', async () => {
      const now = Date.now();
      const [row] = await this.executor.all(this.sql.get, [key, now]);
      if (row) {
        if (isRevoked(row)) {
          // Revoked by a destroyByUser that did not reach it: dead, and removed now unless rebound since.
          await this.executor.run(this.sql.buryRevoked, [key, row.user_id, row.stamp]);
          return null;
        }
        const record = this.decode(row);
        if (!record) await this.executor.run(this.sql.destroy, [key]);
        return record;
      }
      if (!this.legacy) return null;
      const [old] = await this.executor.all(this.legacy.select, [id, now]);
      if (!old) return null;
      const record = this.decodeLegacy(old, now);
      if (
        !record ||
        (record.userId !== null &&
          legacyRevoked(await this.executor.all(this.sql.readEpoch, [record.userId])))
      ) {
        await this.executor.run(this.legacy.destroy, [id]);
        return null;
      }
      return record;
    });
  }

  async create(id: string, record: SessionRecord): Promise<boolean> {
    checkId('create', id);
    checkRecord(this, 'create', record);
    const key = storageKey(id);
    const row = toRow(key, record);
    return this.op('create', async () => {
      const now = Date.now();
      if (this.legacy && (await this.executor.all(this.legacy.select, [id, now])).length > 0) return false;
      await this.executor.run(this.sql.deleteExpired, [key, now]);
      try {
        return (await this.executor.run(this.sql.insertIfAbsent, [...row, ...stampFor(record.userId)])) > 0;
      } catch (error) {
        if (this.executor.isDuplicateKey(error)) return false;
        throw error;
      }
    });
  }

  /**
   * One transaction holding the user's epoch-row lock (see `lockUser`): logins of one user are applied
   * one after another whichever server runs them, so each counts what the previous ones left. The
   * evicted rows are deleted in the same transaction: an update or touch of theirs still in flight
   * matches no row, and never creates one.
   */
  async createWithinLimit(id: string, record: SessionRecord, limit: UserLimit): Promise<LimitOutcome> {
    checkId('createWithinLimit', id);
    checkUserLimit(this, 'createWithinLimit', record, limit);
    const key = storageKey(id);
    const row = toRow(key, record);
    const replaced = limit.replaces === undefined ? '' : storageKey(limit.replaces);
    return this.op('createWithinLimit', async () => {
      try {
        return await this.executor.transaction(() =>
          this.createWithinLimitTx(id, key, row, record.userId as string, replaced, limit, Date.now()),
        );
      } catch (error) {
        if (this.executor.isDuplicateKey(error)) return { result: 'exists', evicted: [] };
        throw error;
      }
    });
  }

  private *createWithinLimitTx(
    id: string,
    key: string,
    row: unknown[],
    userId: string,
    replaced: string,
    limit: UserLimit,
    now: number,
  ): TxBody<LimitOutcome> {
    yield* exec(this.sql.lockUser, [userId]);
    if (this.legacy && (yield* all(this.legacy.select, [id, now])).length > 0)
      return { result: 'exists', evicted: [] };
    yield* exec(this.sql.deleteExpired, [key, now]);
    if ((yield* all(this.sql.liveId, [key, now])).length > 0) return { result: 'exists', evicted: [] };
    const others = (yield* all(this.sql.limitCandidates, [userId, now, replaced])).map((r) => String(r.id));
    const evict = evictionsFor(others, limit);
    if (evict === null) return { result: 'refused', evicted: [] };
    for (const victim of evict) yield* exec(this.sql.destroy, [victim]);
    yield* exec(this.sql.insertIfAbsent, [...row, ...stampFor(userId)]);
    return { result: 'created', evicted: evict };
  }

  async update(id: string, delta: SessionDelta): Promise<boolean> {
    checkId('update', id);
    checkDelta(this, 'update', delta);
    const key = storageKey(id);
    return this.op('update', async () => {
      const now = Date.now();
      const metaOnly = !delta.replace && Object.keys(delta.set).length === 0 && delta.unset.length === 0;
      if (metaOnly) {
        const cookie = delta.cookie ? stringifyJson(delta.cookie) : null;
        const times = [ms(delta.lastSeenAt), ms(delta.expiresAt), key, now];
        const matched =
          delta.userId === undefined
            ? await this.executor.run(this.sql.updateMeta, [cookie, ...times])
            : await this.executor.run(this.sql.updateMetaAndUser, [
                cookie,
                delta.userId,
                ...stampFor(delta.userId),
                delta.userId,
                ...times,
              ]);
        if (matched > 0 || !this.legacy) return matched > 0;
      }
      return this.executor.transaction(() => this.updateTx(key, id, delta, now));
    });
  }

  private *updateTx(key: string, id: string, delta: SessionDelta, now: number): TxBody<boolean> {
    const [row] = yield* all(this.sql.lockLive, [key, now]);
    const current = row ? this.decode(row) : yield* this.takeLegacy(id, now);
    if (!current) return false;
    const next = applyDeltaToRecord(current, delta);
    const merged = toRow(key, next);
    // Checked on the merged data inside the transaction that holds the row lock, so concurrent requests
    // cannot add up past the cap; throwing rolls the transaction back.
    if (delta.maxBytes !== undefined) checkJsonBytes(merged[1] as string, delta.maxBytes);
    if (row) {
      const [, data, cookie, userId, , lastSeenAt, expiresAt] = merged;
      // A session keeps its stamp (or its lack of one) while it keeps its user; one bound to a new user
      // takes that user's epoch, and one left anonymous carries none.
      let epoch: unknown = row.epoch ?? null;
      if (next.userId !== current.userId) {
        const [found] = next.userId === null ? [] : yield* all(this.sql.readEpoch, [next.userId]);
        epoch = next.userId === null ? null : (found?.epoch ?? 0);
      }
      yield* exec(this.sql.rewrite, [data, cookie, userId, lastSeenAt, expiresAt, epoch, key]);
    } else {
      yield* exec(this.sql.upsert, [...merged, ...stampFor(next.userId)]);
    }
    return true;
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    checkId('set', id);
    checkRecord(this, 'set', record);
    const key = storageKey(id);
    const row = toRow(key, record);
    await this.op('set', async () => {
      // An expired row left for the pruner is no session: the upsert must not keep its revocation stamp,
      // which would make the new record revoked on arrival when its user was revoked since.
      await this.executor.run(this.sql.deleteExpired, [key, Date.now()]);
      await this.executor.run(this.sql.upsert, [...row, ...stampFor(record.userId)]);
      if (this.legacy) await this.executor.run(this.legacy.destroy, [id]);
    });
  }

  async destroy(id: string): Promise<void> {
    checkId('destroy', id);
    const key = storageKey(id);
    await this.op('destroy', async () => {
      // Legacy row first: a first write moving the session out of the legacy table holds that row's lock
      // until its native row is committed, so this waits for it and the native delete then removes it.
      // Native first would find no row yet, and the moved session would outlive its logout.
      if (this.legacy) await this.executor.run(this.legacy.destroy, [id]);
      await this.executor.run(this.sql.destroy, [key]);
    });
  }

  async touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    checkId('touch', id);
    checkTouchTimes('touch', expiresAt, lastSeenAt);
    const key = storageKey(id);
    return this.op('touch', async () => {
      const now = Date.now();
      const matched = await this.executor.run(this.sql.touch, [ms(lastSeenAt), ms(expiresAt), key, now]);
      if (matched > 0 || !this.legacy) return matched > 0;
      return this.executor.transaction(() => this.touchLegacyTx(key, id, expiresAt, lastSeenAt, now));
    });
  }

  private *touchLegacyTx(
    key: string,
    id: string,
    expiresAt: number,
    lastSeenAt: number,
    now: number,
  ): TxBody<boolean> {
    const current = yield* this.takeLegacy(id, now);
    if (!current) return false;
    yield* exec(this.sql.upsert, [
      ...toRow(key, { ...current, expiresAt, lastSeenAt }),
      ...stampFor(current.userId),
    ]);
    return true;
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    checkListOptions('list', options);
    checkHandleCursor('list', options.cursor);
    const limit = Math.max(1, Math.min(options.limit ?? 100, 10_000));
    return this.op('list', async () => {
      const rows = await this.executor.all(this.sql.list, [Date.now(), options.cursor ?? '', limit]);
      const sessions = this.summaries(rows);
      const last = rows[rows.length - 1];
      return { sessions, cursor: rows.length === limit && last ? String(last.id) : null };
    });
  }

  async length(): Promise<number> {
    return this.op('length', async () => {
      const [row] = await this.executor.all(this.sql.length, [Date.now()]);
      return Number(row?.n ?? 0);
    });
  }

  /** Empties the native table. A legacy table is left to its own tools. */
  async clear(): Promise<void> {
    await this.op('clear', async () => {
      await this.executor.run(this.sql.clear, []);
      await this.executor.run(this.sql.clearEpochs, []);
    });
  }

  /** Deletes expired rows (and expired legacy rows) in batches, so no statement holds locks for long. */
  async prune(): Promise<number> {
    let removed = 0;
    for (;;) {
      const batch = await this.op('prune', () => this.executor.run(this.sql.prune, [Date.now()]));
      removed += batch;
      if (batch < PRUNE_BATCH) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const legacy = this.legacy;
    if (legacy) await this.op('prune', () => this.executor.run(legacy.prune, [Date.now()]));
    return removed;
  }

  async listByUser(userId: string): Promise<SessionSummary[]> {
    checkUserIdArgument('listByUser', userId);
    // As login() refuses it: a user ID the column cannot hold would fail in the driver (a NUL on
    // PostgreSQL) or, on MySQL without strict mode, be cut short and name another user.
    this.checkUserId(userId);
    return this.op('listByUser', async () =>
      this.summaries(await this.executor.all(this.sql.byUser, [userId, Date.now()])),
    );
  }

  /**
   * One transaction: raise the user's revocation epoch first (locking their epoch row, so revokes of one
   * user queue), re-stamp the kept session if it was live, then delete the user's other rows. A login
   * whose INSERT commits after this delete read the epoch before the raise, so it is dead on load.
   */
  async destroyByUser(userId: string, options: { except?: string } = {}): Promise<number> {
    checkDestroyByUser('destroyByUser', userId, options);
    // Before the epoch is raised: on MySQL without strict mode a user ID past the column's length is cut
    // short, and the raise would log out the user whose ID is that prefix.
    this.checkUserId(userId);
    // Handles are 43 characters, so the empty string never matches a row.
    const keep = options.except === undefined ? '' : storageKey(options.except);
    return this.op('destroyByUser', () =>
      this.executor.transaction(() => this.destroyByUserTx(userId, keep, Date.now())),
    );
  }

  private *destroyByUserTx(userId: string, keep: string, now: number): TxBody<number> {
    yield* exec(this.sql.bumpEpoch, [userId]);
    const [row] = yield* all(this.sql.readEpoch, [userId]);
    const epoch = Number(row?.epoch ?? 1);
    if (keep !== '') yield* exec(this.sql.restampKept, [epoch, keep, userId, epoch - 1]);
    return yield* exec(this.sql.destroyByUser, [userId, now, keep]);
  }

  async getByHandle(handle: string): Promise<SessionSummary | null> {
    checkHandle('getByHandle', handle);
    return this.op('getByHandle', async () => {
      const rows = await this.executor.all(this.sql.byHandle, [handle, Date.now()]);
      return this.summaries(rows)[0] ?? null;
    });
  }

  async destroyByHandle(handle: string): Promise<boolean> {
    checkHandle('destroyByHandle', handle);
    return this.op('destroyByHandle', async () => {
      return (await this.executor.run(this.sql.destroyByHandle, [handle, Date.now()])) > 0;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pruneTimer) clearTimeout(this.pruneTimer);
    this.pruneTimer = null;
    await closeWithin(
      this.timeout,
      () => this.executor.close(),
      () => this.executor.destroy?.(),
    );
  }

  /** Bounds a backend call by `timeout`, creates the table first, and names unreachable servers as such. */
  protected op<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return this.run(operation, async () => {
      try {
        if (this.closed) throw closedError(operation);
        await this.ensureTable();
        // close() may have run while the table was made: the connection is gone, say so plainly.
        if (this.closed) throw closedError(operation);
        return await fn();
      } catch (error) {
        if (this.executor.isUnavailable(error)) throw StoreUnavailableError.fromDriver(operation, error);
        // A call cut by close() (the pool ended under it: "Pool is closed.", "Cannot use a pool after
        // calling end on the pool") is the same case as a call made after it: a 503 a load balancer
        // retries elsewhere, not a 500. The store's own typed errors keep their meaning.
        if (this.closed && !(error instanceof SessionError)) throw closedError(operation, error);
        throw error;
      }
    });
  }

  private ensureTable(): Promise<void> {
    if (this.setup.length === 0) return Promise.resolve();
    if (!this.ready) {
      const ready = (async () => {
        for (const step of this.setup) {
          if (typeof step === 'string') await this.executor.run(step, []);
          else await step(this.executor);
        }
        await this.addEpochColumn();
      })();
      // A failed attempt (server down at startup) is retried by the next operation.
      ready.catch(() => {
        if (this.ready === ready) this.ready = null;
      });
      this.ready = ready;
    }
    return this.ready;
  }

  /** A sessions table made before the revocation epoch gets its `epoch` column (existing rows: no stamp). */
  private async addEpochColumn(): Promise<void> {
    try {
      await this.executor.all(this.sql.probeEpoch, []);
      return;
    } catch {
      // No such column yet.
    }
    try {
      await this.executor.run(this.addColumn, []);
    } catch (error) {
      // Another process added it first; anything else shows on the probe.
      await this.executor.all(this.sql.probeEpoch, []).catch(() => {
        throw error;
      });
    }
  }

  /** Reads the live legacy row under a lock, deletes it, and returns it as a record for the caller to write. */
  private *takeLegacy(id: string, now: number): TxBody<SessionRecord | null> {
    if (!this.legacy) return null;
    const [old] = yield* all(this.legacy.lock, [id, now]);
    if (!old) return null;
    yield* exec(this.legacy.destroy, [id]);
    const record = this.decodeLegacy(old, now);
    if (record?.userId != null && legacyRevoked(yield* all(this.sql.readEpoch, [record.userId]))) return null;
    return record;
  }

  private decode(row: Row): SessionRecord | null {
    try {
      if (typeof row.data !== 'string' || typeof row.cookie !== 'string')
        throw new TypeError('data or cookie is not text');
      return decodeRecord({
        data: parseJson(row.data),
        cookie: parseJson(row.cookie),
        expiresAt: toTime(row.expires_at),
        createdAt: toTime(row.created_at),
        lastSeenAt: toTime(row.last_seen_at),
        userId: userIdOfRow(row.user_id, this.userIdBytes),
      });
    } catch (error) {
      reportCorrupt(this, error);
      return null;
    }
  }

  private decodeLegacy(row: Row, now: number): SessionRecord | null {
    try {
      if (typeof row.payload !== 'string') throw new TypeError('legacy payload is not text');
      const record = fromStoredExpressSession(row.payload, now, this.ttl);
      // The anchor's own expiry column is the authority: its touch moves the column, not the payload.
      const expiresAt = toTime(row.expires_ms);
      return Number.isFinite(expiresAt) ? { ...record, expiresAt } : record;
    } catch (error) {
      reportCorrupt(this, error);
      return null;
    }
  }

  private summaries(rows: Row[]): SessionSummary[] {
    const out: SessionSummary[] = [];
    for (const row of rows) {
      try {
        if (typeof row.data !== 'string') throw new TypeError('data is not text');
        const data = parseJson(row.data);
        if (typeof data !== 'object' || data === null || Array.isArray(data))
          throw new TypeError('data is not an object');
        out.push({
          handle: String(row.id),
          userId: userIdOfRow(row.user_id, this.userIdBytes),
          createdAt: toTime(row.created_at),
          lastSeenAt: toTime(row.last_seen_at),
          expiresAt: toTime(row.expires_at),
          data: data as Record<string, unknown>,
        });
      } catch (error) {
        reportCorrupt(this, error);
      }
    }
    return out;
  }

  private schedulePrune(): void {
    const mean = this.pruneInterval;
    if (mean === false || this.closed) return;
    // ±50% so that many instances started together do not all prune at once (as connect-pg-simple).
    // At most what a timer holds: a longer delay fires after 1 ms, and the store would prune in a loop.
    const delay = Math.min(Math.ceil(mean / 2 + mean * Math.random()), MAX_TIMER_MS);
    this.pruneTimer = setTimeout(() => {
      this.pruneTimer = null;
      // A failed prune is harmless (reads filter expired rows); the next one catches up.
      this.prune()
        .catch(() => undefined)
        .finally(() => this.schedulePrune());
    }, delay);
    this.pruneTimer.unref();
  }

  /** See SessionStore.resealByHandle: read under the row lock, swap the values still as read, write back. */
  async resealByHandle(handle: string, swaps: readonly DataSwap[]): Promise<number> {
    checkHandle('resealByHandle', handle);
    checkSwaps('resealByHandle', swaps);
    if (swaps.length === 0) return 0;
    return this.op('resealByHandle', () =>
      this.executor.transaction(() => this.resealTx(handle, swaps, Date.now())),
    );
  }

  private *resealTx(handle: string, swaps: readonly DataSwap[], now: number): TxBody<number> {
    const [row] = yield* all(this.sql.lockLive, [handle, now]);
    if (!row || typeof row.data !== 'string') return 0;
    let data: unknown;
    try {
      data = parseJson(row.data);
    } catch {
      return 0; // corrupt: a read reports and removes it
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return 0;
    const values = data as Record<string, unknown>;
    let replaced = 0;
    for (const { key, from, to } of swaps) {
      if (!Object.hasOwn(values, key) || values[key] !== from) continue;
      values[key] = to;
      replaced++;
    }
    if (replaced > 0) yield* exec(this.resealData, [stringifyJson(values), handle]);
    return replaced;
  }
}

/**
 * The row's stamp is below its user's epoch (the join's `revoked_below`, null before any revoke). A row
 * without a stamp is not revoked by the epoch (see epochTableSql).
 */
function isRevoked(row: Row): boolean {
  const below = row.revoked_below;
  if (below === null || below === undefined || row.stamp === null || row.stamp === undefined) return false;
  return Number(row.stamp) < Number(below);
}

/** The parameters of `userEpoch` (see statements): the user, and the stamp when they have no epoch row. */
function stampFor(userId: string | null | undefined): [string | null, number | null] {
  const user = userId ?? null;
  return [user, user === null ? null : 0];
}

/**
 * A `user_id` as the driver returns it: text, or bytes from MySQL's `varbinary` column (mysqlUserIdType).
 * Bytes anywhere else (a BLOB that SQLite keeps in its text column) are corrupt: the user's listing,
 * revoke-all and revocation epoch compare text, so such a row would load as the user yet survive "log
 * out everywhere".
 */
function userIdOfRow(value: unknown, bytes: boolean): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (bytes && Buffer.isBuffer(value)) return value.toString('utf8');
  throw new TypeError(bytes ? 'user_id is neither text nor bytes' : 'user_id is not text');
}

function toRow(key: string, record: SessionRecord): unknown[] {
  return [
    key,
    stringifyJson(record.data),
    stringifyJson(record.cookie),
    record.userId,
    ms(record.createdAt),
    ms(record.lastSeenAt),
    ms(record.expiresAt),
  ];
}

/** The options every SQL store reads from its URL's parameters (already checked by the registry). */
export function sqlOptionsFromParams(params: StoreParams): SqlStoreOptions {
  const options: SqlStoreOptions = {};
  if (params.table !== undefined) options.table = params.table as string;
  if (params.timeout !== undefined) options.timeout = params.timeout as number;
  if (params.ttl !== undefined) options.ttl = params.ttl as number;
  if (params.pruneInterval !== undefined) options.pruneInterval = params.pruneInterval as number | false;
  if (params.createTable !== undefined) options.createTable = params.createTable as boolean;
  return options;
}

/** Why a call on a closed store fails, in words an operator recognises. */
export const STORE_CLOSED = 'the store was closed (close() was called)';

/** A call on a store after its close(): unavailable (503). */
function closedError(operation: string, cause?: unknown): StoreUnavailableError {
  return new StoreUnavailableError(operation, STORE_CLOSED, cause);
}

/** A `legacy` layout from URL parameters: the layout name alone, or with its table. */
export function legacyFromParams(
  params: StoreParams,
): string | { layout: string; table: string } | undefined {
  if (params.legacy === undefined) {
    if (params.legacyTable !== undefined) throw new StoreUrlError('parameter `legacyTable` needs `legacy`');
    return undefined;
  }
  const layout = params.legacy as string;
  return params.legacyTable === undefined ? layout : { layout, table: params.legacyTable as string };
}

/**
 * Runs `attempt` again (up to 3 times in all) when `retryable` says the database rolled it back to break
 * a deadlock or a serialization conflict: the transaction did nothing, so running it again is safe.
 */
export async function retryTransaction<T>(
  attempt: () => Promise<T>,
  retryable: (error: unknown) => boolean,
): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (tries >= 3 || !retryable(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 * tries + Math.random() * 10));
    }
  }
}
