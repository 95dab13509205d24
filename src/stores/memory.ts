import { CorruptSessionError, InvalidRecordError } from '../core/errors.js';
import { storageKey } from '../core/id.js';
import {
  applyDeltaToRecord,
  parseJson,
  stringifyJson,
  toExpressSessionWithMeta,
} from '../core/serializer.js';
import { isoString } from '../core/time.js';
import type {
  CookieData,
  ListOptions,
  ListPage,
  SessionDelta,
  SessionRecord,
  SessionSummary,
} from '../core/types.js';
import { reportCorrupt, type SessionStore, Store, type StoreOptions } from './store.js';

export interface MemoryStoreOptions extends StoreOptions {
  /** Most sessions held; past it the session nearest its deadline is evicted. Default 100,000. */
  max?: number;
  /** How often expired sessions are swept (ms). Default 60 s. The timer is unref'd. */
  sweepInterval?: number;
}

/**
 * A session as the store keeps it: one JSON text,
 * `[expiresAt,createdAt,lastSeenAt - createdAt,userId,cookie,data]` (the offset is a few digits, not 13).
 * Text, so no caller can mutate what the store holds; one flat string with no object beside it, so a
 * session costs its JSON plus its key (an object with three boxed doubles cost about 110 B more).
 * The cookie's `expires` is nearly always the ISO form of `expiresAt`: it is then left out and the
 * deadline written negative, which says "restore it" (36 B less per session).
 */
type Entry = string;

function encode(record: SessionRecord): Entry {
  const { cookie, expiresAt } = record;
  const elide =
    typeof cookie.expires === 'string' &&
    expiresAt > 0 &&
    expiresAt <= MAX_DATE &&
    cookie.expires === isoString(expiresAt);
  return stringifyJson([
    elide ? -expiresAt : expiresAt,
    record.createdAt,
    record.lastSeenAt - record.createdAt,
    record.userId,
    elide ? withoutExpires(cookie) : cookie,
    record.data,
  ]);
}

/**
 * The record an entry holds; its fields' types are checked where records are used (validateRecord).
 * `forMiddleware`: the cookie's elided `expires` stays out when the cookie has a `maxAge`, since the
 * middleware builds that expiry from the deadline (`restoreCookie`) and making and checking the ISO text
 * was a tenth of a read.
 */
function decode(entry: Entry, forMiddleware = false): SessionRecord {
  const fields = parseJson(entry);
  if (!Array.isArray(fields) || fields.length !== 6) throw new CorruptSessionError('not a MemoryStore entry');
  const [deadline, createdAt, lastSeenOffset, userId, cookie, data] = fields;
  const expiresAt = Math.abs(deadline as number);
  if (
    deadline < 0 &&
    expiresAt <= MAX_DATE &&
    cookie !== null &&
    typeof cookie === 'object' &&
    !(forMiddleware && typeof cookie.originalMaxAge === 'number')
  )
    cookie.expires = isoString(expiresAt);
  return {
    data: data as Record<string, unknown>,
    cookie: cookie as CookieData,
    expiresAt,
    createdAt: createdAt as number,
    lastSeenAt: (createdAt as number) + (lastSeenOffset as number),
    userId: userId as string | null,
  };
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
function checkRecord(operation: string, record: SessionRecord): void {
  if (typeof record !== 'object' || record === null) throw new InvalidRecordError(operation, 'not an object');
  const { cookie, data, expiresAt, createdAt, lastSeenAt } = record;
  if (typeof cookie !== 'object' || cookie === null)
    throw new InvalidRecordError(operation, 'no `cookie` object');
  if (typeof data !== 'object' || data === null) throw new InvalidRecordError(operation, 'no `data` object');
  for (const time of [expiresAt, createdAt, lastSeenAt])
    if (typeof time !== 'number' || !Number.isFinite(time))
      throw new InvalidRecordError(operation, '`expiresAt`, `createdAt` and `lastSeenAt` must be numbers');
}

/** The last instant a Date can hold. */
const MAX_DATE = 8.64e15;

function withoutExpires(cookie: CookieData): Partial<CookieData> {
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(cookie))
    if (key !== 'expires') copy[key] = (cookie as unknown as Record<string, unknown>)[key];
  return copy;
}

/**
 * The table is split over this many Maps by the key's first character. V8 rehashes a Map whole when
 * deletions shrink it: in one Map of 1M sessions, a single delete during a mass expiry blocked the event
 * loop for 26 ms; spread over 64 Maps the worst is under a millisecond.
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

/** Where a MemoryStore keeps its synchronous methods, for `SessionManager` only (not exported from the package). */
export const NOW = Symbol('sessionkit.memory.now');

/** The MemoryStore methods the middleware calls on every request, answering at once. */
export interface MemoryStoreNow {
  /** As `get`, but a cookie with a `maxAge` comes without `expires`: the middleware rebuilds it from `expiresAt`. */
  get(id: string): SessionRecord | null;
  create(id: string, record: SessionRecord): boolean;
  update(id: string, delta: SessionDelta): boolean;
  touch(id: string, expiresAt: number, lastSeenAt: number): boolean;
}

/**
 * A bounded, expiring in-process store. Expiry runs off a min-heap of deadlines, so a sweep costs
 * O(expired · log n) rather than a scan of every session; a size cap evicts the session nearest its
 * deadline (the heap's top, so eviction costs no per-entry bookkeeping).
 * It never grows without bound. Sessions are lost on restart and are not shared between processes.
 */
export class MemoryStore extends Store implements SessionStore {
  readonly max: number;
  private readonly shards: Map<string, Entry>[] = Array.from({ length: SHARDS }, () => new Map());
  /** Entries held across the shards. */
  private size = 0;
  private readonly byUser = new Map<string, Set<string>>();
  // The min-heap of deadlines as two parallel arrays (keys, and deadlines as unboxed doubles): no node
  // object and no boxed number per entry.
  private heap: string[] = [];
  private heapAt: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;
  /** The last ID hashed and its key: a request's get and its update/touch hash the same ID. */
  private lastId = '';
  /** The keys of the listing being paged through (see list()). */
  private listing: string[] | null = null;
  private lastKey = '';

  constructor(options: MemoryStoreOptions = {}) {
    super(options);
    this.max = options.max ?? 100_000;
    if (!Number.isInteger(this.max) || this.max < 1)
      throw new RangeError('MemoryStore: max must be a positive integer');
    const interval = options.sweepInterval ?? 60_000;
    if (interval > 0) {
      this.timer = setInterval(() => this.sweepInSlices(), interval);
      this.timer.unref();
    }
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
    update: (id, delta) => {
      const key = this.keyOf(id);
      const entry = this.live(key);
      if (!entry) return false;
      const current = decode(entry);
      this.put(key, applyDeltaToRecord(current, delta), current.userId);
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

  async get(id: string): Promise<SessionRecord | null> {
    return this.read(this.keyOf(id));
  }

  async create(id: string, record: SessionRecord): Promise<boolean> {
    checkRecord('create', record);
    return this[NOW].create(id, record);
  }

  async update(id: string, delta: SessionDelta): Promise<boolean> {
    return this[NOW].update(id, delta);
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    checkRecord('set', record);
    const key = this.keyOf(id);
    this.put(key, record, this.userOf(key));
  }

  async destroy(id: string): Promise<void> {
    this.remove(this.keyOf(id));
  }

  async touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    return this[NOW].touch(id, expiresAt, lastSeenAt);
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    this.sweep(Number.POSITIVE_INFINITY);
    const limit = options.limit ?? 100;
    const start = options.cursor ? Number(options.cursor) : 0;
    // One snapshot of the keys per listing, not one per page (that made paging through n sessions
    // O(n²)). As with SCAN, a session written during the listing may be missed; one removed is skipped.
    if (start === 0 || this.listing === null)
      this.listing = this.shards.flatMap((shard) => [...shard.keys()]);
    const keys = this.listing;
    const page = keys.slice(start, start + limit);
    const sessions = page.flatMap((key) => {
      const summary = this.summary(key);
      return summary ? [summary] : [];
    });
    const more = start + limit < keys.length;
    if (!more) this.listing = null;
    return { sessions, cursor: more ? String(start + limit) : null };
  }

  /**
   * express-session's `all`: every live session in express-session's shape, expired ones dropped. Keyed by
   * handle: the store never holds a session ID (called with a callback, as express-session's, too).
   */
  async all(): Promise<Record<string, Record<string, unknown>>> {
    this.sweep(Number.POSITIVE_INFINITY);
    const sessions: Record<string, Record<string, unknown>> = {};
    for (const shard of this.shards)
      for (const key of [...shard.keys()]) {
        const record = this.read(key);
        if (record) sessions[key] = toExpressSessionWithMeta(record);
      }
    return sessions;
  }

  /** O(expired): sweeps what has expired, then reads a counter. */
  async length(): Promise<number> {
    this.sweep(Number.POSITIVE_INFINITY);
    return this.size;
  }

  async clear(): Promise<void> {
    for (const shard of this.shards) shard.clear();
    this.size = 0;
    this.byUser.clear();
    this.heap = [];
    this.heapAt = [];
    this.listing = null;
  }

  async prune(): Promise<number> {
    return this.sweep(Number.POSITIVE_INFINITY);
  }

  async listByUser(userId: string): Promise<SessionSummary[]> {
    const keys = [...(this.byUser.get(userId) ?? [])];
    return keys.flatMap((key) => {
      const summary = this.summary(key);
      return summary ? [summary] : [];
    });
  }

  async destroyByUser(userId: string, options: { except?: string } = {}): Promise<number> {
    const keep = options.except === undefined ? null : this.keyOf(options.except);
    let removed = 0;
    for (const key of [...(this.byUser.get(userId) ?? [])]) {
      if (key === keep) continue;
      if (this.live(key)) removed++;
      this.remove(key);
    }
    return removed;
  }

  async getByHandle(handle: string): Promise<SessionSummary | null> {
    return this.summary(handle);
  }

  async destroyByHandle(handle: string): Promise<boolean> {
    const existed = this.live(handle) !== null;
    this.remove(handle);
    return existed;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
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
      return decode(entry, forMiddleware);
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
    if (deadlineOf(entry) <= Date.now()) {
      this.remove(key);
      return null;
    }
    return entry;
  }

  /** Stores `record` under `key`; `previousUserId` is the user the entry it replaces was bound to. */
  private put(key: string, record: SessionRecord, previousUserId: string | null): void {
    const entry = encode(record);
    const shard = this.shardOf(key);
    if (shard.has(key)) {
      if (previousUserId !== record.userId) this.unindex(key, previousUserId);
    } else {
      if (this.size >= this.max) {
        this.sweep(Number.POSITIVE_INFINITY);
        if (this.size >= this.max) this.evictNearestDeadline();
      }
      this.size++;
    }
    shard.set(key, entry);
    if (record.userId !== null) {
      const keys = this.byUser.get(record.userId);
      if (keys) keys.add(key);
      else this.byUser.set(record.userId, new Set([key]));
    }
    this.push(record.expiresAt, key);
  }

  private remove(key: string): void {
    const shard = this.shardOf(key);
    if (!shard.has(key)) return;
    const userId = this.userOf(key);
    shard.delete(key);
    this.size--;
    this.unindex(key, userId);
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

  private evictNearestDeadline(): void {
    let victim: string | undefined;
    while (victim === undefined && this.heap.length > 0) {
      const at = this.heapAt[0] as number;
      const key = this.heap[0] as string;
      this.pop();
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
    while (this.heap.length > 0 && budget-- > 0) {
      const at = this.heapAt[0] as number;
      if (at > now) break;
      const key = this.heap[0] as string;
      this.pop();
      if (this.isCurrent(key, at)) {
        this.remove(key);
        removed++;
      }
      if ((++popped & 127) === 0 && performance.now() >= until) break;
    }
    return removed;
  }

  private sweepInSlices(): void {
    if (this.sweeping) return;
    this.sweeping = true;
    const step = () => {
      const before = this.heap.length;
      this.sweep(SWEEP_SLICE, performance.now() + SWEEP_SLICE_MS);
      const more = this.heap.length > 0 && (this.heapAt[0] as number) <= Date.now();
      if (more && this.heap.length < before) setImmediate(step).unref();
      else this.sweeping = false;
    };
    step();
  }

  private push(at: number, key: string): void {
    // Touches leave stale nodes behind; rebuild once they outnumber the live ones.
    if (this.heap.length > 2 * this.size + 1024) this.rebuildHeap();
    const heap = this.heap;
    const heapAt = this.heapAt;
    heap.push(key);
    heapAt.push(at);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heapAt[parent] as number) <= at) break;
      heap[i] = heap[parent] as string;
      heapAt[i] = heapAt[parent] as number;
      i = parent;
    }
    heap[i] = key;
    heapAt[i] = at;
  }

  private pop(): void {
    const heap = this.heap;
    const heapAt = this.heapAt;
    const last = heap.pop();
    const lastAt = heapAt.pop();
    if (last === undefined || lastAt === undefined || heap.length === 0) return;
    const size = heap.length;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && (heapAt[right] as number) < (heapAt[left] as number) ? right : left;
      if ((heapAt[child] as number) >= lastAt) break;
      heap[i] = heap[child] as string;
      heapAt[i] = heapAt[child] as number;
      i = child;
    }
    heap[i] = last;
    heapAt[i] = lastAt;
  }

  private rebuildHeap(): void {
    const nodes: { at: number; key: string }[] = [];
    // A corrupt entry has no deadline: it stays out of the heap until a read reports and removes it.
    for (const shard of this.shards)
      for (const [key, entry] of shard) {
        const at = deadlineOf(entry);
        if (Number.isFinite(at)) nodes.push({ at, key });
      }
    nodes.sort((a, b) => a.at - b.at);
    // A sorted array is a valid min-heap.
    this.heap = nodes.map((node) => node.key);
    this.heapAt = nodes.map((node) => node.at);
  }
}
