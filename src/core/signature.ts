import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';

/** `<value>.<base64 HMAC-SHA256 without '=' padding>`: the cookie-signature format express-session uses. */
export function sign(value: string, secret: string): string {
  return `${value}.${mac(value, secret)}`;
}

export interface Unsigned {
  value: string;
  /** Index of the secret that verified it: 0 is the current secret; more means the cookie needs re-signing. */
  secretIndex: number;
}

/**
 * Verifies against every secret. Each comparison is constant time over equal-length buffers; a MAC of the
 * wrong length (truncated, or with trailing garbage) fails before any comparison (cookie-signature#40).
 */
export function unsign(input: string, secrets: readonly string[]): Unsigned | null {
  const dot = input.lastIndexOf('.');
  if (dot <= 0) return null;
  const value = input.slice(0, dot);
  const given = Buffer.from(input.slice(dot + 1));
  let found = -1;
  for (let i = 0; i < secrets.length; i++) {
    const expected = Buffer.from(mac(value, secrets[i] as string));
    // Keep checking every secret so the time taken does not say which one matched.
    if (expected.length === given.length && timingSafeEqual(expected, given) && found === -1) found = i;
  }
  return found === -1 ? null : { value, secretIndex: found };
}

// The last MAC computed: a request verifies its cookie's ID and then signs the same ID again for its
// Set-Cookie, so the second HMAC is a lookup. A MAC is public (it is in the cookie); caching it leaks nothing.
let lastValue = '';
let lastSecret = '';
let lastMac = '';

/** Each secret as a key object, made once: a string key is converted again by every `createHmac`. */
const keys = new Map<string, KeyObject>();
const MAX_KEYS = 16;

function keyOf(secret: string): KeyObject {
  let key = keys.get(secret);
  if (key === undefined) {
    if (keys.size >= MAX_KEYS) keys.clear();
    key = createSecretKey(Buffer.from(secret));
    keys.set(secret, key);
  }
  return key;
}

/** Base64 of a 32-byte MAC: 43 characters and one '=' of padding, which the format leaves out. */
const MAC_CHARS = 43;

function mac(value: string, secret: string): string {
  if (value === lastValue && secret === lastSecret && lastMac !== '') return lastMac;
  const computed = createHmac('sha256', keyOf(secret)).update(value).digest('base64').slice(0, MAC_CHARS);
  lastValue = value;
  lastSecret = secret;
  lastMac = computed;
  return computed;
}
