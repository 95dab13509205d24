import { STATUS_CODES } from 'node:http';
import { type Cookies, error, type Handle, isRedirect, type RequestEvent } from '@sveltejs/kit';
import { SessionError } from '../core/errors.js';
import type { TypedSession } from '../core/session.js';
import type { SessionData } from '../core/types.js';
import { SessionManager } from '../engine/manager.js';
import type { SessionOptions } from '../engine/options.js';
import {
  commitSession,
  discardBody,
  FetchCarrier,
  type FetchHost,
  openSession,
  readSetCookie,
} from './shared.js';

declare global {
  namespace App {
    interface Locals {
      /** The session (sessionkit). Type its data by augmenting `SessionData` from 'sessionkit'. */
      get session(): TypedSession<SessionData>;
      /** `null` is express-session's `req.session = null`, which the `unset` option decides about. */
      set session(value: TypedSession<SessionData> | null);
    }
  }
}

/** The request as `genid`, `cookie` and `skip` see it: `carrier.host` is SvelteKit's `event`. */
export type SvelteKitCarrier = FetchCarrier<RequestEvent>;

/** `sessionHandle()`'s options; `genid`, `cookie` and `skip` receive a carrier whose `host` is the event. */
export type SvelteKitSessionOptions = SessionOptions<SvelteKitCarrier>;

/** The handle `sessionHandle()` returns, with the core behind it. */
export type SessionHandle = Handle & {
  /** The core (events: `error`, `create`, `destroy`, `regenerate`, `invalid`). */
  readonly manager: SessionManager;
};

/**
 * A SvelteKit `handle` hook (`export const handle = sessionHandle(options)` in hooks.server.ts, or
 * inside `sequence()`): the session is on `event.locals.session` for load functions, actions and
 * endpoints, and is stored after `resolve(event)`, before the response is returned. Secure follows
 * `event.url`, which the Node adapter builds from `PROTOCOL_HEADER` behind a proxy (or set
 * `proxy: true` to trust `X-Forwarded-Proto`). A store failure is thrown as SvelteKit's `error()`
 * with its status (503 when the store is down).
 */
export function sessionHandle(options: SvelteKitSessionOptions): SessionHandle {
  const manager = new SessionManager<SvelteKitCarrier>(options);
  const { skip, proxy, binding } = manager.options;
  const noStore = manager.options.noStoreWithCookie;

  const handle: Handle = async ({ event, resolve }) => {
    const { headers } = event.request;
    const forwarded = proxy === true ? headers.get('x-forwarded-proto') : undefined;
    const carrier = new FetchCarrier<RequestEvent>(event, SVELTEKIT, headers.get('cookie'), forwarded);
    carrier.url = event.url.pathname;
    if (binding !== undefined)
      carrier.client(
        headers.get('user-agent'),
        binding.properties.includes('ip') ? clientAddress(event) : undefined,
      );
    if (skip?.(carrier)) return resolve(event);
    try {
      const loading = openSession(manager, carrier);
      if (loading !== undefined) await loading;
    } catch (failure) {
      throw asHttpError(failure);
    }
    let response: Response;
    try {
      response = await resolve(event);
    } catch (thrown) {
      carrier.follow(event.locals.session);
      // A redirect() thrown by a hook after this one: SvelteKit answers it with a response of its own, to
      // which it adds what `event.cookies` set, and no header of `setHeaders()` (so no `no-store` either:
      // docs/frameworks.md). The session is stored first and its cookie goes there.
      if (isRedirect(thrown)) {
        for (const cookie of await committed(manager, carrier)) setThroughEvent(event.cookies, cookie);
      } else {
        // SvelteKit's error page carries none of our cookies: what this request stored for one is ended.
        await manager.abandon(carrier);
      }
      throw thrown;
    }
    carrier.follow(event.locals.session);
    let cookies: string[];
    try {
      cookies = await committed(manager, carrier);
    } catch (failure) {
      // SvelteKit's error response replaces the one the route made, whose body nothing will read.
      discardBody(response);
      throw failure;
    }
    const streamed = storingAtEnd(response, manager, carrier);
    if (cookies.length === 0) return streamed;
    const out = streamed === response ? withMutableHeaders(response) : streamed;
    for (const cookie of cookies) out.headers.append('set-cookie', cookie);
    // A shared cache must never hand one user's Set-Cookie to another (C20).
    if (noStore) out.headers.set('cache-control', 'no-store');
    return out;
  };

  return Object.assign(handle, { manager: manager as unknown as SessionManager });
}

/** Stores what the request changed; a store failure becomes SvelteKit's HttpError with its status. */
async function committed(
  manager: SessionManager<SvelteKitCarrier>,
  carrier: SvelteKitCarrier,
): Promise<string[]> {
  try {
    return await commitSession(manager, carrier);
  } catch (failure) {
    throw asHttpError(failure);
  }
}

/**
 * The response with its body passed through, so that what the route changes in the session while the
 * body streams (a `ReadableStream` endpoint's `pull`: Server-Sent Events) is stored when it ends, before
 * its last byte, as the Express adapter stores at `end()`: a change to a session the browser holds; a new
 * session cannot send its cookie any more (warned once). The response is out by then: a store failure is
 * reported, and the body ends as it would have.
 */
function storingAtEnd(
  response: Response,
  manager: SessionManager<SvelteKitCarrier>,
  carrier: SvelteKitCarrier,
): Response {
  const { body } = response;
  if (body === null) return response;
  const atEnd = new TransformStream<Uint8Array, Uint8Array>({
    async flush() {
      carrier.follow(carrier.host.locals.session);
      await manager.commitAfterResponse(carrier);
    },
  });
  return new Response(body.pipeThrough(atEnd), response);
}

/** Our Set-Cookie through `event.cookies.set`, every attribute as written (SvelteKit's defaults differ). */
function setThroughEvent(jar: Cookies, header: string): void {
  const { name, value, attributes } = readSetCookie(header);
  jar.set(name, value, {
    path: '/',
    httpOnly: false,
    secure: false,
    sameSite: false,
    // The value is already encoded as the header carries it.
    encode: (encoded: string) => encoded,
    ...attributes,
  });
}

const SVELTEKIT: FetchHost<RequestEvent> = {
  secure: (event) => event.url.protocol === 'https:',
  publish: (event, session) => {
    event.locals.session = session as TypedSession<SessionData>;
  },
};

/**
 * The client's address as SvelteKit resolves it (the Node adapter reads `ADDRESS_HEADER` behind a
 * proxy); `undefined` where the platform gives none (it throws there).
 */
function clientAddress(event: RequestEvent): string | undefined {
  try {
    return event.getClientAddress();
  } catch {
    return undefined;
  }
}

/** A response from `fetch` has immutable headers: such a one is copied before adding ours. */
function withMutableHeaders(response: Response): Response {
  try {
    response.headers.append('x-sessionkit-probe', '1');
    response.headers.delete('x-sessionkit-probe');
    return response;
  } catch {
    return new Response(response.body, response);
  }
}

/** SvelteKit answers an unknown error with 500: ours become its HttpError with their status. */
function asHttpError(failure: unknown): unknown {
  if (!(failure instanceof SessionError)) return failure;
  try {
    // The body says no more than the status: a store's message may name hosts.
    error(failure.status, failure.expose ? failure.message : (STATUS_CODES[failure.status] ?? 'Error'));
  } catch (httpError) {
    return httpError;
  }
  return failure;
}

export default sessionHandle;
