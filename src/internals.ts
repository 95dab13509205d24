/**
 * `sessionkit/internals`: building blocks the package itself, its tests and its benchmarks use. Not part
 * of the public API: anything here may change in any release.
 */
export { describe } from './core/errors.js';
export { generateId, storageKey as sessionHandle } from './core/id.js';
export { sign, unsign } from './core/signature.js';
export { SessionManager } from './engine/manager.js';
export { isNativeStore } from './stores/contract.js';
export { ExpressStoreBridge } from './stores/express-compat/bridge.js';
export { type MemoryStoreNow, NOW } from './stores/memory.js';
