import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { CorruptSessionError, OptionsError } from './errors.js';

/**
 * Sealing primitives for encryption at rest (C38): AES-256-GCM with a random 96-bit nonce per seal, the
 * key's ID beside the ciphertext, and associated data binding a sealed value to the record and field it
 * was written for, so a ciphertext copied to another session or another key fails to open.
 */

/** One key of the ring. The first key of `EncryptionOptions.keys` seals; every key opens. */
export interface EncryptionKey {
  /** A short name stored beside each ciphertext: 1–32 of `A–Z a–z 0–9 _ -`. */
  id: string;
  /** 32 bytes: a Buffer/Uint8Array, or a base64 / base64url string of them. */
  key: Uint8Array | string;
}

export interface EncryptionOptions {
  keys: EncryptionKey[];
}

/** A validated key ring. */
export interface Keyring {
  /** The key new seals use. */
  readonly primary: { id: string; key: Buffer };
  readonly byId: ReadonlyMap<string, Buffer>;
}

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
/** Marks a sealed value: a version, so a later format can be told apart. */
const PREFIX = '$sk1$';

function keyBytes(key: unknown): Buffer | null {
  if (typeof key === 'string') {
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(key)) return null;
    return Buffer.from(key, key.includes('-') || key.includes('_') ? 'base64url' : 'base64');
  }
  if (key instanceof Uint8Array) return Buffer.from(key);
  return null;
}

/** Validates the `encryption` option at `session()` time (or a key file for the CLI). */
export function createKeyring(options: unknown, option = 'encryption'): Keyring {
  const keys = (options as Partial<EncryptionOptions> | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0)
    throw new OptionsError(`${option}.keys`, 'must be a non-empty array of { id, key }');
  const byId = new Map<string, Buffer>();
  // A plain loop, not forEach: an array with a hole (`delete keys[0]` to retire a key) must be refused
  // there, as any other bad entry, not skipped.
  for (let index = 0; index < keys.length; index++) {
    const entry: unknown = keys[index];
    const { id, key } = (entry ?? {}) as Partial<EncryptionKey>;
    const name = `${option}.keys[${index}]`;
    if (typeof id !== 'string' || !KEY_ID.test(id))
      throw new OptionsError(`${name}.id`, 'must be 1–32 characters of A–Z, a–z, 0–9, _ and -');
    if (byId.has(id)) throw new OptionsError(`${name}.id`, `repeats the key ID "${id}"`);
    const bytes = keyBytes(key);
    if (bytes === null || bytes.length !== KEY_BYTES)
      throw new OptionsError(`${name}.key`, 'must be 32 bytes (a Buffer, or a base64 string of 32 bytes)');
    byId.set(id, bytes);
  }
  const first = keys[0] as EncryptionKey;
  return { primary: { id: first.id, key: byId.get(first.id) as Buffer }, byId };
}

/** Associated data: the handle (fixed length) then the field name, so neither can be moved. */
function aad(handle: string, field: string): Buffer {
  return Buffer.from(`${handle}\n${field}`, 'utf8');
}

/** Random bytes drawn a pool at a time: one call into the CSPRNG per many seals, never a byte used twice. */
const NONCE_POOL_BYTES = NONCE_BYTES * 256;
let noncePool = Buffer.alloc(0);
let noncePoolAt = 0;

function freshNonce(): Buffer {
  if (noncePoolAt + NONCE_BYTES > noncePool.length) {
    noncePool = randomFillSync(Buffer.allocUnsafe(NONCE_POOL_BYTES));
    noncePoolAt = 0;
  }
  const nonce = noncePool.subarray(noncePoolAt, noncePoolAt + NONCE_BYTES);
  noncePoolAt += NONCE_BYTES;
  return nonce;
}

/** Seals `plaintext` for field `field` of the record filed under `handle`. */
export function seal(ring: Keyring, handle: string, field: string, plaintext: string): string {
  const nonce = freshNonce();
  const cipher = createCipheriv('aes-256-gcm', ring.primary.key, nonce);
  cipher.setAAD(aad(handle, field));
  const body = Buffer.concat([nonce, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${PREFIX}${ring.primary.id}$${body.toString('base64url')}`;
}

/** The ID of the key that sealed `value`, or `null` if it is not a sealed value. */
export function sealedWith(value: unknown): string | null {
  if (typeof value !== 'string' || !value.startsWith(PREFIX)) return null;
  const end = value.indexOf('$', PREFIX.length);
  return end < 0 ? null : value.slice(PREFIX.length, end);
}

/** Opens a sealed value; anything that does not open (wrong key, moved, cut, altered) is a corrupt record (B18). */
export function open(ring: Keyring, handle: string, field: string, value: unknown): string {
  const id = sealedWith(value);
  if (id === null) throw new CorruptSessionError(`field "${field}" is not sealed`);
  const key = ring.byId.get(id);
  if (!key) throw new CorruptSessionError(`field "${field}" is sealed with an unknown key "${id}"`);
  const body = Buffer.from((value as string).slice(PREFIX.length + id.length + 1), 'base64url');
  if (body.length < NONCE_BYTES + TAG_BYTES) throw new CorruptSessionError(`field "${field}" is truncated`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, NONCE_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(aad(handle, field));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return Buffer.concat([
      decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch (error) {
    throw new CorruptSessionError(`field "${field}" failed its authentication tag`, error);
  }
}
