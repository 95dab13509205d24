/**
 * `sessionkit/store`: what a third-party store needs beside the contract's types. The argument checks
 * every sessionkit store runs (the conformance suite in `sessionkit/testing` expects their errors), the
 * express-session compatible base class, the handle a store files a session under, and the test for a
 * driver error that means the backend is unreachable.
 */

export { storageKey as sessionHandle } from './core/id.js';
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
  UserLimit,
} from './core/types.js';
export {
  checkDataBytes,
  checkDelta,
  checkDestroyByUser,
  checkHandle,
  checkId,
  checkListOptions,
  checkRecord,
  checkUserIdArgument,
  checkUserIdLimits,
  checkUserLimit,
  evictionsFor,
  isConnectionError,
  type SessionStore,
  type UserIdLimits,
} from './stores/contract.js';
export { type ExpressStoreLike, Store, type StoreOptions } from './stores/express-compat/store.js';
