import { EventEmitter } from 'node:events';
import {
  createKeyring,
  type EncryptionOptions,
  type Keyring,
  open,
  seal,
  sealedWith,
} from '../core/encryption.js';
import { CorruptSessionError, NotSupportedError } from '../core/errors.js';
import { storageKey } from '../core/id.js';
import { parseJson, stringifyJson } from '../core/serializer.js';
import type {
  LimitOutcome,
  ListOptions,
  ListPage,
  SessionDelta,
  SessionRecord,
  SessionSummary,
  UserLimit,
} from '../core/types.js';
import type { SessionStore } from './contract.js';

/** How much larger than `maxSessionBytes` the sealed data may be in the store's own check. */
export const SEALED_SIZE_FACTOR = 3;

/**
 * Encryption at rest over any store (C38). Each top-level data value is sealed on its own, with the
 * record's handle and the key's name as associated data, so `update(id, delta)` still writes only the
 * keys a request changed and the store's atomic merge keeps working on ciphertexts. What the stores
 * must query stays in clear: expiry, timestamps, the user ID and the cookie.
 */
export class EncryptedStore extends EventEmitter implements SessionStore {
  readonly inner: SessionStore;
  readonly keyring: Keyring;

  constructor(inner: SessionStore, keyring: Keyring) {
    super();
    this.inner = inner;
    this.keyring = keyring;
    // Optional methods exist here exactly when the wrapped store has them.
    const self = this as unknown as Record<string, unknown>;
    if (!inner.list) self.list = undefined;
    if (!inner.length) self.length = undefined;
    if (!inner.clear) self.clear = undefined;
    if (!inner.prune) self.prune = undefined;
    if (!inner.listByUser) self.listByUser = undefined;
    if (!inner.destroyByUser) self.destroyByUser = undefined;
    if (!inner.getByHandle) self.getByHandle = undefined;
    if (!inner.destroyByHandle) self.destroyByHandle = undefined;
    if (!inner.close) self.close = undefined;
    if (!inner.checkUserId) self.checkUserId = undefined;
  }

  checkUserId(userId: string): void {
    (this.inner.checkUserId as NonNullable<SessionStore['checkUserId']>).call(this.inner, userId);
  }

  /** Seals every value of `data` for the record filed under `handle`. */
  sealData(handle: string, data: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(data)) {
      const value = data[key];
      // As JSON would: an undefined value is no key at all.
      if (value !== undefined) out[key] = seal(this.keyring, handle, key, stringifyJson(value));
    }
    return out;
  }

  /** Opens every value; throws CorruptSessionError when any one does not open. */
  openData(handle: string, data: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(data)) {
      const text = open(this.keyring, handle, key, data[key]);
      try {
        out[key] = parseJson(text);
      } catch (error) {
        throw new CorruptSessionError(`field "${key}" is not JSON once opened`, error);
      }
    }
    return out;
  }

  /** True when some value of the stored `data` was sealed by a key other than the primary. */
  needsReseal(data: Record<string, unknown>): boolean {
    const primary = this.keyring.primary.id;
    for (const key of Object.keys(data)) if (sealedWith(data[key]) !== primary) return true;
    return false;
  }

  async get(id: string): Promise<SessionRecord | null> {
    const record = await this.inner.get(id);
    if (!record) return record;
    return { ...record, data: this.openData(storageKey(id), record.data ?? {}) };
  }

  create(id: string, record: SessionRecord): Promise<boolean> {
    return this.inner.create(id, { ...record, data: this.sealData(storageKey(id), record.data) });
  }

  /** The limit is the inner store's to apply; only the data is sealed on the way. */
  createWithinLimit(id: string, record: SessionRecord, limit: UserLimit): Promise<LimitOutcome> {
    if (!this.inner.createWithinLimit) return Promise.reject(new NotSupportedError('createWithinLimit'));
    const sealed = { ...record, data: this.sealData(storageKey(id), record.data) };
    return this.inner.createWithinLimit(id, sealed, limit);
  }

  update(id: string, delta: SessionDelta): Promise<boolean> {
    const sealed: SessionDelta = { ...delta, set: this.sealData(storageKey(id), delta.set) };
    // The store measures what it holds, the sealed text. The manager has already checked the plain
    // data against the limit; the store's own check, which keeps concurrent writes from adding up, gets
    // room for the sealing (base64 and about 50 bytes per value).
    if (delta.maxBytes !== undefined) sealed.maxBytes = SEALED_SIZE_FACTOR * delta.maxBytes;
    return this.inner.update(id, sealed);
  }

  set(id: string, record: SessionRecord): Promise<void> {
    return this.inner.set(id, { ...record, data: this.sealData(storageKey(id), record.data) });
  }

  destroy(id: string): Promise<void> {
    return this.inner.destroy(id);
  }

  touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    return this.inner.touch(id, expiresAt, lastSeenAt);
  }

  async list(options?: ListOptions): Promise<ListPage> {
    const page = await (this.inner.list as NonNullable<SessionStore['list']>).call(this.inner, options);
    return { ...page, sessions: page.sessions.map((s) => this.openSummary(s)) };
  }

  length(): Promise<number> {
    return (this.inner.length as NonNullable<SessionStore['length']>).call(this.inner);
  }

  clear(): Promise<void> {
    return (this.inner.clear as NonNullable<SessionStore['clear']>).call(this.inner);
  }

  prune(): Promise<number> {
    return (this.inner.prune as NonNullable<SessionStore['prune']>).call(this.inner);
  }

  async listByUser(userId: string): Promise<SessionSummary[]> {
    const found = await (this.inner.listByUser as NonNullable<SessionStore['listByUser']>).call(
      this.inner,
      userId,
    );
    return found.map((s) => this.openSummary(s));
  }

  destroyByUser(userId: string, options?: { except?: string }): Promise<number> {
    return (this.inner.destroyByUser as NonNullable<SessionStore['destroyByUser']>).call(
      this.inner,
      userId,
      options,
    );
  }

  async getByHandle(handle: string): Promise<SessionSummary | null> {
    const found = await (this.inner.getByHandle as NonNullable<SessionStore['getByHandle']>).call(
      this.inner,
      handle,
    );
    return found ? this.openSummary(found) : null;
  }

  destroyByHandle(handle: string): Promise<boolean> {
    return (this.inner.destroyByHandle as NonNullable<SessionStore['destroyByHandle']>).call(
      this.inner,
      handle,
    );
  }

  close(): Promise<void> {
    return (this.inner.close as NonNullable<SessionStore['close']>).call(this.inner);
  }

  /**
   * A listing shows a record whose data does not open with empty data, and reports it: one bad record
   * must not hide every other session of a user or a page.
   */
  private openSummary(summary: SessionSummary): SessionSummary {
    try {
      return { ...summary, data: this.openData(summary.handle, summary.data ?? {}) };
    } catch (error) {
      this.emit('corrupt', error);
      return { ...summary, data: {} };
    }
  }
}

/** Wraps `store` so every session value is sealed at rest with the first key of `encryption.keys`. */
export function encryptStore(store: SessionStore, encryption: EncryptionOptions | Keyring): EncryptedStore {
  const ring = 'primary' in encryption ? encryption : createKeyring(encryption);
  return new EncryptedStore(store, ring);
}
