import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import { encryptStore } from '../../src/stores/encrypted.js';

/**
 * Through the encryption wrapper, `store.update(id, { set: { token: undefined }, … })` removes the key,
 * as it does on the unsealed stores (JSON drops an undefined value). Left in the store, a secret a
 * caller scrubbed this way would come back on the next read once encryption is on.
 */
const rec = (data: Record<string, unknown>) => ({
  data,
  cookie: { path: '/', httpOnly: true, originalMaxAge: 60_000 } as never,
  expiresAt: Date.now() + 60_000,
  createdAt: Date.now(),
  lastSeenAt: Date.now(),
  userId: null,
});

describe('EncryptedStore.update with an undefined value in set', () => {
  it('deletes the key, as the same write does without encryption', async () => {
    const plain = new MemoryStore();
    const encrypted = encryptStore(new MemoryStore(), { keys: [{ id: 'k', key: randomBytes(32) }] });
    for (const store of [plain, encrypted]) {
      await store.create('attack7-id', rec({ token: 'reset-token-123', a: 1 }));
      await store.update('attack7-id', {
        set: { token: undefined },
        unset: [],
        expiresAt: Date.now() + 60_000,
        lastSeenAt: Date.now(),
      });
    }
    expect((await plain.get('attack7-id'))?.data).toEqual({ a: 1 });
    expect((await encrypted.get('attack7-id'))?.data).toEqual({ a: 1 });
  });
});
