import { storageKey } from '../core/id.js';
import { applyDelta, parseJson, stringifyJson } from '../core/serializer.js';
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
  /** Most sessions held; past it the least recently written is evicted. Default 100,000. */
  max?: number;
  /** How often expired sessions are swept (ms). Default 60 s. The timer is unref'd. */
  sweepInterval?: number;
}

interface Entry {
  /** `{ data, cookie }` as JSON: stored as text so no caller can mutate what the store holds. */
  json: string;
  expiresAt: number;
  createdAt: number;
  lastSeenAt: number;
  userId: string | null;
}

/** Expired entries removed per slice of a sweep at most, so a mass expiry never blocks the event loop for long. */
const SWEEP_SLICE = 5_000;
/** A slice also stops after this many ms (checked every 256 removals): slow machines get smaller slices. */
const SWEEP_SLICE_MS = 4;

/**
 * A bounded, expiring in-process store. Expiry runs off a min-heap of deadlines, so a sweep costs
 * O(expired · log n) rather than a scan of every session; a size cap evicts the least recently written.
 * It never grows without bound. Sessions are lost on restart and are not shared between processes.
 */
export class MemoryStore extends Store implements SessionStore {
  readonly max: number;
  private readonly entries = new Map<string, Entry>();
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

  async get(id: string): Promise<SessionRecord | null> {
    const key = this.keyOf(id);
    const entry = this.live(key);
    if (!entry) return null;
    try {
      const { data, cookie } = parseJson(entry.json) as { data: Record<string, unknown>; cookie: CookieData };
      return { data, cookie, ...meta(entry) };
    } catch (error) {
      reportCorrupt(this, error);
      this.remove(key);
      return null;
    }
  }

  async create(id: string, record: SessionRecord): Promise<boolean> {
    const key = this.keyOf(id);
    if (this.live(key)) return false;
    this.put(key, toEntry(record));
    return true;
  }

  async update(id: string, delta: SessionDelta): Promise<boolean> {
    const key = this.keyOf(id);
    const entry = this.live(key);
    if (!entry) return false;
    const current = parseJson(entry.json) as { data: Record<string, unknown>; cookie: CookieData };
    const next: Entry = {
      json: stringifyJson({ data: applyDelta(current.data, delta), cookie: delta.cookie ?? current.cookie }),
      expiresAt: delta.expiresAt,
      createdAt: entry.createdAt,
      lastSeenAt: delta.lastSeenAt,
      userId: delta.userId === undefined ? entry.userId : delta.userId,
    };
    this.put(key, next);
    return true;
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    this.put(this.keyOf(id), toEntry(record));
  }

  async destroy(id: string): Promise<void> {
    this.remove(this.keyOf(id));
  }

  async touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    const key = this.keyOf(id);
    const entry = this.live(key);
    if (!entry) return false;
    this.put(key, { ...entry, expiresAt, lastSeenAt });
    return true;
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    this.sweep(Number.POSITIVE_INFINITY);
    const limit = options.limit ?? 100;
    const start = options.cursor ? Number(options.cursor) : 0;
    // One snapshot of the keys per listing, not one per page (that made paging through n sessions
    // O(n²)). As with SCAN, a session written during the listing may be missed; one removed is skipped.
    if (start === 0 || this.listing === null) this.listing = [...this.entries.keys()];
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

  /** O(expired): sweeps what has expired, then reads the Map's size. */
  async length(): Promise<number> {
    this.sweep(Number.POSITIVE_INFINITY);
    return this.entries.size;
  }

  async clear(): Promise<void> {
    this.entries.clear();
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
    const entry = this.live(key);
    if (!entry) return null;
    try {
      const { data } = parseJson(entry.json) as { data: Record<string, unknown> };
      return { handle: key, data, ...meta(entry) };
    } catch (error) {
      reportCorrupt(this, error);
      return null;
    }
  }

  private keyOf(id: string): string {
    if (id !== this.lastId) {
      this.lastKey = storageKey(id);
      this.lastId = id;
    }
    return this.lastKey;
  }

  /** The entry if present and not expired; an expired one is removed on sight. */
  private live(key: string): Entry | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= Date.now()) {
      this.remove(key);
      return null;
    }
    return entry;
  }

  private put(key: string, entry: Entry): void {
    const previous = this.entries.get(key);
    if (previous) {
      // Re-inserting moves the key to the end of the Map's order: the eviction order is least recently written.
      this.entries.delete(key);
      if (previous.userId !== entry.userId) this.unindex(key, previous.userId);
    } else if (this.entries.size >= this.max) {
      this.sweep(Number.POSITIVE_INFINITY);
      if (this.entries.size >= this.max) this.evictOldest();
    }
    this.entries.set(key, entry);
    if (entry.userId !== null) {
      const keys = this.byUser.get(entry.userId);
      if (keys) keys.add(key);
      else this.byUser.set(entry.userId, new Set([key]));
    }
    this.push(entry.expiresAt, key);
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.unindex(key, entry.userId);
  }

  private unindex(key: string, userId: string | null): void {
    if (userId === null) return;
    const keys = this.byUser.get(userId);
    keys?.delete(key);
    if (keys?.size === 0) this.byUser.delete(userId);
  }

  private evictOldest(): void {
    const oldest = this.entries.keys().next();
    if (oldest.done) return;
    this.remove(oldest.value);
    this.emit('evict', oldest.value);
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
      const entry = this.entries.get(key);
      if (entry && entry.expiresAt === at) {
        this.remove(key);
        removed++;
      }
      if ((++popped & 255) === 0 && performance.now() >= until) break;
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
    if (this.heap.length > 2 * this.entries.size + 1024) this.rebuildHeap();
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
    const nodes = [...this.entries].map(([key, entry]) => ({ at: entry.expiresAt, key }));
    nodes.sort((a, b) => a.at - b.at);
    // A sorted array is a valid min-heap.
    this.heap = nodes.map((node) => node.key);
    this.heapAt = nodes.map((node) => node.at);
  }
}

function toEntry(record: SessionRecord): Entry {
  return {
    json: stringifyJson({ data: record.data, cookie: record.cookie }),
    expiresAt: record.expiresAt,
    createdAt: record.createdAt,
    lastSeenAt: record.lastSeenAt,
    userId: record.userId,
  };
}

function meta(entry: Entry): Omit<SessionRecord, 'data' | 'cookie'> {
  return {
    expiresAt: entry.expiresAt,
    createdAt: entry.createdAt,
    lastSeenAt: entry.lastSeenAt,
    userId: entry.userId,
  };
}
