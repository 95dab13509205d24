import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyring } from '../../src/core/encryption.js';
import { OptionsError } from '../../src/core/errors.js';
import session, { MemoryStore } from '../../src/index.js';

/**
 * A key ring with a hole (`keys[1] = …` on an empty array, or `delete keys[0]` to retire a key in place)
 * is refused with the typed OptionsError (ERR_INVALID_OPTION, naming `encryption.keys[0]`) that every
 * other bad ring gets, not a bare TypeError from inside the validation.
 */
describe('encryption key ring with a hole', () => {
  const sparse = () => {
    const keys: Array<{ id: string; key: Buffer }> = [];
    keys[1] = { id: 'k2', key: randomBytes(32) };
    return keys;
  };

  it('createKeyring throws a typed OptionsError, not a TypeError', () => {
    let error: unknown;
    try {
      createKeyring({ keys: sparse() });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(OptionsError);
    expect((error as { code?: string }).code).toBe('ERR_INVALID_OPTION');
  });

  it('session() refuses it with a typed error', () => {
    let error: unknown;
    try {
      session({
        secret: 'attack7-secret-0123456789abcdef0123456789',
        store: new MemoryStore(),
        encryption: { keys: sparse() },
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).not.toBeInstanceOf(TypeError);
    expect(typeof (error as { code?: unknown }).code).toBe('string');
  });
});
