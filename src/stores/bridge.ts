import { NotSupportedError } from '../core/errors.js';
import {
  applyDeltaToRecord,
  DEFAULT_TTL_MS,
  fromExpressSession,
  toExpressSessionWithMeta,
} from '../core/serializer.js';
import type { ListOptions, ListPage, SessionDelta, SessionRecord, SessionSummary } from '../core/types.js';
import type { ExpressStoreLike, SessionStore } from './store.js';

function call<T>(fn: (callback: (err: unknown, value?: T) => void) => unknown): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const returned = fn((err, value) => (err ? reject(err) : resolve(value)));
    // A method that returns a promise may fail through it rather than its callback. Its value is not
    // taken: an async method may settle before the callback it hands its answer to.
    if (typeof (returned as PromiseLike<T> | null)?.then === 'function')
      (returned as PromiseLike<T>).then(undefined, reject);
  });
}

// Meta fields sessionkit keeps inside the payload of a store that only knows express-session's shape.
const META = '__sessionkit';
interface StoredMeta {
  createdAt?: number;
  userId?: string | null;
}

/**
 * Serves an express-session store (connect-redis, connect-mongo, express-mysql-session, …) through the
 * promise contract. Such stores only offer whole-object `set`, so `update` is read-merge-write here: it
 * never re-creates a destroyed session, but two concurrent updates can still lose one another's keys.
 * Use a sessionkit store for atomic merges. The store's methods are looked up on every call, so an
 * application may wrap them after `session()`.
 */
export class ExpressStoreBridge implements SessionStore {
  readonly inner: ExpressStoreLike;
  readonly ttl: number;

  constructor(inner: ExpressStoreLike, ttl = DEFAULT_TTL_MS) {
    this.inner = inner;
    this.ttl = ttl;
  }

  async get(id: string): Promise<SessionRecord | null> {
    const sess = await call<unknown>((cb) => this.inner.get(id, cb));
    if (!sess) return null;
    const raw = (typeof sess === 'string' ? JSON.parse(sess) : sess) as Record<string, unknown>;
    const { [META]: meta, ...rest } = raw;
    const known = (meta ?? {}) as StoredMeta;
    const record = fromExpressSession(JSON.parse(JSON.stringify(rest)), Date.now(), this.ttl, {
      createdAt: known.createdAt,
      userId: known.userId ?? null,
    });
    return record.expiresAt > Date.now() ? record : null;
  }

  async create(id: string, record: SessionRecord): Promise<boolean> {
    // express-session stores have no insert-only write; IDs are 256-bit random, so a clash is not a concern.
    await this.set(id, record);
    return true;
  }

  async update(id: string, delta: SessionDelta): Promise<boolean> {
    const current = await this.get(id);
    if (!current) return false;
    await this.set(id, applyDeltaToRecord(current, delta));
    return true;
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    const sess = toExpressSessionWithMeta(record);
    const cookie = sess.cookie as { expires?: string | null; originalMaxAge?: number | null };
    // Stores derive their TTL from cookie.expires; make it say when the record really expires.
    cookie.expires = new Date(record.expiresAt).toISOString();
    if (cookie.originalMaxAge === undefined) cookie.originalMaxAge = null;
    await call((cb) => this.inner.set(id, sess, cb));
  }

  async destroy(id: string): Promise<void> {
    await call((cb) => this.inner.destroy(id, cb));
  }

  async touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    const touch = this.inner.touch;
    if (typeof touch !== 'function') {
      // Without touch, extending means rewriting the whole record.
      return this.update(id, { set: {}, unset: [], expiresAt, lastSeenAt });
    }
    const cookie = { originalMaxAge: null, expires: new Date(expiresAt).toISOString() };
    await call((cb) => touch.call(this.inner, id, { cookie }, cb));
    return true;
  }

  async length(): Promise<number> {
    const length = this.inner.length;
    if (typeof length !== 'function') throw new NotSupportedError('length');
    return (await call<number>((cb) => length.call(this.inner, cb))) ?? 0;
  }

  async clear(): Promise<void> {
    const clear = this.inner.clear;
    if (typeof clear !== 'function') throw new NotSupportedError('clear');
    await call((cb) => clear.call(this.inner, cb));
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    const all = this.inner.all;
    if (typeof all !== 'function') throw new NotSupportedError('list');
    const found = (await call<unknown>((cb) => all.call(this.inner, cb))) ?? {};
    const entries: [string, unknown][] = Array.isArray(found)
      ? found.map((sess, i) => [String((sess as { id?: string }).id ?? i), sess])
      : Object.entries(found as Record<string, unknown>);
    const now = Date.now();
    const sessions: SessionSummary[] = entries.map(([handle, sess]) => {
      const record = fromExpressSession(JSON.parse(JSON.stringify(sess)), now, this.ttl);
      return {
        handle,
        userId: record.userId,
        createdAt: record.createdAt,
        lastSeenAt: record.lastSeenAt,
        expiresAt: record.expiresAt,
        data: record.data,
      };
    });
    const start = options.cursor ? Number(options.cursor) : 0;
    const limit = options.limit ?? 100;
    return {
      sessions: sessions.slice(start, start + limit),
      cursor: start + limit < sessions.length ? String(start + limit) : null,
    };
  }
}
