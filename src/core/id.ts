import { createHash, randomBytes } from 'node:crypto';

/** 32 random bytes from the CSPRNG: 256 bits, 43 base64url characters. */
export function generateId(): string {
  return randomBytes(32).toString('base64url');
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
  return createHash('sha256').update(id).digest('base64url');
}
