import { session as createSessionMiddleware } from './adapters/express.js';
import { Cookie } from './core/cookie.js';
import { Session } from './core/session.js';
import { Store } from './stores/express-compat/store.js';
import { MemoryStore } from './stores/memory.js';

/**
 * express-session's export shape: a function with `Store`, `MemoryStore`, `Session` and `Cookie` hung on
 * it, so `require('connect-redis')(session)`-style store factories and `session.Store` subclasses work.
 */
const session = Object.assign(createSessionMiddleware, { Store, MemoryStore, Session, Cookie });
// Its types named through it (`session.SessionOptions`, `session.Store`) are a namespace the build adds to
// the declarations (scripts/cjs-entry.mjs): the declaration bundler mistakes a namespace's type names for
// the module's own.

// The public API, listed one by one (the README's "API" section): what an application needs. Helpers
// for writing a store are in `sessionkit/store`; the rest is in `sessionkit/internals`, with no promise
// of stability.
export default session;
export type {
  ExpressRequest,
  SessionkitRequest,
  SessionMiddleware,
  SessionRequest,
} from './adapters/express.js';
export { type OnStale, requireRecentAuth } from './adapters/recent-auth.js';
export { checkRecentAuth, ReauthenticationRequiredError } from './core/auth-time.js';
export type { BindingAction, BindingProperty } from './core/binding.js';
export { Cookie, type CookieOptions } from './core/cookie.js';
export type { SessionLogger } from './core/debug.js';
export {
  type BindingMessage,
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
export {
  CorruptSessionError,
  InvalidArgumentError,
  InvalidRecordError,
  InvalidUserIdError,
  NotSupportedError,
  OptionsError,
  SecretRequiredError,
  SessionDataError,
  SessionError,
  SessionLimitError,
  SessionNotFoundError,
  SessionTooLargeError,
  StoreError,
  StoreTimeoutError,
  StoreUnavailableError,
  StoreUrlError,
} from './core/errors.js';
export {
  authAge,
  currentUserId,
  login,
  logout,
  type RegenerateOptions,
  reauthenticated,
  Session,
  type TypedSession,
} from './core/session.js';
export type {
  CookieData,
  LimitOutcome,
  ListOptions,
  ListPage,
  OnLimit,
  SessionData,
  SessionDelta,
  SessionRecord,
  SessionSummary,
  StoredSession,
  UserLimit,
} from './core/types.js';
export type { BindingEvent } from './engine/binding.js';
export type { BindingOptions, SessionOptions } from './engine/options.js';
export type { SessionStore } from './stores/contract.js';
export {
  type ExpressSessionStore,
  type ExpressStoreLike,
  Store,
  type StoreOptions,
} from './stores/express-compat/store.js';
export { type AnyStore, createStore } from './stores/factory.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory.js';
export { session };
