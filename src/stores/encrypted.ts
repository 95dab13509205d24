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
import { reportCorrupt, type SessionStore } from './contract.js';
import { SYNC, type SyncAccess, type SyncOperation, syncTwin } from './sync.js';

/**
 * What sealing adds to one value's JSON at most, beside a third of the value (base64url): the quotes,
 * `$sk1$`, the `$` after the key ID, and the base64url of the nonce and tag (28 bytes, rounded up).
 */
const SEALED_VALUE_OVERHEAD = 46;
/** The reserved keys a record may hold beside the data `maxSessionBytes` measures (times, markers). */
const RESERVED_VALUES = 3;
const RESERVED_VALUE_BYTES = 64;

/**
 * The most bytes data within `maxBytes` takes once sealed with `ring`, for the store's own check: every
 * value grows by a third plus a fixed overhead and its key's ID, and small values dominate: data within
 * `maxBytes` holds at most one value per 5 bytes (`"":0,`), each of which seals to some 50 bytes.
 */
export function sealedLimit(maxBytes: number, ring: Keyring): number {
  let idLength = 0;
  for (const id of ring.byId.keys()) idLength = Math.max(idLength, id.length);
  const perValue = SEALED_VALUE_OVERHEAD + idLength;
  const values = Math.floor(maxBytes / 5) + RESERVED_VALUES;
  return Math.ceil((4 * maxBytes) / 3) + perValue * values + RESERVED_VALUES * RESERVED_VALUE_BYTES;
}

/**
 * Encryption at rest over any store (C38). Each top-level data value is sealed on its own, with the
 * record's handle and the key's name as associated data, so `update(id, delta)` still writes only the
 * keys a request changed and the store's atomic merge keeps working on ciphertexts. What the stores
 * must query stays in clear: expiry, timestamps, the user ID and the cookie.
 */
export class EncryptedStore extends EventEmitter implements SessionStore {
  readonly inner: SessionStore;
  readonly keyring: Keyring;
  private readonly opened = new OpenedValues();

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
      if (value === undefined) continue;
      const text = stringifyJson(value);
      const sealed = seal(this.keyring, handle, key, text);
      this.opened.remember(sealed, handle, key, text);
      out[key] = sealed;
    }
    return out;
  }

  /** Opens every value; throws CorruptSessionError when any one does not open. */
  openData(handle: string, data: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(data)) {
      const value = data[key];
      let text = this.opened.recall(value, handle, key);
      if (text === undefined) {
        text = open(this.keyring, handle, key, value);
        this.opened.remember(value as string, handle, key, text);
      }
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
    return this.inner.update(id, this.sealDelta(id, delta));
  }

  private sealDelta(id: string, delta: SessionDelta): SessionDelta {
    const sealed: SessionDelta = { ...delta, set: this.sealData(this.handleOf(id), delta.set) };
    // A key set to `undefined` is removed, as JSON drops it and the unsealed stores do; sealData leaves
    // it out of `set`, so it must go to `unset` or the old value would stay.
    const cleared = Object.keys(delta.set).filter((key) => delta.set[key] === undefined);
    if (cleared.length > 0) sealed.unset = [...delta.unset, ...cleared];
    // The store measures what it holds, the sealed text. The manager has already checked the plain
    // data against the limit; the store's own check, which keeps concurrent writes from adding up, gets
    // room for the sealing (base64, plus the nonce, tag and key ID of each value).
    if (delta.maxBytes !== undefined) sealed.maxBytes = sealedLimit(delta.maxBytes, this.keyring);
    return sealed;
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
   * The synchronous twins (see sync.ts) over a store that has them (the MemoryStore): sealing is
   * synchronous too, so a request on an encrypted in-process store still settles in one tick. Each
   * twin is made once per inner twin, and offered only while this store's method is its own.
   */
  [SYNC]<K extends SyncOperation>(operation: K, seen: unknown): SyncAccess[K] | null {
    const own = EncryptedStore.prototype[operation];
    if (seen !== own || (this as unknown as Record<string, unknown>)[operation] !== own) return null;
    const inner = syncTwin(this.inner, operation);
    if (inner === null) return null;
    const made = this.twins.get(operation);
    if (made?.inner === inner) return made.twin as SyncAccess[K];
    const twin = this.twinOf(operation, inner);
    this.twins.set(operation, { inner, twin });
    return twin as SyncAccess[K];
  }

  private readonly twins = new Map<SyncOperation, { inner: unknown; twin: unknown }>();

  private twinOf<K extends SyncOperation>(operation: K, inner: SyncAccess[K]): SyncAccess[K] {
    const twins: SyncAccess = {
      get: (id) => {
        const record = (inner as SyncAccess['get'])(id);
        if (!record) return record;
        try {
          record.data = this.openData(this.handleOf(id), record.data ?? {});
        } catch (error) {
          if (!(error instanceof CorruptSessionError)) throw error;
          // As the promise path ends: reported (the engine listens on the store it was given), the
          // record removed, and a fresh session.
          reportCorrupt(this.inner as unknown as EventEmitter, error);
          this.inner.destroy(id).catch(() => undefined);
          return null;
        }
        return record;
      },
      create: (id, record) =>
        (inner as SyncAccess['create'])(id, {
          ...record,
          data: this.sealData(this.handleOf(id), record.data),
        }),
      update: (id, delta) => (inner as SyncAccess['update'])(id, this.sealDelta(id, delta)),
      touch: inner as SyncAccess['touch'],
    };
    return twins[operation];
  }

  /** The handle of the last ID asked for: a request's read and its write seal under the same one. */
  private handleOf(id: string): string {
    if (id !== this.lastId) {
      this.lastHandle = storageKey(id);
      this.lastId = id;
    }
    return this.lastHandle;
  }

  private lastId = '';
  private lastHandle = '';

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

/** Values larger than this are opened every time: the memo is for the small values most requests read. */
const MEMO_VALUE_CHARS = 2_048;
/**
 * The memo's bound, in characters of everything an entry keeps (sealed text, opened text, handle and
 * field name), about 8 MiB at most. The field name counts too: it is the application's key, which may
 * come from request input and be of any length.
 */
const MEMO_CHARS = 4 * 1024 * 1024;

/**
 * What sealed values opened to, keyed by the sealed text itself, and only for the record and field it
 * opened under. A sealed text holds a random nonce, so it is never sealed twice: the same text under
 * the same binding can only open to the same plaintext, and a ciphertext moved to another record or
 * field misses and fails to open. It keeps plaintext in this process's memory, where the
 * keys that open every value already are; nothing reaches the store. Bounded, oldest dropped first.
 */
function entrySize(sealed: string, handle: string, field: string, text: string): number {
  return sealed.length + handle.length + field.length + text.length;
}

class OpenedValues {
  private readonly entries = new Map<string, { handle: string; field: string; text: string }>();
  private chars = 0;

  recall(sealed: unknown, handle: string, field: string): string | undefined {
    if (typeof sealed !== 'string') return undefined;
    const hit = this.entries.get(sealed);
    return hit !== undefined && hit.handle === handle && hit.field === field ? hit.text : undefined;
  }

  remember(sealed: string, handle: string, field: string, text: string): void {
    const size = entrySize(sealed, handle, field, text);
    if (size > MEMO_VALUE_CHARS || this.entries.has(sealed)) return;
    while (this.chars + size > MEMO_CHARS) {
      const oldest = this.entries.entries().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest[0]);
      this.chars -= entrySize(oldest[0], oldest[1].handle, oldest[1].field, oldest[1].text);
    }
    this.entries.set(sealed, { handle, field, text });
    this.chars += size;
  }
}
