import { createHmac } from 'node:crypto';

/**
 * ID renewal (C13). A session older than `renewAfter` moves to a new ID derived from the old one with
 * the signing secret, and the old record becomes a marker that lives `renewGrace` ms. A request that
 * still carries the old cookie (sent before the browser saw the new one) finds the marker, derives the
 * same new ID and is served the renewed session, with its cookie. The store holds no usable ID at any
 * point: the marker names nothing, and deriving needs the secret.
 */
export function renewedId(secret: string | Buffer, oldId: string, bytes = 32): string {
  const digest = createHmac('sha256', secret).update(`sessionkit-renew\n${oldId}`).digest();
  return (bytes < digest.length ? digest.subarray(0, bytes) : digest).toString('base64url');
}

/**
 * The ID `regenerate({ keep: true })` moves a stored session to (C16). Derived, like a renewal's, so that
 * a logout or destroy of the old ID, which knows only that ID, also ends wherever a move in flight takes
 * the session; a different label from renewal's, so an old cookie never leads to it.
 */
export function keptId(secret: string | Buffer, oldId: string): string {
  return createHmac('sha256', secret).update(`sessionkit-keep\n${oldId}`).digest('base64url');
}

export const DEFAULT_RENEW_GRACE_MS = 10_000;
