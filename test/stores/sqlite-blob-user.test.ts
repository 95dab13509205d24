import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';
import { record } from '../../src/testing/conformance.js';

/**
 * SQLite: a `user_id` stored as a BLOB (what better-sqlite3 writes when a migration binds a Buffer, e.g.
 * rows copied from the MySQL store, whose `varbinary` user_id its driver returns as a Buffer) is a
 * corrupt record: a fresh session, never that user's. Read as the user, it would escape "log out
 * everywhere": listByUser, destroyByUser and the revocation epoch compare it as a BLOB, which never
 * equals the user ID's text.
 */

const dir = mkdtempSync(join(tmpdir(), 'sk-sqlite-blob-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite: a user_id written as a BLOB', () => {
  it('is either treated as corrupt, or listed and revoked with its user', async () => {
    const store = new SQLiteStore(join(dir, 'blob.db'), { pruneInterval: false });
    try {
      const id = generateId();
      await store.create(id, record({ userId: 'alice' }));
      store.db
        .prepare('UPDATE sessionkit_sessions SET user_id = ? WHERE id = ?')
        .run(Buffer.from('alice'), storageKey(id));
      await store.destroyByUser('alice');
      // After "log out everywhere" for alice, nothing may load as alice.
      const after = await store.get(id);
      expect(after?.userId ?? null).not.toBe('alice');
    } finally {
      await store.close();
    }
  });
});
