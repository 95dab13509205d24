import { createHmac } from 'node:crypto';

/**
 * ID renewal (C13). A session older than `renewAfter` moves to a new ID derived from the old one with
 * the signing secret, and the old record becomes a marker for `renewGrace` ms (and the allowance of
 * renewalWindow). A request that still carries the old cookie (sent before the browser saw the new one)
 * finds the marker, derives the same new ID and is served the renewed session, with its cookie. The
 * store holds no usable ID at any point: the marker names nothing, and deriving needs the secret.
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

/**
 * How long after a renewal (ms, by the clock of the app server that reads the marker) the old ID still
 * leads to the renewed session, and how long the marker is stored: the grace, and as much again for app
 * servers whose clocks differ. The move is dated by the server that made it; nothing tells another server
 * how far its own clock is off, so a server up to `renewGrace` ahead must still honour the old ID for the
 * whole grace, and must find the marker unexpired (or it would also remove it, failing the other requests
 * in flight). On one clock the old ID thus leads to the renewed session for up to twice the grace.
 */
export function renewalWindow(renewGrace: number): number {
  return 2 * renewGrace;
}
