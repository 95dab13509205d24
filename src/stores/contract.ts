/**
 * The contract every sessionkit store implements, and what every store shares around it: argument
 * checks, failure classification (`isConnectionError`, `toStoreError`), bounded calls (`runBounded`),
 * paging and corrupt-record reporting. express-session compatibility lives in ./express-compat/.
 */
import type { EventEmitter } from 'node:events';
import {
  CorruptSessionError,
  describe,
  InvalidArgumentError,
  InvalidRecordError,
  InvalidUserIdError,
  NotSupportedError,
  OptionsError,
  SessionDataError,
  SessionError,
  SessionTooLargeError,
  StoreError,
  StoreTimeoutError,
  StoreUnavailableError,
} from '../core/errors.js';
import { stringifyJson } from '../core/serializer.js';
import { MAX_DATE, MAX_TIMER_MS } from '../core/time.js';
import type {
  LimitOutcome,
  ListOptions,
  ListPage,
  SessionDelta,
  SessionRecord,
  SessionSummary,
  UserLimit,
} from '../core/types.js';

/**
 * The promise-based contract every sessionkit store implements. IDs are the raw session IDs; a store
 * files them under `storageKey(id)` (SHA-256), and listings identify sessions by that `handle` only.
 * Expired records are never returned, whether or not the store has removed them yet.
 */
export interface SessionStore {
  get(id: string): Promise<SessionRecord | null>;
  /**
   * Inserts; resolves `false` (and changes nothing) when a live record with this ID exists. Atomic: of
   * concurrent creates of one ID, from any number of store instances, exactly one resolves `true`.
   */
  create(id: string, record: SessionRecord): Promise<boolean>;
  /** Merges the delta atomically; resolves `false` when the record is absent or expired. Never creates. */
  update(id: string, delta: SessionDelta): Promise<boolean>;
  /** Whole-object upsert (express-session's `set`, migrations). */
  set(id: string, record: SessionRecord): Promise<void>;
  destroy(id: string): Promise<void>;
  /** Moves the expiry and last-seen time; resolves `false` when the record is absent or expired. */
  touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean>;
  list?(options?: ListOptions): Promise<ListPage>;
  length?(): Promise<number>;
  clear?(): Promise<void>;
  /** Removes expired records now; resolves how many went. */
  prune?(): Promise<number>;
  listByUser?(userId: string): Promise<SessionSummary[]>;
  /** Destroys every session of the user, but the one with ID `except`; resolves how many went. */
  destroyByUser?(userId: string, options?: { except?: string }): Promise<number>;
  getByHandle?(handle: string): Promise<SessionSummary | null>;
  destroyByHandle?(handle: string): Promise<boolean>;
  close?(): Promise<void>;
  /**
   * Throws InvalidUserIdError when the store could not hold `userId` byte for byte (too long for its
   * column, a character it cannot store). `login()` calls it before it changes anything, so a refused
   * user ID leaves the user's session as it was.
   */
  checkUserId?(userId: string): void;
  /**
   * For `sessionkit rekey`: in the record filed under `handle`, replaces each data value that still
   * equals `swap.from` with `swap.to`, each one atomically, and changes nothing else (not the expiry,
   * the user or another value). A value the application has rewritten or removed since it was read is
   * left as the application wrote it. Resolves how many values were replaced; 0 when the record is gone.
   */
  resealByHandle?(handle: string, swaps: readonly DataSwap[]): Promise<number>;
  /**
   * `login()` under `maxSessionsPerUser` (C31): inserts the session bound to `record.userId` and applies
   * the user's limit in ONE atomic step, serialised with every other login and revocation of that user
   * (on every instance of the store), so concurrent logins cannot add up past `limit.max`. Counts the
   * user's live, unrevoked sessions but `limit.replaces`; at the limit, evicts the oldest by `createdAt`
   * (destroyed so that no in-flight request of theirs brings them back) or, under `'refuse'`, changes
   * nothing and resolves `refused`.
   */
  createWithinLimit?(id: string, record: SessionRecord, limit: UserLimit): Promise<LimitOutcome>;
}

/** `createWithinLimit`'s arguments, as every store checks them. */
export function checkUserLimit(
  store: SessionStore,
  operation: string,
  record: unknown,
  limit: unknown,
): asserts limit is UserLimit {
  checkRecord(store, operation, record);
  if (typeof (record as SessionRecord).userId !== 'string')
    throw new InvalidArgumentError(operation, 'record.userId', 'a user ID');
  if (typeof limit !== 'object' || limit === null)
    throw new InvalidArgumentError(operation, 'limit', 'a user limit');
  const { max, onLimit, replaces } = limit as Partial<UserLimit>;
  if (!(Number.isSafeInteger(max) && (max as number) > 0))
    throw new InvalidArgumentError(operation, 'limit.max', 'a positive integer');
  if (onLimit !== 'evict-oldest' && onLimit !== 'refuse')
    throw new InvalidArgumentError(operation, 'limit.onLimit', "'evict-oldest' or 'refuse'");
  if (replaces !== undefined) checkId(operation, replaces, 'limit.replaces');
}

/**
 * Which of a user's live sessions a login evicts, oldest first: `sessions` sorted by `createdAt`
 * (ties by key). `null` means refused; for stores that apply the limit in their own process.
 */
export function evictionsFor<T>(sessions: readonly T[], limit: UserLimit): T[] | null {
  const over = sessions.length - limit.max + 1;
  if (over <= 0) return [];
  return limit.onLimit === 'refuse' ? null : sessions.slice(0, over);
}

// ---- Argument checks shared by every store (JavaScript callers have no compiler) ----

// A lone surrogate has no UTF-8 form: drivers write U+FFFD for it, so two different IDs would meet.
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * For stores whose drivers write text as UTF-8 (Redis hash fields, MongoDB's BSON names and strings): a
 * lone surrogate would reach the server as U+FFFD, so the session would read back altered, or two keys
 * would become one. Refused with ERR_SESSION_DATA before anything is written.
 */
export function checkWellFormedKey(key: string): void {
  if (!isWellFormedKey(key))
    throw new SessionDataError('a key is not well-formed Unicode (a lone surrogate)');
}

/** Whether `key` could be stored by a store that checks keys with checkWellFormedKey. */
export function isWellFormedKey(key: string): boolean {
  return !LONE_SURROGATE.test(key);
}

/** `text` with each lone surrogate replaced by U+FFFD, as a UTF-8 driver would send it. */
export function wellFormedText(text: string): string {
  return text.replace(/\p{Surrogate}/gu, '\uFFFD');
}

// JSON.stringify writes a lone surrogate as a `\udXXX` escape and leaves a paired one as it is; an odd run
// of backslashes before `ud8`–`udf` is such an escape, an even run is backslash characters.
const ESCAPED_LONE_SURROGATE = /(?<!\\)(?:\\\\)*\\ud[89a-f]/;

/** checkWellFormedKey for JSON text from JSON.stringify: every key and string in it. */
export function checkWellFormedJson(json: string): void {
  if (ESCAPED_LONE_SURROGATE.test(json)) {
    throw new SessionDataError('a key or a string is not well-formed Unicode (a lone surrogate)');
  }
}

/** Refuses a session ID that is not a string: it would otherwise reach a query as an object or a number. */
export function checkId(operation: string, id: unknown, argument = 'id'): asserts id is string {
  if (typeof id !== 'string') throw new InvalidArgumentError(operation, argument, 'a string');
}

/**
 * Refuses times that are not finite numbers (epoch ms): a touch or an update would otherwise store an
 * invalid deadline. `prefix` names where the arguments sit (`delta.` in an update's delta).
 */
export function checkTouchTimes(
  operation: string,
  expiresAt: unknown,
  lastSeenAt: unknown,
  prefix = '',
): void {
  if (!isEpochMs(expiresAt)) throw new InvalidArgumentError(operation, `${prefix}expiresAt`, EPOCH_MS);
  if (!isEpochMs(lastSeenAt)) throw new InvalidArgumentError(operation, `${prefix}lastSeenAt`, EPOCH_MS);
}

const EPOCH_MS = 'a number of epoch milliseconds within the range of a Date';

/** Refuses a handle that is not a string (a malformed string handle simply names no session). */
export function checkHandle(operation: string, handle: unknown): asserts handle is string {
  if (typeof handle !== 'string') throw new InvalidArgumentError(operation, 'handle', 'a string');
}

/** Refuses a user ID that is not a string, or not well-formed Unicode (no byte-exact form to store). */
export function checkUserIdArgument(operation: string, userId: unknown): asserts userId is string {
  if (typeof userId !== 'string') throw new InvalidArgumentError(operation, 'userId', 'a string');
  // As login() refuses it: one store (Redis) keeps '' as "no user", which would make such a session
  // anonymous there and a user's on every other store.
  if (userId === '') throw new InvalidUserIdError('it is empty');
  if (LONE_SURROGATE.test(userId)) throw new InvalidUserIdError('it is not well-formed Unicode');
}

/** What a store can hold in its user column: at most `maxBytes` of UTF-8, and NUL only if `nul`. */
export interface UserIdLimits {
  maxBytes?: number;
  nul?: boolean;
}

/** Throws InvalidUserIdError when `userId` is outside `limits`; for stores' `checkUserId`. */
export function checkUserIdLimits(userId: string, limits: UserIdLimits): void {
  const { maxBytes, nul = true } = limits;
  // A UTF-16 unit is at most 3 bytes of UTF-8, so short IDs skip the exact count.
  if (maxBytes !== undefined && userId.length * 3 > maxBytes && Buffer.byteLength(userId) > maxBytes)
    throw new InvalidUserIdError(`it is over ${maxBytes} bytes of UTF-8, the most this store holds`);
  if (!nul && userId.includes('\0')) throw new InvalidUserIdError('this store cannot hold a NUL character');
}

/** Everything a store needs to know before it binds `userId`: its type, its form, and the store's limits. */
export function checkStoreUserId(
  store: SessionStore,
  operation: string,
  userId: unknown,
): asserts userId is string {
  checkUserIdArgument(operation, userId);
  store.checkUserId?.(userId);
}

/** The record a write was given: an object whose user is `null` or a user ID the store can hold. */
export function checkRecord(
  store: SessionStore,
  operation: string,
  record: unknown,
): asserts record is SessionRecord {
  if (typeof record !== 'object' || record === null)
    throw new InvalidArgumentError(operation, 'record', 'a session record');
  const { data, userId, expiresAt, createdAt, lastSeenAt } = record as Partial<SessionRecord>;
  if (typeof data !== 'object' || data === null)
    throw new InvalidArgumentError(operation, 'record.data', 'an object');
  // A time a database cannot hold would fail as a store outage, or be stored as a record never found again.
  if (!isEpochMs(expiresAt) || !isEpochMs(createdAt) || !isEpochMs(lastSeenAt))
    throw new InvalidRecordError(
      operation,
      '`expiresAt`, `createdAt` and `lastSeenAt` must be numbers within the range of a Date',
    );
  if (userId !== null && userId !== undefined) checkStoreUserId(store, operation, userId);
}

// Within a Date's range (MAX_DATE): every store holds it; past it, one store turns the time into 1970
// (BSON's dates) and others fail as an outage (bigint columns, Redis's PEXPIRE).
function isEpochMs(time: unknown): time is number {
  return typeof time === 'number' && Number.isFinite(time) && Math.abs(time) <= MAX_DATE;
}

/** The delta an update was given: `set` an object, `unset` a list of strings, the user `undefined`, `null` or a holdable ID. */
export function checkDelta(
  store: SessionStore,
  operation: string,
  delta: unknown,
): asserts delta is SessionDelta {
  if (typeof delta !== 'object' || delta === null)
    throw new InvalidArgumentError(operation, 'delta', 'a session delta');
  const { set, unset, userId, maxBytes, expiresAt, lastSeenAt } = delta as Partial<SessionDelta>;
  if (typeof set !== 'object' || set === null)
    throw new InvalidArgumentError(operation, 'delta.set', 'an object');
  if (!Array.isArray(unset) || unset.some((key) => typeof key !== 'string'))
    throw new InvalidArgumentError(operation, 'delta.unset', 'an array of strings');
  if (maxBytes !== undefined && !(typeof maxBytes === 'number' && maxBytes >= 0))
    throw new InvalidArgumentError(operation, 'delta.maxBytes', 'a number of bytes');
  checkTouchTimes(operation, expiresAt, lastSeenAt, 'delta.');
  if (userId !== null && userId !== undefined) checkStoreUserId(store, operation, userId);
}

/** A listing's cursor and limit: a string (or nothing) and a positive integer (or nothing). */
export function checkListOptions(
  operation: string,
  options: unknown,
): asserts options is ListOptions | undefined {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object') throw new InvalidArgumentError(operation, 'options', 'an object');
  const { cursor, limit } = options as ListOptions;
  if (cursor !== undefined && cursor !== null && typeof cursor !== 'string')
    throw new InvalidArgumentError(operation, 'options.cursor', 'a string');
  // One answer on every store: each would page a size of 0, NaN or 2.5 its own way (forever, not at all).
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
    throw new InvalidArgumentError(operation, 'options.limit', 'a positive integer');
}

/** A handle: a session ID's SHA-256 in base64url (core/id.ts `storageKey`). */
const HANDLE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Stores that page in handle order give a page's last handle as the cursor, so anything else came from no
 * page: a cursor cut short or mistyped would otherwise page from the middle, or answer an empty last page
 * that a script takes for the end of the listing.
 */
export function checkHandleCursor(operation: string, cursor: string | null | undefined): void {
  if (cursor && !HANDLE.test(cursor))
    throw new InvalidArgumentError(operation, 'options.cursor', 'a cursor from an earlier page of list()');
}

/**
 * Throws SessionTooLargeError when `data` as JSON is over `maxBytes` (measured as the middleware measures
 * `maxSessionBytes`). `bound`, when given, is the length of a text known to contain that JSON: a UTF-16
 * unit is at most 3 bytes, so a short one needs no exact count.
 */
export function checkDataBytes(data: Record<string, unknown>, maxBytes: number, bound?: number): void {
  if (bound !== undefined && bound * 3 <= maxBytes) return;
  const json = stringifyJson(data);
  if (json.length * 3 <= maxBytes) return;
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) throw new SessionTooLargeError(bytes, maxBytes);
}

/** As `checkDataBytes`, for data already serialised as JSON text. */
export function checkJsonBytes(json: string, maxBytes: number): void {
  if (json.length * 3 <= maxBytes) return;
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) throw new SessionTooLargeError(bytes, maxBytes);
}

/** `destroyByUser`'s arguments: the user, and `except` a session ID when given. */
export function checkDestroyByUser(operation: string, userId: unknown, options: unknown): void {
  checkUserIdArgument(operation, userId);
  if (options === undefined || options === null) return;
  if (typeof options !== 'object') throw new InvalidArgumentError(operation, 'options', 'an object');
  const { except } = options as { except?: unknown };
  if (except !== undefined) checkId(operation, except, 'options.except');
}

export const DEFAULT_STORE_TIMEOUT_MS = 5_000;

/**
 * Refuses a store `timeout` that is not a positive number of milliseconds a Node timer can hold: a longer
 * delay fires after 1 ms, and every call not answered within that millisecond would fail as unavailable.
 */
export function checkStoreTimeout(timeout: number): void {
  if (!(Number.isFinite(timeout) && timeout > 0 && timeout <= MAX_TIMER_MS))
    throw new OptionsError('timeout', `must be a positive number of milliseconds, at most ${MAX_TIMER_MS}`);
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTCONN',
  'PROTOCOL_CONNECTION_LOST',
  'ER_SERVER_SHUTDOWN',
  'ERR_SOCKET_CLOSED',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
]);
const CONNECTION_ERROR_NAMES = new Set([
  'ClientClosedError',
  'ConnectionTimeoutError',
  'SocketClosedUnexpectedlyError',
  'ClientOfflineError',
  'MaxRetriesPerRequestError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'ConnectionError',
]);

/** True when an error from a driver means the backend is unreachable rather than that the call was wrong. */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, name } = error as Error & { code?: unknown };
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  if (CONNECTION_ERROR_NAMES.has(name)) return true;
  const { errors, cause } = error as { errors?: unknown; cause?: unknown };
  if (Array.isArray(errors) && errors.some(isConnectionError)) return true;
  return cause !== undefined && cause !== error && isConnectionError(cause);
}

/** Maps whatever a backend threw to a SessionError: unreachable → ERR_STORE_UNAVAILABLE (503), else ERR_STORE. */
export function toStoreError(operation: string, error: unknown): SessionError {
  if (error instanceof SessionError) return error;
  if (isConnectionError(error)) return StoreUnavailableError.fromDriver(operation, error);
  return new StoreError(operation, error);
}

/** Runs one store operation bounded by `timeoutMs`, with errors mapped by `map` (`toStoreError` by default). */
export function runBounded<T>(
  operation: string,
  timeoutMs: number,
  run: () => Promise<T>,
  map: (operation: string, error: unknown) => unknown = toStoreError,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StoreTimeoutError(operation, timeoutMs)), timeoutMs);
    timer.unref();
    let pending: Promise<T>;
    try {
      pending = run();
    } catch (error) {
      clearTimeout(timer);
      reject(map(operation, error));
      return;
    }
    pending.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(map(operation, error));
      },
    );
  });
}

/** A native store implements the promise contract (it has `create` and `update`); others are express-session stores. */
export function isNativeStore(store: unknown): store is SessionStore {
  const candidate = store as Partial<SessionStore> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.create === 'function' &&
    typeof candidate.update === 'function'
  );
}

/** Every live session, page by page. */
export async function allSummaries(store: SessionStore): Promise<SessionSummary[]> {
  if (!store.list) throw new NotSupportedError('list');
  const out: SessionSummary[] = [];
  let cursor: string | null = null;
  do {
    const page: ListPage = await store.list({ cursor, limit: 500 });
    out.push(...page.sessions);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

/**
 * Reports a corrupt record on the store's `corrupt` event (the middleware forwards it to its own `error`
 * event). Stores treat such a record as absent; a separate event name means nobody's process crashes for
 * want of an `error` listener.
 */
export function reportCorrupt(store: EventEmitter, error: unknown): CorruptSessionError {
  const wrapped =
    error instanceof CorruptSessionError ? error : new CorruptSessionError(describe(error), error);
  store.emit('corrupt', wrapped);
  return wrapped;
}

/** One value `resealByHandle` replaces: top-level data key `key`, only while it still holds `from`. */
export interface DataSwap {
  key: string;
  /** The value as read (a sealed value is a string). */
  from: string;
  to: string;
}

/** `resealByHandle`'s swaps: an array of `{ key, from, to }` strings. */
export function checkSwaps(operation: string, swaps: unknown): asserts swaps is readonly DataSwap[] {
  const ok =
    Array.isArray(swaps) &&
    swaps.every((swap: unknown) => {
      const { key, from, to } = (swap ?? {}) as Partial<DataSwap>;
      return typeof key === 'string' && typeof from === 'string' && typeof to === 'string';
    });
  if (!ok) throw new InvalidArgumentError(operation, 'swaps', 'an array of { key, from, to } strings');
}
