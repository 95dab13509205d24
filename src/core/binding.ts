import { createHmac } from 'node:crypto';

/**
 * Session binding (C33): a session remembers a fingerprint of the request properties it was signed in
 * with, and a later request whose properties differ is a signal that the cookie may be in other hands.
 * The fingerprint travels with the session data under a reserved key (never on `req.session`, never
 * writable from it), as the authentication time does.
 */

/** The request properties a session can be bound to. */
export type BindingProperty = 'userAgent' | 'ip';

/** What a changed binding led to: a signal only, or the session ended. */
export type BindingAction = 'report' | 'end';

/** Where the fingerprint is kept in the stored data. */
export const BINDING_KEY = 'sessionkit:binding';

/** Per bound property, a digest of the value the session was bound with. */
export type Fingerprint = Partial<Record<BindingProperty, string>>;

/** 128 bits: two different values never pass for one another by chance. */
const DIGEST_BYTES = 16;

/**
 * The digest of one property's value. Keyed with the session ID, which no store holds: a plain hash
 * of an IPv4 address (or a common User-Agent) is reversed by trying every candidate, so a store dump
 * holding one would hold the address. The property's name is part of the input, so an IP and a
 * User-Agent with the same text never share a digest.
 */
export function bindingDigest(id: string, property: BindingProperty, value: string): string {
  return createHmac('sha256', id)
    .update(`sessionkit-binding\n${property}\n${value}`)
    .digest()
    .subarray(0, DIGEST_BYTES)
    .toString('base64url');
}

/** The fingerprint for the session `id` of each bound property, its value given by `read`. */
export function fingerprint(
  id: string,
  properties: readonly BindingProperty[],
  read: (property: BindingProperty) => string,
): Fingerprint {
  const out: Fingerprint = {};
  for (const property of properties) out[property] = bindingDigest(id, property, read(property));
  return out;
}

/** The fingerprint stored in `data`, or `null` when there is none or it is not one (then treated as unbound). */
export function storedFingerprint(data: Record<string, unknown>): Fingerprint | null {
  const value = data[BINDING_KEY];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const out: Fingerprint = {};
  for (const [property, digest] of Object.entries(value as Record<string, unknown>)) {
    if ((property !== 'userAgent' && property !== 'ip') || typeof digest !== 'string') return null;
    out[property] = digest;
  }
  return out;
}

/**
 * Compares a stored fingerprint with the request's. `changed`: the bound properties whose digests
 * differ. `complete`: the stored one covers exactly the bound properties; otherwise (a property bound
 * since, or one no longer bound) it is brought up to date at the next write, without a signal.
 */
export function compareFingerprints(
  stored: Fingerprint,
  current: Fingerprint,
  properties: readonly BindingProperty[],
): { changed: BindingProperty[]; complete: boolean } {
  const changed: BindingProperty[] = [];
  let complete = Object.keys(stored).length === properties.length;
  for (const property of properties) {
    const digest = stored[property];
    if (digest === undefined) complete = false;
    else if (digest !== current[property]) changed.push(property);
  }
  return { changed, complete };
}
