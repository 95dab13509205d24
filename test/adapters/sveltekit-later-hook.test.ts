import { error, isHttpError, isRedirect, type RequestEvent, redirect } from '@sveltejs/kit';
import { describe, expect, it } from 'vitest';
import { sessionHandle } from '../../src/adapters/sveltekit.js';
import { login } from '../../src/index.js';
import { handlesNamedBy } from '../support/apps.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * The SvelteKit hook inside `sequence(sessionHandle(…), laterHook)`, with a `resolve` that throws what the
 * later hook throws. The event and the answer follow SvelteKit 2's own runtime
 * (node_modules/@sveltejs/kit/src/runtime/server/respond.js):
 *  - `event.setHeaders` throws `"<name>" header is already set` for a header set before (line ~199);
 *  - a Redirect that reaches the root is answered with a bare redirect response to which only the cookies of
 *    `event.cookies` are added, not the headers of `setHeaders` (lines ~419-427); if building it throws, and
 *    for any other error, SvelteKit answers with its error page, which carries none of the cookies.
 */
function serve(
  handle: ReturnType<typeof sessionHandle>,
  request: Request,
  laterHook: (event: RequestEvent) => Promise<Response>,
): Promise<Response> {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  const event = {
    request,
    url: new URL(request.url),
    locals: {},
    getClientAddress: () => '127.0.0.1',
    setHeaders(added: Record<string, string>) {
      for (const key in added) {
        const lower = key.toLowerCase();
        if (lower in headers) throw new Error(`"${key}" header is already set`);
        headers[lower] = added[key] as string;
      }
    },
    cookies: {
      set(name: string, value: string, opts: { encode?: (v: string) => string; [k: string]: unknown }) {
        const attributes = Object.entries(opts)
          .filter(([key, v]) => key !== 'encode' && v !== false && v !== undefined)
          .map(([key, v]) => (v === true ? key : `${key}=${v instanceof Date ? v.toUTCString() : v}`));
        cookies.push([`${name}=${opts.encode ? opts.encode(value) : value}`, ...attributes].join('; '));
      },
    },
  } as unknown as RequestEvent;
  return Promise.resolve(handle({ event, resolve: laterHook })).then(
    (response) => {
      for (const [key, value] of Object.entries(headers)) response.headers.set(key, value);
      for (const cookie of cookies) response.headers.append('set-cookie', cookie);
      return response;
    },
    (thrown: unknown) => {
      if (isRedirect(thrown)) {
        const response = new Response(undefined, {
          status: thrown.status,
          headers: { location: thrown.location },
        });
        for (const cookie of cookies) response.headers.append('set-cookie', cookie);
        return response;
      }
      if (isHttpError(thrown)) return new Response(thrown.body.message, { status: thrown.status });
      return new Response('Internal Error', { status: 500 });
    },
  );
}

const options = {
  secret: 'sveltekit-attack-secret-of-at-least-32-chars',
  resave: false,
  saveUninitialized: false,
} as const;

/** The store handles of the session IDs a response's cookies name. */

async function loggedOutCookie(handle: ReturnType<typeof sessionHandle>): Promise<string> {
  const first = await serve(handle, new Request('http://localhost/'), async (event) => {
    event.locals.session.name = 'ada';
    return new Response('ok');
  });
  return (first.headers.getSetCookie()[0] as string).split(';')[0] as string;
}

describe('SvelteKit: a later hook that throws after a session operation that stores at once', () => {
  /*
   * `regenerate({ keep: true })` stores the moved session at once, and `login()` under `maxSessionsPerUser`
   * the signed-in one; both end the session the browser holds. SvelteKit's error page carries no cookie, so
   * a record left behind would be one no browser can reach, and under the limit it would count against the
   * user's sessions (evicting a real one). The error ends it.
   */
  for (const [name, limit, operation] of [
    [
      'regenerate({ keep: true })',
      undefined,
      (event: RequestEvent) => event.locals.session.regenerate({ keep: true }),
    ],
    ['login() under maxSessionsPerUser', 3, (event: RequestEvent) => login(event.locals.session, 'u1')],
  ] as const) {
    it(`${name}, then error(403): the store holds no session the browser was not told about`, async () => {
      const store = new SlowMemoryStore(10);
      const handle = sessionHandle({ ...options, store, maxSessionsPerUser: limit });
      const cookie = await loggedOutCookie(handle);
      const response = await serve(
        handle,
        new Request('http://localhost/', { headers: { cookie } }),
        async (event) => {
          await operation(event);
          error(403, 'Forbidden');
        },
      );
      expect(response.status).toBe(403);
      expect(Object.keys(await store.all())).toEqual(handlesNamedBy(response.headers.getSetCookie()));
      expect(await store.listByUser('u1')).toEqual([]);
    });
  }
});

describe('SvelteKit: a redirect() thrown by a later hook that set Cache-Control, with the owasp preset', () => {
  /*
   * A later hook that set Cache-Control itself, then redirects: the redirect goes out with the session's
   * cookie. (SvelteKit's `setHeaders` throws for a header set twice; a no-store set there by the adapter
   * turned the redirect into a 500 whose page carried no cookie, after the session was stored.)
   */
  it('answers the redirect, with the session cookie and no leaked record', async () => {
    const store = new SlowMemoryStore(10);
    const handle = sessionHandle({ ...options, store, preset: 'owasp' });
    const response = await serve(handle, new Request('https://app.example/account'), async (event) => {
      event.setHeaders({ 'cache-control': 'private, no-cache' });
      event.locals.session.returnTo = '/account';
      redirect(303, '/login');
    });
    expect(response.status).toBe(303);
    expect(handlesNamedBy(response.headers.getSetCookie())).toHaveLength(1);
    expect(Object.keys(await store.all())).toEqual(handlesNamedBy(response.headers.getSetCookie()));
  });
});
