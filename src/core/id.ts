import * as crypto from 'node:crypto';

const ID_BYTES = 32;
/**
 * express-session's IDs: 24 bytes (192 bits), 32 characters. Its stores size their ID columns for them
 * (connect-session-sequelize's `STRING(36)`), so sessions kept in such a store get IDs of that length.
 */
export const EXPRESS_SESSION_ID_BYTES = 24;
/** IDs drawn per refill: one CSPRNG call per 128 IDs instead of one per ID. */
const POOL_IDS = 128;
const pool = Buffer.alloc(ID_BYTES * POOL_IDS);
let poolOffset = pool.length;

/**
 * `bytes` (32 unless given) random bytes from the CSPRNG: 256 bits, 43 base64url characters. Bytes come
 * from a pool refilled by `randomFillSync`; each byte is handed out once and the pool is overwritten
 * before reuse.
 */
export function generateId(bytes = ID_BYTES): string {
  if (poolOffset + bytes > pool.length) {
    crypto.randomFillSync(pool);
    poolOffset = 0;
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return id;
}

// express-session's uid-safe IDs are 32 characters, ours 43; UUIDs from a custom `genid` are 36.
const DEFAULT_ID = /^[A-Za-z0-9_-]{22,128}$/;
// A custom `genid` may use any visible ASCII except the characters that would break a cookie value.
const CUSTOM_ID = /^[!#-+\--:<-[\]-~]{1,256}$/;

/** Checks an incoming ID's charset and length before any HMAC or store work (OWASP C04, B02, B09). */
export function isWellFormedId(id: string, custom: boolean): boolean {
  return (custom ? CUSTOM_ID : DEFAULT_ID).test(id);
}

/**
 * The key a store files a session under: SHA-256 of the ID, base64url. A dump of the store therefore
 * holds no usable cookie values (Rack CVE-2019-16782).
 */
export function storageKey(id: string): string {
  return oneShotHash === undefined
    ? crypto.createHash('sha256').update(id).digest('base64url')
    : oneShotHash('sha256', id, 'base64url');
}

/** `crypto.hash` (Node 20.12+): a third of `createHash`'s cost for one short input, with no Hash object. */
const oneShotHash = (crypto as Partial<Pick<typeof crypto, 'hash'>>).hash;
