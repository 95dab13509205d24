import {
  CorruptSessionError,
  InvalidArgumentError,
  InvalidRecordError,
  OptionsError,
} from '../core/errors.js';
import { storageKey } from '../core/id.js';
import {
  applyDeltaToRecord,
  parseJson,
  stringifyJson,
  toExpressSessionWithMeta,
} from '../core/serializer.js';
import { isoString, MAX_DATE, MAX_TIMER_MS } from '../core/time.js';
import type {
  CookieData,
  LimitOutcome,
  ListOptions,
  ListPage,
  SessionDelta,
  SessionRecord,
  SessionSummary,
  StoredSession,
  UserLimit,
} from '../core/types.js';
import {
  checkDataBytes,
  checkDelta,
  checkDestroyByUser,
  checkHandle,
  checkId,
  checkListOptions,
  checkRecord as checkRecordArgument,
  checkSwaps,
  checkTouchTimes,
  checkUserIdArgument,
  checkUserLimit,
  type DataSwap,
  evictionsFor,
  reportCorrupt,
  type SessionStore,
} from './contract.js';
import { Store, type StoreOptions, unbridged } from './express-compat/store.js';
import { LOADED_FROM, type Sourced, SYNC, type SyncAccess, type SyncOperation } from './sync.js';

export interface MemoryStoreOptions extends StoreOptions {
  /**
   * Most sessions held. Past it one session is evicted: the anonymous one (no user bound) nearest its
   * deadline, and only when none is left, the logged-in one nearest its deadline. Default 100,000.
   */
  max?: number;
  /** How often expired sessions are swept (ms), at most 2^31-1; `0` never. Default 60 s. The timer is unref'd. */
  sweepInterval?: number;
}

/**
 * A session as the store keeps it: one JSON text,
 * `[expiresAt,createdAt,lastSeenAt - createdAt,userId,cookie,data]` (the offset is a few digits, not 13).
 * Text, so no caller can mutate what the store holds; one flat string with no object beside it, so a
 * session costs its JSON plus its key, with no object and no boxed numbers beside it.
 * The cookie's `expires` is nearly always the ISO form of `expiresAt`: it is then left out and the
 * deadline written negative, which says "restore it". The cookie is nearly always
 * one of a few shapes (the app's cookie options): it is then written as its number in COOKIES, which
 * every session with that shape shares. The text is stored flat (see encode).
 */
type Entry = string;

/**
 * Cookie texts shared by entries, which name one by its index. Process-wide and append-only, so an
 * index always means the same text; past COOKIE_SHAPES shapes a cookie is written inline instead,
 * which bounds the table when an app varies cookies per session (a computed maxAge, say).
 */
const COOKIES: string[] = [];
const COOKIE_INDEX = new Map<string, number>();
/**
 * Each shared cookie text parsed once: a read copies the parsed fields instead of parsing the text
 * again. Cookie fields are primitives, so a shallow copy is a whole copy, and no reader can change
 * the shared one.
 */
const COOKIE_DATA: Partial<CookieData>[] = [];
/** Each shared cookie's keys, in order. */
const COOKIE_KEYS: string[][] = [];
const COOKIE_SHAPES = 1024;
/** The shared cookie the last write's cookie matched without its `expires`: nearly every write has the app's one shape. */
let lastShared = -1;

/** The cookie's index in COOKIES, added if there is room; otherwise the cookie itself, to write inline. */
function sharedCookie(cookie: Partial<CookieData>): number | Partial<CookieData> {
  const text = stringifyJson(cookie);
  let index = COOKIE_INDEX.get(text);
  if (index === undefined) {
    if (COOKIES.length >= COOKIE_SHAPES) return cookie;
    index = COOKIES.push(text) - 1;
    const data = parseJson(text) as Partial<CookieData>;
    COOKIE_DATA.push(data);
    COOKIE_KEYS.push(Object.keys(data));
    COOKIE_INDEX.set(text, index);
  }
  return index;
}

/**
 * `sharedCookie(withoutExpires(cookie))`, without serializing the cookie when it has the fields of the
 * shared cookie the last write matched: the same keys in the same order with the same primitive values
 * serialize to that cookie's text. Anything else (another shape, a value JSON writes differently, such
 * as NaN) takes the full path.
 */
function sharedCookieWithoutExpires(cookie: CookieData): number | Partial<CookieData> {
  if (lastShared !== -1 && hasSharedFields(cookie, lastShared)) return lastShared;
  const shared = sharedCookie(withoutExpires(cookie));
  if (typeof shared === 'number') lastShared = shared;
  return shared;
}

function hasSharedFields(cookie: CookieData, index: number): boolean {
  const keys = COOKIE_KEYS[index] as string[];
  const data = COOKIE_DATA[index] as Record<string, unknown>;
  const fields = cookie as unknown as Record<string, unknown>;
  let at = 0;
  for (const key in fields) {
    if (key === 'expires') continue;
    const value = fields[key];
    if (keys[at] !== key || data[key] !== value || typeof value === 'object') return false;
    at++;
  }
  return at === keys.length;
}

function encode(record: SessionRecord): Entry {
  const { cookie, expiresAt } = record;
  const elide =
    typeof cookie.expires === 'string' &&
    expiresAt > 0 &&
    expiresAt <= MAX_DATE &&
    cookie.expires === isoString(expiresAt);
  const text = stringifyJson([
    elide ? -expiresAt : expiresAt,
    record.createdAt,
    record.lastSeenAt - record.createdAt,
    record.userId,
    // An `expires` left in is this session's own date: no other session shares that text.
    elide
      ? sharedCookieWithoutExpires(cookie)
      : typeof cookie.expires === 'string'
        ? cookie
        : sharedCookie(cookie),
    record.data,
  ]);
  // JSON.stringify returns a rope (V8 joins its output from parts of growing size: three or four pieces
  // and the nodes joining them for a typical session). Reading a character flattens it in place, and
  // the collector then drops the rope's nodes and its pieces, which held more than the text itself.
  text.charCodeAt(0);
  return text;
}

/**
 * The record an entry holds; its fields' types are checked where records are used (validateRecord).
 * `expires` says who needs the cookie's elided `expires` back: `'always'`; `'middleware'` (which builds
 * a `maxAge` cookie's expiry from the deadline with `restoreCookie`, making and checking the ISO text
 * would be a large share of a read; its record also names the entry it came from, see LOADED_FROM);
 * `'never'` (an update whose delta brings its own cookie: the stored one is thrown away).
 */
function decode(entry: Entry, expires: 'always' | 'middleware' | 'never' = 'always'): SessionRecord {
  const fields = parseJson(entry);
  if (!Array.isArray(fields) || fields.length !== 6) throw new CorruptSessionError('not a MemoryStore entry');
  const [deadline, createdAt, lastSeenOffset, userId, stored, data] = fields;
  let cookie = stored;
  if (typeof stored === 'number') {
    const shared = COOKIE_DATA[stored];
    if (shared === undefined) throw new CorruptSessionError('unknown MemoryStore cookie');
    cookie = { ...shared };
  }
  const expiresAt = Math.abs(deadline as number);
  if (
    deadline < 0 &&
    expires !== 'never' &&
    expiresAt <= MAX_DATE &&
    cookie !== null &&
    typeof cookie === 'object' &&
    !(expires === 'middleware' && typeof cookie.originalMaxAge === 'number')
  )
    cookie.expires = isoString(expiresAt);
  const record: Sourced = {
    data: data as Record<string, unknown>,
    cookie: cookie as CookieData,
    expiresAt,
    createdAt: createdAt as number,
    lastSeenAt: (createdAt as number) + (lastSeenOffset as number),
    userId: userId as string | null,
  };
  if (expires === 'middleware') record[LOADED_FROM] = entry;
  return record;
}

/**
 * The entry's deadline, read without parsing the rest (and, for the usual integer, without allocating:
 * a sweep reads millions); NaN for a corrupt entry.
 */
function deadlineOf(entry: Entry): number {
  let i = entry.charCodeAt(1) === 0x2d ? 2 : 1;
  let value = 0;
  for (; i < entry.length; i++) {
    const digit = entry.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  // Not a plain integer of at most 15 digits (exact in a double) before the comma: let Number decide.
  if (entry.charCodeAt(i) !== 0x2c || i === 1 || i > 17)
    return Math.abs(Number(entry.slice(1, entry.indexOf(','))));
  return value;
}

/**
 * The user an entry is bound to, read from its fourth field without parsing the record: every swept,
 * evicted or destroyed session needs it to leave the user index. Anything unexpected decodes in full.
 */
function userIdOf(entry: Entry): string | null {
  // The first three fields are numbers, which hold no comma.
  let at = 0;
  for (let field = 0; field < 3; field++) {
    at = entry.indexOf(',', at + 1);
    if (at === -1) return decode(entry).userId;
  }
  if (entry.startsWith('null,', at + 1)) return null;
  if (entry.charCodeAt(at + 1) !== 0x22) return decode(entry).userId;
  // The closing quote is the first one not escaped by an odd run of backslashes.
  for (let end = entry.indexOf('"', at + 2); end !== -1; end = entry.indexOf('"', end + 1)) {
    let backslashes = 0;
    while (entry.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return JSON.parse(entry.slice(at + 1, end + 1)) as string;
  }
  return decode(entry).userId;
}

/**
 * A record from a caller without a compiler: the fields `encode` reads must be there, or the caller gets a
 * typed error rather than a TypeError from deep inside.
 */
function checkRecordShape(operation: string, record: SessionRecord): void {
  if (typeof record !== 'object' || record === null) throw new InvalidRecordError(operation, 'not an object');
  const { cookie, data } = record;
  if (typeof cookie !== 'object' || cookie === null)
    throw new InvalidRecordError(operation, 'no `cookie` object');
  if (typeof data !== 'object' || data === null) throw new InvalidRecordError(operation, 'no `data` object');
}

function withoutExpires(cookie: CookieData): Partial<CookieData> {
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(cookie))
    if (key !== 'expires') copy[key] = (cookie as unknown as Record<string, unknown>)[key];
  return copy;
}

/**
 * The table is split over this many Maps by the key's first character. V8 rehashes a Map whole when
 * deletions shrink it: in one Map of a million sessions, a single delete during a mass expiry would block
 * the event loop for the whole rehash; 64 smaller Maps keep each rehash short.
 */
const SHARDS = 64;
/** A key's shard: keys are base64url SHA-256, whose 64-letter alphabet maps one letter to each shard. */
const SHARD_OF = new Uint8Array(128);
for (const [i, letter] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries())
  SHARD_OF[letter.charCodeAt(0)] = i % SHARDS;

/** Expired entries removed per slice of a sweep at most, so a mass expiry never blocks the event loop for long. */
const SWEEP_SLICE = 5_000;
/** A slice also stops after this many ms (checked every 128 removals): slow machines get smaller slices. */
const SWEEP_SLICE_MS = 2;

/**
 * A min-heap of deadlines as two parallel arrays (keys, and deadlines as unboxed doubles): no node object
 * and no boxed number per entry. Nodes go stale when their entry moves on; readers check them.
 */
class DeadlineHeap {
  keys: string[] = [];
  at: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  /** The earliest deadline, or +Infinity when empty. */
  peek(): number {
    return this.keys.length === 0 ? Number.POSITIVE_INFINITY : (this.at[0] as number);
  }

  push(at: number, key: string): void {
    const keys = this.keys;
    const heapAt = this.at;
    keys.push(key);
    heapAt.push(at);
    let i = keys.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heapAt[parent] as number) <= at) break;
      keys[i] = keys[parent] as string;
      heapAt[i] = heapAt[parent] as number;
      i = parent;
    }
    keys[i] = key;
    heapAt[i] = at;
  }

  pop(): void {
    const last = this.keys.pop();
    const lastAt = this.at.pop();
    if (last === undefined || lastAt === undefined || this.keys.length === 0) return;
    this.keys[0] = last;
    this.at[0] = lastAt;
    this.siftDown(0);
  }

  /** A heap of these nodes, made in O(n) (Floyd's): the arrays become the heap's own. */
  static of(keys: string[], at: number[]): DeadlineHeap {
    const heap = new DeadlineHeap();
    heap.keys = keys;
    heap.at = at;
    for (let i = (keys.length >> 1) - 1; i >= 0; i--) heap.siftDown(i);
    return heap;
  }

  private siftDown(from: number): void {
    const keys = this.keys;
    const heapAt = this.at;
    const size = keys.length;
    const key = keys[from] as string;
    const at = heapAt[from] as number;
    let i = from;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && (heapAt[right] as number) < (heapAt[left] as number) ? right : left;
      if ((heapAt[child] as number) >= at) break;
      keys[i] = keys[child] as string;
      heapAt[i] = heapAt[child] as number;
      i = child;
    }
    keys[i] = key;
    heapAt[i] = at;
  }
}

/** Heap nodes gathered for a rebuild, as the heap holds them: keys and deadlines side by side. */
interface HeapNodes {
  keys: string[];
  at: number[];
}

/** A rebuild of the deadline heaps in progress: the nodes gathered so far, per heap. */
interface HeapRebuild {
  anonymous: HeapNodes;
  bound: HeapNodes;
  /** The shard being read, and where in it. */
  shard: number;
  entries: Iterator<[string, Entry]> | null;
}

/**
 * Which heap an entry's node belongs in: the anonymous one, the bound one, or none for an entry whose
 * user cannot be read (corrupt: it stays out of the heaps until a read reports and removes it).
 */
function isAnonymous(entry: Entry, hasUsers: boolean): boolean | null {
  if (!hasUsers) return true;
  try {
    return userIdOf(entry) === null;
  } catch {
    return null;
  }
}

function badCursor(): InvalidArgumentError {
  return new InvalidArgumentError('list', 'options.cursor', 'a cursor from an earlier page of list()');
}

/** Listings paged through at once (one per admin page or CLI run); the oldest is dropped past this. */
const LISTINGS = 8;

/** Where a MemoryStore keeps its synchronous methods, for the engine (engine/store-access.ts); exported from `sessionkit/internals` only, not from the package root. */
export const NOW = Symbol('sessionkit.memory.now');

/** The MemoryStore methods the middleware calls on every request, answering at once. */
export interface MemoryStoreNow {
  /** As `get`, but a cookie with a `maxAge` comes without `expires`: the middleware rebuilds it from `expiresAt`. */
  get(id: string): SessionRecord | null;
  create(id: string, record: SessionRecord): boolean;
  /** `loaded`: see SyncAccess.update. */
  update(id: string, delta: SessionDelta, loaded?: SessionRecord | null): boolean;
  touch(id: string, expiresAt: number, lastSeenAt: number): boolean;
}

/**
 * A bounded, expiring in-process store. Expiry runs off min-heaps of deadlines, so a sweep costs
 * O(expired · log n) rather than a scan of every session. Past the size cap it evicts the anonymous
 * session nearest its deadline, and a logged-in one only when no anonymous one is left: a flood of
 * anonymous requests (`saveUninitialized: true`) cannot push signed-in users out. Anonymous and bound
 * sessions sit in two heaps, so eviction is a heap pop, with no per-entry bookkeeping.
 * It never grows without bound. Sessions are lost on restart and are not shared between processes.
 */
/** Clears the sweep timer of a store that was collected without close(). */
const sweepTimers = new FinalizationRegistry<NodeJS.Timeout>((timer) => clearInterval(timer));

export class MemoryStore extends Store implements SessionStore {
  readonly max: number;
  private readonly shards: Map<string, Entry>[] = Array.from({ length: SHARDS }, () => new Map());
  /** Entries held across the shards. */
  private size = 0;
  private readonly byUser = new Map<string, Set<string>>();
  /** Revocation epochs above 0, per user (see destroyByUser). */
  private readonly epochs = new Map<string, number>();
  /** The epoch each session was bound at, where above 0. */
  private readonly stamps = new Map<string, number>();
  /** Deadlines of sessions written with no user bound: evicted first. */
  private anonymous = new DeadlineHeap();
  /** Deadlines of sessions bound to a user. */
  private bound = new DeadlineHeap();
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;
  /**
   * The last ID hashed and its key: a request's get and its update/touch hash the same ID. `null` until
   * the first: any string, the empty one included, is hashed on first sight.
   */
  private lastId: string | null = null;
  /** The key snapshot of each listing being paged through, by its number (see list()). */
  private readonly listings = new Map<number, string[]>();
  private listingsMade = 0;
  /** A rebuild of the deadline heaps running in slices (see push()), or null. */
  private rebuilding: HeapRebuild | null = null;
  private lastKey = '';

  constructor(options: MemoryStoreOptions = {}) {
    super(options);
    this.max = options.max ?? 100_000;
    if (!Number.isInteger(this.max) || this.max < 1)
      throw new OptionsError('max', 'must be a positive integer');
    const interval = options.sweepInterval ?? 60_000;
    // A longer interval fires every millisecond instead of rarely: 0 is the way to sweep never.
    if (!(typeof interval === 'number' && interval >= 0 && interval <= MAX_TIMER_MS))
      throw new OptionsError(
        'sweepInterval',
        `must be a number of milliseconds from 0 (no sweep) to ${MAX_TIMER_MS} (the longest delay a Node timer keeps)`,
      );
    if (interval > 0) this.timer = MemoryStore.sweepTimer(this, interval);
  }

  /**
   * The sweep timer holds its store only weakly: a live interval is a GC root, and a store nobody else
   * references (the default store of a middleware made per request) must be collected with its sessions,
   * as express-session's is. The interval is cleared once the store is gone.
   */
  private static sweepTimer(store: MemoryStore, interval: number): NodeJS.Timeout {
    // The callback sees only the WeakRef, never `store` itself.
    const ref = new WeakRef(store);
    const timer = setInterval(() => {
      const live = ref.deref();
      if (live) live.sweepInSlices();
      else clearInterval(timer);
    }, interval);
    timer.unref();
    sweepTimers.register(store, timer);
    return timer;
  }

  /**
   * The contract's hot methods without the promise, for the middleware in this process: a request on
   * this store is loaded and committed in the same tick. The promise methods below call these, but `get`,
   * whose twin leaves out the expiry the middleware rebuilds.
   */
  readonly [NOW]: MemoryStoreNow = {
    get: (id) => this.read(this.keyOf(id), true),
    create: (id, record) => {
      const key = this.keyOf(id);
      if (this.live(key)) return false;
      this.put(key, record, null);
      return true;
    },
    update: (id, delta, loaded) => {
      const key = this.keyOf(id);
      const entry = this.live(key);
      if (!entry) return false;
      // The loaded record's data is the caller's, whose session may have changed nested values in
      // place since; the delta was diffed against that record just now, so every value that differs
      // from what the entry holds is in the delta. Its cookie lacks the elided `expires`: only a delta
      // with a cookie of its own can use it.
      const current =
        loaded != null && delta.cookie !== undefined && (loaded as Sourced)[LOADED_FROM] === entry
          ? loaded
          : decode(entry, delta.cookie === undefined ? 'always' : 'never');
      const next = applyDeltaToRecord(current, delta);
      const encoded = encode(next);
      // The size cap is checked here, on the merged data, so concurrent requests cannot add up past it;
      // the entry's length bounds the data's, so only a large entry is measured exactly.
      if (delta.maxBytes !== undefined) checkDataBytes(next.data, delta.maxBytes, encoded.length);
      this.put(key, next, current.userId, encoded);
      return true;
    },
    touch: (id, expiresAt, lastSeenAt) => {
      const key = this.keyOf(id);
      const record = this.read(key);
      if (!record) return false;
      record.expiresAt = expiresAt;
      record.lastSeenAt = lastSeenAt;
      this.put(key, record, record.userId);
      return true;
    },
  };

  get(id: string): Promise<SessionRecord | null>;
  /** express-session's form: the session in its shape (`undefined` when there is none). */
  get(sid: string, callback: (err: Error | null, session?: StoredSession | null) => void): void;
  async get(id: string): Promise<SessionRecord | null> {
    checkId('get', id);
    return this.read(this.keyOf(id));
  }

  async create(id: string, record: SessionRecord): Promise<boolean> {
    checkId('create', id);
    checkRecordArgument(this, 'create', record);
    checkRecordShape('create', record);
    return this[NOW].create(id, record);
  }

  /**
   * One synchronous step (nothing interleaves in this process): counts the user's live sessions but the
   * replaced one, removes the oldest by `createdAt` or refuses, then inserts. An evicted entry is gone
   * from the map, so a request of its still in flight finds nothing to update or touch.
   */
  async createWithinLimit(id: string, record: SessionRecord, limit: UserLimit): Promise<LimitOutcome> {
    checkId('createWithinLimit', id);
    checkRecordArgument(this, 'createWithinLimit', record);
    checkRecordShape('createWithinLimit', record);
    checkUserLimit(this, 'createWithinLimit', record, limit);
    const key = this.keyOf(id);
    if (this.live(key)) return { result: 'exists', evicted: [] };
    const replaced = limit.replaces === undefined ? null : storageKey(limit.replaces);
    const others: Array<{ key: string; createdAt: number }> = [];
    for (const other of [...(this.byUser.get(record.userId as string) ?? [])]) {
      if (other === replaced || other === key) continue;
      const found = this.read(other);
      if (found !== null && found.userId === record.userId)
        others.push({ key: other, createdAt: found.createdAt });
    }
    others.sort((a, b) => a.createdAt - b.createdAt || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const evict = evictionsFor(others, limit);
    if (evict === null) return { result: 'refused', evicted: [] };
    for (const victim of evict) this.remove(victim.key);
    this.put(key, record, null);
    return { result: 'created', evicted: evict.map((victim) => victim.key) };
  }

  async update(id: string, delta: SessionDelta): Promise<boolean> {
    checkId('update', id);
    checkDelta(this, 'update', delta);
    return this[NOW].update(id, delta);
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    checkId('set', id);
    checkRecordArgument(this, 'set', record);
    checkRecordShape('set', record);
    const key = this.keyOf(id);
    this.put(key, record, this.userOf(key));
  }

  destroy(id: string): Promise<void>;
  /** express-session's form. */
  destroy(sid: string, callback: (err: Error | null) => void): void;
  async destroy(id: string): Promise<void> {
    checkId('destroy', id);
    this.remove(this.keyOf(id));
  }

  async touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    checkId('touch', id);
    checkTouchTimes('touch', expiresAt, lastSeenAt);
    return this[NOW].touch(id, expiresAt, lastSeenAt);
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    checkListOptions('list', options);
    const limit = options.limit ?? 100;
    const cursor = options.cursor ? /^(\d+)\.(\d+)$/.exec(options.cursor) : null;
    const listing = cursor ? Number(cursor[1]) : 0;
    const start = cursor ? Number(cursor[2]) : 0;
    if (options.cursor && (cursor === null || !Number.isSafeInteger(start))) throw badCursor();
    // One snapshot of the keys per listing, not one per page (that made paging through n sessions
    // O(n²)); each listing its own, so listings paged at once never move each other's places. As with
    // SCAN, a session written during the listing may be missed; one removed is skipped.
    let keys = cursor ? this.listings.get(listing) : undefined;
    let number = listing;
    if (keys === undefined) {
      // A cursor whose listing is gone (past LISTINGS newer ones): its places mean nothing now.
      if (cursor) throw badCursor();
      await this.sweepAll();
      keys = this.shards.flatMap((shard) => [...shard.keys()]);
      number = ++this.listingsMade;
      this.listings.set(number, keys);
      if (this.listings.size > LISTINGS) this.listings.delete(this.listings.keys().next().value as number);
    }
    const page = keys.slice(start, start + limit);
    const sessions = page.flatMap((key) => {
      const summary = this.summary(key);
      return summary ? [summary] : [];
    });
    const more = start + limit < keys.length;
    if (!more) this.listings.delete(number);
    return { sessions, cursor: more ? `${number}.${start + limit}` : null };
  }

  /**
   * express-session's `all`: every live session in express-session's shape, expired ones dropped. Keyed by
   * handle: the store never holds a session ID (called with a callback, as express-session's, too).
   */
  all(): Promise<Record<string, Record<string, unknown>>>;
  /** express-session's form: every live session in its shape, keyed by handle. */
  all(callback: (err: Error | null, sessions?: Record<string, StoredSession>) => void): void;
  async all(): Promise<Record<string, Record<string, unknown>>> {
    await this.sweepAll();
    const sessions: Record<string, Record<string, unknown>> = {};
    for (const shard of this.shards)
      for (const key of [...shard.keys()]) {
        const record = this.read(key);
        if (record) sessions[key] = toExpressSessionWithMeta(record);
      }
    return sessions;
  }

  /** Sweeps what has expired (in slices, the loop free between them), then reads a counter. */
  length(): Promise<number>;
  /** express-session's form. */
  length(callback: (err: Error | null, length?: number) => void): void;
  async length(): Promise<number> {
    await this.sweepAll();
    return this.size;
  }

  clear(): Promise<void>;
  /** express-session's form. */
  clear(callback: (err: Error | null) => void): void;
  async clear(): Promise<void> {
    for (const shard of this.shards) shard.clear();
    this.size = 0;
    this.byUser.clear();
    this.epochs.clear();
    this.stamps.clear();
    this.anonymous = new DeadlineHeap();
    this.bound = new DeadlineHeap();
    this.rebuilding = null;
    this.listings.clear();
  }

  prune(): Promise<number> {
    return this.sweepAll();
  }

  async listByUser(userId: string): Promise<SessionSummary[]> {
    checkUserIdArgument('listByUser', userId);
    const keys = [...(this.byUser.get(userId) ?? [])];
    return keys.flatMap((key) => {
      const summary = this.summary(key);
      return summary ? [summary] : [];
    });
  }

  /**
   * Removes every session the user index holds and raises the user's revocation epoch, in one synchronous
   * step (nothing can interleave in this process). The index here is exact, so the epoch only matters for
   * an entry the index missed; the kept session is re-stamped with the new epoch in the same step.
   */
  async destroyByUser(userId: string, options: { except?: string } = {}): Promise<number> {
    checkDestroyByUser('destroyByUser', userId, options);
    const keep = options.except === undefined ? null : this.keyOf(options.except);
    let removed = 0;
    for (const key of [...(this.byUser.get(userId) ?? [])]) {
      if (key === keep) continue;
      if (this.live(key)) removed++;
      this.remove(key);
    }
    // Checked before the bump: a kept session that was live stays live.
    const kept = keep !== null && this.live(keep) !== null && this.userOf(keep) === userId;
    const epoch = (this.epochs.get(userId) ?? 0) + 1;
    if (this.epochs.size >= this.max) this.forgetEpochs();
    this.epochs.set(userId, epoch);
    if (kept) this.stamps.set(keep, epoch);
    return removed;
  }

  async getByHandle(handle: string): Promise<SessionSummary | null> {
    checkHandle('getByHandle', handle);
    return this.summary(handle);
  }

  async destroyByHandle(handle: string): Promise<boolean> {
    checkHandle('destroyByHandle', handle);
    const existed = this.live(handle) !== null;
    this.remove(handle);
    return existed;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** See SessionStore.resealByHandle: one synchronous step, so nothing interleaves with it. */
  async resealByHandle(handle: string, swaps: readonly DataSwap[]): Promise<number> {
    checkHandle('resealByHandle', handle);
    checkSwaps('resealByHandle', swaps);
    const record = this.read(handle);
    if (!record) return 0;
    let replaced = 0;
    for (const { key, from, to } of swaps) {
      if (!Object.hasOwn(record.data, key) || record.data[key] !== from) continue;
      record.data[key] = to;
      replaced++;
    }
    if (replaced > 0) this.put(handle, record, record.userId);
    return replaced;
  }

  /**
   * The synchronous twins (see sync.ts), for a store that wraps this one (encryption at rest): only while
   * this is exactly a MemoryStore whose `operation` is its own, as the engine checks for itself.
   */
  [SYNC]<K extends SyncOperation>(operation: K, seen: unknown): SyncAccess[K] | null {
    if (Object.getPrototypeOf(this) !== MemoryStore.prototype) return null;
    const own = (MemoryStore.prototype as unknown as Record<string, unknown>)[operation];
    const method = unbridged((this as unknown as Record<string, unknown>)[operation]);
    return seen === own && method === own ? this[NOW][operation] : null;
  }

  private summary(key: string): SessionSummary | null {
    const record = this.read(key);
    if (!record) return null;
    const { data, expiresAt, createdAt, lastSeenAt, userId } = record;
    return { handle: key, data, expiresAt, createdAt, lastSeenAt, userId };
  }

  /** The live record under `key`; a corrupt one is reported and removed. */
  private read(key: string, forMiddleware = false): SessionRecord | null {
    const entry = this.live(key);
    if (entry === null) return null;
    try {
      return decode(entry, forMiddleware ? 'middleware' : 'always');
    } catch (error) {
      reportCorrupt(this, error);
      this.remove(key);
      return null;
    }
  }

  /** The user an entry is bound to; only decoded when some session has a user at all. */
  private userOf(key: string): string | null {
    const entry = this.shardOf(key).get(key);
    if (entry === undefined || this.byUser.size === 0) return null;
    try {
      return userIdOf(entry);
    } catch {
      return null;
    }
  }

  private shardOf(key: string): Map<string, Entry> {
    return this.shards[SHARD_OF[key.charCodeAt(0)] ?? 0] as Map<string, Entry>;
  }

  private keyOf(id: string): string {
    if (id !== this.lastId) {
      this.lastKey = storageKey(id);
      this.lastId = id;
    }
    return this.lastKey;
  }

  /**
   * The entry if present and not expired; an expired one is removed on sight. A corrupt entry (no
   * readable deadline) is returned, so that reading it reports it.
   */
  private live(key: string): Entry | null {
    const entry = this.shardOf(key).get(key);
    if (entry === undefined) return null;
    if (deadlineOf(entry) <= Date.now() || (this.epochs.size > 0 && this.revoked(key, entry))) {
      this.remove(key);
      return null;
    }
    return entry;
  }

  /** The entry's user revoked every session since this one was bound (its stamp is below their epoch). */
  private revoked(key: string, entry: Entry): boolean {
    let userId: string | null;
    try {
      userId = userIdOf(entry);
    } catch {
      return false; // corrupt: reading it reports it
    }
    if (userId === null) return false;
    const epoch = this.epochs.get(userId);
    return epoch !== undefined && (this.stamps.get(key) ?? 0) < epoch;
  }

  /** Stamps a session newly bound to `userId` with that user's epoch; a session that keeps its user keeps its stamp. */
  private stamp(key: string, userId: string | null, bound: boolean): void {
    if (bound) return;
    const epoch = userId === null ? undefined : this.epochs.get(userId);
    if (epoch !== undefined) this.stamps.set(key, epoch);
    else if (this.stamps.size > 0) this.stamps.delete(key);
  }

  /**
   * Keeps the epochs bounded like the sessions: drops those of users with no session left. The index
   * is exact, so no live session of theirs can carry an old stamp.
   */
  private forgetEpochs(): void {
    for (const userId of this.epochs.keys()) if (!this.byUser.has(userId)) this.epochs.delete(userId);
  }

  /**
   * Stores `record` under `key`; `previousUserId` is the user the entry it replaces was bound to, `entry`
   * the record already encoded, when the caller had to encode it.
   */
  private put(
    key: string,
    record: SessionRecord,
    previousUserId: string | null,
    entry = encode(record),
  ): void {
    const shard = this.shardOf(key);
    const existed = shard.has(key);
    if (this.epochs.size > 0 || this.stamps.size > 0)
      this.stamp(key, record.userId, existed && previousUserId === record.userId);
    if (existed) {
      if (previousUserId !== record.userId) this.unindex(key, previousUserId);
    } else {
      if (this.size >= this.max) {
        // One slice, not every expired session at once: this runs inside a request. The rest goes in
        // slices off the request path.
        if (this.sweep(SWEEP_SLICE, performance.now() + SWEEP_SLICE_MS) > 0) this.sweepInSlices();
        if (this.size >= this.max) this.evict();
      }
      this.size++;
    }
    shard.set(key, entry);
    if (record.userId !== null) {
      const keys = this.byUser.get(record.userId);
      if (keys) keys.add(key);
      else this.byUser.set(record.userId, new Set([key]));
    }
    this.push(record.expiresAt, key, record.userId === null);
  }

  private remove(key: string): void {
    const shard = this.shardOf(key);
    if (!shard.has(key)) return;
    const userId = this.userOf(key);
    shard.delete(key);
    this.size--;
    this.unindex(key, userId);
    if (this.stamps.size > 0) this.stamps.delete(key);
  }

  private unindex(key: string, userId: string | null): void {
    if (userId === null) return;
    const keys = this.byUser.get(userId);
    keys?.delete(key);
    if (keys?.size === 0) this.byUser.delete(userId);
  }

  /** Touches leave stale heap nodes behind: a node counts only while `at` is still its entry's deadline. */
  private isCurrent(key: string, at: number): boolean {
    const entry = this.shardOf(key).get(key);
    return entry !== undefined && deadlineOf(entry) === at;
  }

  /**
   * Evicts the anonymous session nearest its deadline; a logged-in one only when no anonymous one is left.
   * A node in the anonymous heap whose entry has since been bound to a user is skipped: binding wrote the
   * entry again, which put a node for it in the bound heap.
   */
  private evict(): void {
    let victim: string | undefined;
    const anonymous = this.anonymous;
    while (victim === undefined && anonymous.size > 0) {
      const at = anonymous.at[0] as number;
      const key = anonymous.keys[0] as string;
      anonymous.pop();
      if (this.isCurrent(key, at) && this.userOf(key) === null) victim = key;
    }
    const bound = this.bound;
    while (victim === undefined && bound.size > 0) {
      const at = bound.at[0] as number;
      const key = bound.keys[0] as string;
      bound.pop();
      if (this.isCurrent(key, at)) victim = key;
    }
    // Only corrupt entries (no deadline, so never in the heap) are left: any of them goes.
    victim ??= this.shards
      .find((shard) => shard.size > 0)
      ?.keys()
      .next().value;
    if (victim === undefined) return;
    this.remove(victim);
    this.emit('evict', victim);
  }

  /**
   * Pops expired deadlines, at most `budget` of them, and stops after `until` (a performance.now() time);
   * stale heap nodes (the entry moved on) are dropped.
   */
  private sweep(budget: number, until = Number.POSITIVE_INFINITY): number {
    const now = Date.now();
    let removed = 0;
    let popped = 0;
    while (budget-- > 0) {
      // The earlier of the two heaps' tops: both hold deadlines, and either may be the next to pass.
      const heap = this.anonymous.peek() <= this.bound.peek() ? this.anonymous : this.bound;
      if (heap.size === 0) break;
      const at = heap.at[0] as number;
      if (at > now) break;
      const key = heap.keys[0] as string;
      heap.pop();
      if (this.isCurrent(key, at)) {
        this.remove(key);
        removed++;
      }
      if ((++popped & 127) === 0 && performance.now() >= until) break;
    }
    return removed;
  }

  /** Sweeps what expired in the background, a slice at a time; the timer's and a full store's sweep. */
  private sweepInSlices(): void {
    if (this.sweeping) return;
    this.sweeping = true;
    void this.sweepAll(false).finally(() => {
      this.sweeping = false;
    });
  }

  /**
   * Sweeps every expired session, a slice at a time with the event loop free between slices. `hold`:
   * whether the pauses keep the process alive (a caller awaits the count), or not (a background sweep).
   */
  private async sweepAll(hold = true): Promise<number> {
    let removed = 0;
    for (;;) {
      const before = this.heapNodes();
      removed += this.sweep(SWEEP_SLICE, performance.now() + SWEEP_SLICE_MS);
      const more = Math.min(this.anonymous.peek(), this.bound.peek()) <= Date.now();
      if (!more || this.heapNodes() >= before) return removed;
      await new Promise<void>((resolve) => {
        const pause = setImmediate(resolve);
        if (!hold) pause.unref();
      });
    }
  }

  private heapNodes(): number {
    return this.anonymous.size + this.bound.size;
  }

  private push(at: number, key: string, anonymous: boolean): void {
    // Touches leave stale nodes behind; once they outnumber the live ones, the heaps are rebuilt from the
    // entries, in slices off the request path. Nodes pushed meanwhile go to the rebuild too.
    const held = this.heapNodes();
    if (this.rebuilding === null) {
      if (held > 2 * this.size + 1024) this.startRebuild();
    } else if (held > 4 * (this.size + 1024)) {
      // Writes with no pause for the slices to run (a tight loop of awaited calls): finished here, so
      // the heaps stay bounded whatever the pace.
      this.finishRebuild(this.rebuilding, Number.POSITIVE_INFINITY);
    }
    (anonymous ? this.anonymous : this.bound).push(at, key);
    const rebuild = this.rebuilding;
    if (rebuild === null) return;
    const nodes = anonymous ? rebuild.anonymous : rebuild.bound;
    nodes.keys.push(key);
    nodes.at.push(at);
  }

  /**
   * Gathers every entry's deadline into new heaps, about 2 ms at a time, and swaps them in when done. The
   * old heaps serve meanwhile; a node they lose (a sweep, an eviction) may still be in the new ones, where
   * it is stale and skipped as any stale node is.
   */
  private startRebuild(): void {
    const rebuild: HeapRebuild = {
      anonymous: { keys: [], at: [] },
      bound: { keys: [], at: [] },
      shard: 0,
      entries: null,
    };
    this.rebuilding = rebuild;
    const step = () => {
      if (this.rebuilding !== rebuild) return;
      if (!this.finishRebuild(rebuild, performance.now() + SWEEP_SLICE_MS)) setImmediate(step).unref();
    };
    setImmediate(step).unref();
  }

  /** Gathers until `until`; once every entry is read, swaps the new heaps in. True when done. */
  private finishRebuild(rebuild: HeapRebuild, until: number): boolean {
    if (!this.gather(rebuild, until)) return false;
    this.anonymous = DeadlineHeap.of(rebuild.anonymous.keys, rebuild.anonymous.at);
    this.bound = DeadlineHeap.of(rebuild.bound.keys, rebuild.bound.at);
    this.rebuilding = null;
    // Writes during the rebuild left their own stale nodes: another round, while they outnumber the live.
    if (this.heapNodes() > 2 * this.size + 1024) this.startRebuild();
    return true;
  }

  /** Reads entries into the rebuild until `until`; true once every shard has been read. */
  private gather(rebuild: HeapRebuild, until: number): boolean {
    const hasUsers = this.byUser.size > 0;
    let read = 0;
    while (rebuild.shard < this.shards.length) {
      rebuild.entries ??= (this.shards[rebuild.shard] as Map<string, Entry>).entries();
      const next = rebuild.entries.next();
      if (next.done) {
        rebuild.shard++;
        rebuild.entries = null;
        continue;
      }
      const [key, entry] = next.value;
      // A corrupt entry has no deadline: it stays out of the heaps until a read reports and removes it.
      const at = deadlineOf(entry);
      const anonymous = Number.isFinite(at) ? isAnonymous(entry, hasUsers) : null;
      if (anonymous !== null) {
        const nodes = anonymous ? rebuild.anonymous : rebuild.bound;
        nodes.keys.push(key);
        nodes.at.push(at);
      }
      if ((++read & 255) === 0 && performance.now() >= until) return false;
    }
    return true;
  }
}
