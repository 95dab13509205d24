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
export type { SessionMiddleware, SessionRequest } from './adapters/express.js';
export { type OnStale, requireRecentAuth } from './adapters/recent-auth.js';
export { checkRecentAuth, ReauthenticationRequiredError } from './core/auth-time.js';
export { Cookie, type CookieOptions } from './core/cookie.js';
export type { SessionLogger } from './core/debug.js';
export {
  CHANNELS as diagnosticsChannels,
  type InvalidCookieMessage,
  type LoginMessage,
  type LogoutMessage,
  type RevokedMessage,
  type SessionMessage,
  type StoreCallMessage,
  type StoreKind,
  type StoreOperation,
  type StoreOutcome,
} from './core/diagnostics.js';
export type { EncryptionKey, EncryptionOptions } from './core/encryption.js';
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
  // The argument checks every store runs, for third-party stores that pass the conformance suite.
  checkDataBytes,
  checkDelta,
  checkDestroyByUser,
  checkHandle,
  checkId,
  checkListOptions,
  checkRecord,
  checkUserIdArgument,
  checkUserIdLimits,
  type ExpressStoreLike,
  isConnectionError,
  isNativeStore,
  type SessionStore,
  Store,
  type StoreOptions,
  type UserIdLimits,
} from './stores/store.js';
export { session };
