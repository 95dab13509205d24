import { error, isRedirect, type RequestEvent, redirect } from '@sveltejs/kit';
import { describe, expect, it } from 'vitest';
import { sessionHandle } from '../../src/adapters/sveltekit.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { runAdapterSuite } from '../../src/testing/index.js';
import { serveSvelteKit } from '../support/sveltekit.js';
import { svelteKitHarness } from './harnesses.js';

runAdapterSuite(svelteKitHarness);

describe('SvelteKit handle', () => {
  const options = {
    secret: 'sveltekit-tests-secret-of-32-characters!',
    resave: false,
    saveUninitialized: false,
  };

  it('a redirect() thrown by a later hook: the session is stored, its cookie set through event.cookies', async () => {
    const store = new MemoryStore();
    const handle = sessionHandle({ ...options, store, cookie: { maxAge: 60_000 } });
    const set: [string, string, { encode?: (value: string) => string; [option: string]: unknown }][] = [];
    // What SvelteKit then does: answers the redirect itself, adding what event.cookies set.
    const event = {
      request: new Request('http://localhost/'),
      url: new URL('http://localhost/'),
      locals: {},
      cookies: { set: (...args: (typeof set)[number]) => set.push(args) },
      setHeaders: () => undefined,
    } as unknown as RequestEvent;
    const thrown = await Promise.resolve(
      handle({
        event,
        resolve: async (resolved) => {
          resolved.locals.session.views = 1;
          redirect(303, '/done');
        },
      }),
    ).catch((failure: unknown) => failure);
    expect(isRedirect(thrown)).toBe(true);
    expect(set).toHaveLength(1);
    const [name, value, attributes] = set[0] as (typeof set)[number];
    expect(attributes).toMatchObject({
      path: '/',
      httpOnly: true,
      secure: false,
      sameSite: 'lax',
    });
    expect(attributes.expires).toBeInstanceOf(Date);
    const cookie = `${name}=${attributes.encode?.(value) ?? value}`;
    const back = await serveSvelteKit(
      handle,
      new Request('http://localhost/', { headers: { cookie } }),
      (next) => Response.json({ views: next.locals.session.views }),
    );
    expect(await back.json()).toEqual({ views: 1 });
    expect(await store.length()).toBe(1);
  });

  it('any other error thrown by a later hook stores nothing, as SvelteKit sends none of its cookies', async () => {
    // SvelteKit answers it with an error page that carries none of `event.cookies`: a session stored now
    // would be one the browser never hears of, or, after a login, a new ID its cookie does not name.
    const store = new MemoryStore();
    const handle = sessionHandle({ ...options, store });
    const first = await serveSvelteKit(handle, new Request('http://localhost/'), (event) => {
      event.locals.session.views = 1;
      return new Response('ok');
    });
    const cookie = (first.headers.getSetCookie()[0] ?? '').split(';')[0] as string;
    for (const [thrown, status] of [
      [new Error('a later hook failed'), 500],
      [() => error(404, 'Not Found'), 404],
    ] as const) {
      const failed = await serveSvelteKit(
        handle,
        new Request('http://localhost/', { headers: { cookie } }),
        (event) => {
          event.locals.session.views = 2;
          if (typeof thrown === 'function') thrown();
          throw thrown;
        },
      );
      expect(failed.status).toBe(status);
      expect(failed.headers.getSetCookie()).toEqual([]);
    }
    const back = await serveSvelteKit(
      handle,
      new Request('http://localhost/', { headers: { cookie } }),
      (event) => Response.json({ views: event.locals.session.views }),
    );
    expect(await back.json()).toEqual({ views: 1 });
    expect(await store.length()).toBe(1);
  });

  it('adds its cookie to a response whose headers are immutable (a fetched one)', async () => {
    const handle = sessionHandle(options);
    const response = await serveSvelteKit(handle, new Request('http://localhost/'), (event) => {
      event.locals.session.views = 1;
      const fetched = Response.error();
      expect(() => fetched.headers.append('x', 'y')).toThrow();
      return new Response('proxied', { headers: fetched.headers });
    });
    expect(response.headers.getSetCookie()).toHaveLength(1);
  });

  it('an https event.url makes the request secure, with no proxy setting', async () => {
    const handle = sessionHandle({ ...options, cookie: { secure: true } });
    const write = (event: RequestEvent) => {
      event.locals.session.views = 1;
      return new Response('ok');
    };
    const secure = await serveSvelteKit(handle, new Request('https://app.example/'), write);
    expect(secure.headers.getSetCookie()[0]).toMatch(/; Secure;/);
    expect(
      (await serveSvelteKit(handle, new Request('http://app.example/'), write)).headers.getSetCookie(),
    ).toEqual([]);
  });

  it('an https event.url stays secure under proxy: false and proxy: true, as a TLS socket does', async () => {
    // `proxy` decides whether X-Forwarded-Proto is trusted, not whether SvelteKit's own word counts: with
    // either value a Secure cookie once went unsent on https, and nobody could log in.
    const write = (event: RequestEvent) => {
      event.locals.session.views = 1;
      return new Response('ok');
    };
    for (const proxy of [false, true]) {
      const handle = sessionHandle({ ...options, proxy, cookie: { secure: true } });
      const response = await serveSvelteKit(handle, new Request('https://app.example/'), write);
      expect(response.headers.getSetCookie()[0], `proxy: ${proxy}`).toMatch(/; Secure;/);
    }
  });

  it('a store outage is an HttpError of status 503 whose body names no host', async () => {
    const store = new MemoryStore();
    store.create = async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.9:6379'), { code: 'ECONNREFUSED' });
    };
    const response = await serveSvelteKit(
      sessionHandle({ ...options, store }),
      new Request('http://localhost/'),
      (event) => {
        event.locals.session.views = 1;
        return new Response('ok');
      },
    );
    expect(response.status).toBe(503);
    expect(await response.text()).toBe('Service Unavailable');
  });
});
