import * as crypto from 'node:crypto';
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';

/** `<value>.<base64 HMAC-SHA256 without '=' padding>`: the cookie-signature format express-session uses. */
/** A signing secret: a string (its UTF-8 bytes) or a Buffer (its bytes), as cookie-signature takes them. */
export type Secret = string | Buffer;

export function sign(value: string, secret: Secret): string {
  return `${value}.${mac(value, secret)}`;
}

export interface Unsigned {
  value: string;
  /** Index of the secret that verified it: 0 is the current secret; more means the cookie needs re-signing. */
  secretIndex: number;
}

/** Base64 of a 32-byte MAC: 43 characters and one '=' of padding, which the format leaves out. */
const MAC_CHARS = 43;
/** A MAC as the cookie carries it: base64 characters only, each one byte, so it fits the scratch buffers below. */
const MAC_FORMAT = new RegExp(`^[A-Za-z0-9+/]{${MAC_CHARS}}$`);
// Scratch space for the constant-time comparison, written and compared within one synchronous call, so
// a verification allocates no buffers per secret.
const givenBytes = Buffer.alloc(MAC_CHARS);
const expectedBytes = Buffer.alloc(MAC_CHARS);

/**
 * Verifies against every secret. A MAC that is not 43 base64 characters (truncated, extended, with
 * trailing garbage: cookie-signature#40) fails before any HMAC; the format is public, so this says
 * nothing about the secret. Each comparison is constant time over equal-length buffers.
 */
export function unsign(input: string, secrets: readonly Secret[]): Unsigned | null {
  const dot = input.lastIndexOf('.');
  if (dot <= 0) return null;
  const given = input.slice(dot + 1);
  if (!MAC_FORMAT.test(given)) return null;
  const value = input.slice(0, dot);
  givenBytes.write(given, 'latin1');
  let found = -1;
  for (let i = 0; i < secrets.length; i++) {
    expectedBytes.write(mac(value, secrets[i] as Secret), 'latin1');
    // Keep checking every secret so the time taken does not say which one matched.
    if (timingSafeEqual(expectedBytes, givenBytes) && found === -1) found = i;
  }
  return found === -1 ? null : { value, secretIndex: found };
}

// The last MAC computed: a request verifies its cookie's ID and then signs the same ID again for its
// Set-Cookie, so the second HMAC is a lookup. A MAC is public (it is in the cookie); caching it leaks nothing.
let lastValue = '';
let lastSecret: Secret = '';
let lastMac = '';

/** Each secret as a key object, made once: a string key is converted again by every `createHmac`. */
const keys = new Map<string, KeyObject>();
const MAX_KEYS = 16;
const bufferKeys = new WeakMap<Buffer, KeyObject>();

function keyOf(secret: Secret): KeyObject {
  if (typeof secret !== 'string') {
    // A Buffer's bytes are the key. One key object per Buffer, taken when first used: express-session
    // reads a Buffer secret when it signs, so changing its bytes afterwards is not supported by either.
    let key = bufferKeys.get(secret);
    if (key === undefined) {
      key = createSecretKey(Buffer.from(secret));
      bufferKeys.set(secret, key);
    }
    return key;
  }
  let key = keys.get(secret);
  if (key === undefined) {
    if (keys.size >= MAX_KEYS) keys.clear();
    key = createSecretKey(Buffer.from(secret));
    keys.set(secret, key);
  }
  return key;
}

/** `crypto.hash` (Node 20.12+, 21.7+): a one-shot digest, with no Hash object per call. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string | Buffer, encoding: string) => string })
  .hash;
const BLOCK = 64;

/**
 * HMAC-SHA256 as RFC 2104 defines it, H((K ^ opad) || H((K ^ ipad) || m)), over one-shot digests:
 * `createHmac` makes a stream object and a native handle per call, which the collector must then
 * track, and a verification runs on every request that carries a cookie. The inner pad is a string so
 * that it and the value are hashed in one call; that needs every pad byte below 0x80 (it is then the
 * same in UTF-8 as in bytes), which holds for any ASCII secret of up to 64 bytes. Other secrets, and
 * Node versions without `crypto.hash`, use `createHmac`.
 */
interface Pads {
  inner: string;
  /** The outer pad, then room for the inner digest. */
  outer: Buffer;
}
const pads = new Map<string, Pads | null>();

function padsOf(secret: Secret): Pads | null {
  if (oneShot === undefined || typeof secret !== 'string') return null;
  let found = pads.get(secret);
  if (found !== undefined) return found;
  found = null;
  const key = Buffer.from(secret);
  if (key.length <= BLOCK && key.every((byte) => byte < 0x80)) {
    const outer = Buffer.alloc(BLOCK + 32);
    let inner = '';
    for (let i = 0; i < BLOCK; i++) {
      const byte = key[i] ?? 0;
      inner += String.fromCharCode(byte ^ 0x36);
      outer[i] = byte ^ 0x5c;
    }
    found = { inner, outer };
  }
  if (pads.size >= MAX_KEYS) pads.clear();
  pads.set(secret, found);
  return found;
}

function hmac(value: string, secret: Secret): string {
  const pad = padsOf(secret);
  if (pad === null || oneShot === undefined)
    return createHmac('sha256', keyOf(secret)).update(value).digest('base64');
  // Written and hashed within this call: nothing else uses the buffer in between.
  pad.outer.write(oneShot('sha256', pad.inner + value, 'latin1'), BLOCK, 'latin1');
  return oneShot('sha256', pad.outer, 'base64');
}

function mac(value: string, secret: Secret): string {
  if (value === lastValue && secret === lastSecret && lastMac !== '') return lastMac;
  const computed = hmac(value, secret).slice(0, MAC_CHARS);
  lastValue = value;
  lastSecret = secret;
  lastMac = computed;
  return computed;
}
