import type { SessionDelta, SessionRecord } from '../core/types.js';
import { unbridged } from './express-compat/store.js';

/**
 * The synchronous twins of a store's hot methods, for a store whose backend is this process's memory:
 * the engine then loads and commits a request in the same tick, with no promise and no timer. A store
 * offers them through `[SYNC](operation, seen)`, which answers `null` whenever that operation must take
 * the promise path: `seen`, the method a caller of the store would call (through any wrapper, Proxy or
 * express-session bridge), is not the store's own (a spy, a test's stub), or the store it wraps has no
 * twin. Asked per request, so a replacement made after `session()` is seen. The engine calls a twin
 * only for the store it was given (not one a request was routed to), and bounds nothing: a twin cannot
 * hang. Errors are thrown, as the promise methods reject.
 */
export const SYNC = Symbol.for('sessionkit.store.sync');

/**
 * On a record a twin's `get` gave: what the store read it from, opaque to the caller, which hands the
 * record back to `update` as `loaded` (see there). Enumerable only on these records, which no
 * application sees.
 */
export const LOADED_FROM = Symbol('sessionkit.store.loadedFrom');

export type Sourced = SessionRecord & { [LOADED_FROM]?: unknown };

export interface SyncAccess {
  /**
   * As `get`, but a cookie with a `maxAge` may come without `expires` (the engine rebuilds it from
   * `expiresAt`). The record is the caller's own: the store keeps nothing it returns.
   */
  get(id: string): SessionRecord | null;
  create(id: string, record: SessionRecord): boolean;
  /**
   * As `update`. `loaded`: the record this twin's `get` gave the caller (or the caller's checked copy
   * of it, carrying its LOADED_FROM), when this is the caller's first write since and its delta was
   * diffed against that record. The store may merge into it instead of decoding what it holds, only
   * while what it holds is still exactly what that record came from.
   */
  update(id: string, delta: SessionDelta, loaded?: SessionRecord | null): boolean;
  touch(id: string, expiresAt: number, lastSeenAt: number): boolean;
}

export type SyncOperation = keyof SyncAccess;

export interface SyncCapable {
  [SYNC]<K extends SyncOperation>(operation: K, seen: unknown): SyncAccess[K] | null;
}

/** `store`'s synchronous twin of `operation`, or `null` when it has none (every store but in-process ones). */
export function syncTwin<K extends SyncOperation>(store: unknown, operation: K): SyncAccess[K] | null {
  const offer = (store as Partial<SyncCapable> | null)?.[SYNC];
  if (typeof offer !== 'function') return null;
  // What a caller would run: the twin must stand for exactly that, not for a method wrapped since.
  const seen = unbridged((store as Record<string, unknown>)[operation]);
  return (offer as (operation: K, seen: unknown) => SyncAccess[K] | null).call(store, operation, seen);
}
