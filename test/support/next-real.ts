/**
 * Runs code the way Next.js 16 runs a Route Handler or a Server Action, with Next.js's own request store
 * (no vi.mock: the shared test project runs with isolate:false, where module mocks would leak). `cookies()`
 * and `headers()` from next/headers then answer as in a real server; `setCookies` collects what the
 * handler's cookies().set() made (Next.js's onUpdateCookies).
 */
import './next-setup.js';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { workAsyncStorage } = require('next/dist/server/app-render/work-async-storage.external.js');
const { workUnitAsyncStorage } = require('next/dist/server/app-render/work-unit-async-storage.external.js');
const {
  createRequestStoreForAPI,
  synchronizeMutableCookies,
} = require('next/dist/server/async-storage/request-store.js');

export interface NextRun<T> {
  result: T;
  setCookies: string[];
}

export interface RequestStoreLike {
  phase: string;
}

/**
 * `handler` runs in the action phase (a Route Handler, a Server Action); `render`, when given, runs after it
 * in the same request as Next.js re-renders the page after a Server Action: phase 'render', `cookies()`
 * synchronised with what the action set (Next.js's synchronizeMutableCookies), `headers()` as received.
 */
export async function runNext<T>(
  request: Request,
  handler: () => Promise<T>,
  render?: () => Promise<void>,
): Promise<NextRun<T>> {
  let setCookies: string[] = [];
  const url = new URL(request.url);
  const store = createRequestStoreForAPI(
    { headers: Object.fromEntries(request.headers) },
    { pathname: url.pathname, search: url.search },
    { tags: [], expirationsByCacheKind: new Map() },
    (cookies: string[]) => {
      setCookies = cookies;
    },
    undefined,
    undefined,
  );
  const workStore = {
    route: url.pathname,
    forceStatic: false,
    dynamicShouldError: false,
    isStaticGeneration: false,
    page: url.pathname,
  };
  const result = await workAsyncStorage.run(workStore, () =>
    workUnitAsyncStorage.run(store, async () => {
      const value = await handler();
      if (render) {
        store.phase = 'render';
        synchronizeMutableCookies(store);
        await render();
      }
      return value;
    }),
  );
  return { result, setCookies };
}

/** The name=value pair of a Set-Cookie header. */
export function pair(header: string | undefined): string {
  return (header ?? '').split(';')[0] as string;
}
