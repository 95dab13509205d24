import { setTimeout as sleep } from 'node:timers/promises';
import type { SessionDelta, SessionRecord } from '../../src/core/types.js';
import { MemoryStore, type MemoryStoreOptions } from '../../src/stores/memory.js';

/**
 * A MemoryStore whose every call answers after `delayMs`, as a store across a network does: the
 * middleware cannot commit in the same tick, so every response is held while the store writes. A
 * subclass, so the middleware treats it as any other store (only MemoryStore itself is committed inline).
 * Also usable inside express-session (the base class adds its callback methods), for side-by-side tests.
 */
export class SlowMemoryStore extends MemoryStore {
  readonly delayMs: number;

  constructor(delayMs = 25, options: MemoryStoreOptions = {}) {
    super(options);
    this.delayMs = delayMs;
  }

  override async get(id: string): Promise<SessionRecord | null> {
    await sleep(this.delayMs);
    return super.get(id);
  }

  override async create(id: string, record: SessionRecord): Promise<boolean> {
    await sleep(this.delayMs);
    return super.create(id, record);
  }

  override async update(id: string, delta: SessionDelta): Promise<boolean> {
    await sleep(this.delayMs);
    return super.update(id, delta);
  }

  override async set(id: string, record: SessionRecord): Promise<void> {
    await sleep(this.delayMs);
    return super.set(id, record);
  }

  override async destroy(id: string): Promise<void> {
    await sleep(this.delayMs);
    return super.destroy(id);
  }

  override async touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    await sleep(this.delayMs);
    return super.touch(id, expiresAt, lastSeenAt);
  }
}
