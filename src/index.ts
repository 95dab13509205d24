import { session as createSessionMiddleware } from './adapters/express.js';
import { Cookie } from './core/cookie.js';
import { Session } from './core/session.js';
import { MemoryStore } from './stores/memory.js';
import { Store } from './stores/store.js';

/**
 * express-session's export shape: a function with `Store`, `MemoryStore`, `Session` and `Cookie` hung on
 * it, so `require('connect-redis')(session)`-style store factories and `session.Store` subclasses work.
 */
const session = Object.assign(createSessionMiddleware, { Store, MemoryStore, Session, Cookie });

export default session;
export type { SessionkitRequest, SessionMiddleware, SessionRequest } from './adapters/express.js';
export { Cookie, type CookieOptions } from './core/cookie.js';
export * from './core/errors.js';
export { generateId, storageKey as sessionHandle } from './core/id.js';
export { SessionManager } from './core/manager.js';
export type { SessionOptions } from './core/options.js';
export { type RegenerateOptions, Session, type TypedSession } from './core/session.js';
export { sign, unsign } from './core/signature.js';
export type {
  CookieData,
  ListOptions,
  ListPage,
  SessionData,
  SessionDelta,
  SessionRecord,
  SessionSummary,
} from './core/types.js';
export { ExpressStoreBridge } from './stores/bridge.js';
export { type AnyStore, createStore } from './stores/factory.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory.js';
export {
  type ExpressStoreLike,
  isConnectionError,
  isNativeStore,
  type SessionStore,
  Store,
  type StoreOptions,
} from './stores/store.js';
export { session };
