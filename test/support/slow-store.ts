import { setTimeout as sleep } from 'node:timers/promises';
import type { SessionDelta, SessionRecord } from '../../src/core/types.js';
import { MemoryStore, type MemoryStoreOptions } from '../../src/stores/memory.js';

/**
 * A MemoryStore whose every call answers after `delayMs`, as a store across a network does: the
 * middleware cannot commit in the same tick, so every response is held while the store writes. A
 * subclass, so the middleware treats it as any other store (only MemoryStore itself is committed inline).
 * Also usable inside express-session (the base class adds its callback methods), for side-by-side tests.
 *
 * It counts its calls, so a test can wait for an event (`calls` reaching a number, nothing in flight)
 * rather than sleep for a time a loaded machine may overrun (`until`).
 */
export class SlowMemoryStore extends MemoryStore {
  readonly delayMs: number;
  /** Calls started so far. */
  calls = 0;
  /** Calls started and not answered yet. */
  inFlight = 0;
  private readonly waiters = new Set<() => void>();

  constructor(delayMs = 25, options: MemoryStoreOptions = {}) {
    super(options);
    this.delayMs = delayMs;
  }

  private async slow<T>(answer: () => Promise<T>): Promise<T> {
    this.calls++;
    this.inFlight++;
    this.wake();
    try {
      await sleep(this.delayMs);
      return await answer();
    } finally {
      this.inFlight--;
      this.wake();
    }
  }

  private wake(): void {
    for (const waiter of this.waiters) waiter();
  }

  /** Resolves once `done()` holds (checked at every call's start and answer); rejects after `ms`. */
  async until(done: () => boolean, ms = 10_000, what = 'the store calls'): Promise<void> {
    if (done()) return;
    let timer: NodeJS.Timeout | undefined;
    let waiter: () => void = () => undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        waiter = () => {
          if (done()) resolve();
        };
        this.waiters.add(waiter);
        timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
      });
    } finally {
      clearTimeout(timer);
      this.waiters.delete(waiter);
    }
  }

  override async get(id: string): Promise<SessionRecord | null> {
    return this.slow(() => super.get(id));
  }

  override async create(id: string, record: SessionRecord): Promise<boolean> {
    return this.slow(() => super.create(id, record));
  }

  override async update(id: string, delta: SessionDelta): Promise<boolean> {
    return this.slow(() => super.update(id, delta));
  }

  override async set(id: string, record: SessionRecord): Promise<void> {
    return this.slow(() => super.set(id, record));
  }

  override async destroy(id: string): Promise<void> {
    return this.slow(() => super.destroy(id));
  }

  override async touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    return this.slow(() => super.touch(id, expiresAt, lastSeenAt));
  }
}
