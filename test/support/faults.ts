import express from 'express';
import session from '../../src/index.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { listenJson } from './apps.js';

/**
 * Helpers for the fault-injection tests: an app under traffic, timed probes, and a loopback proxy that
 * adds latency (TcpProxy in src/testing can only cut or stall).
 */

export interface Probe {
  status: number;
  ms: number;
  code: string | null;
  body: Record<string, unknown> | null;
}

export interface TrafficApp {
  url: string;
  close(): Promise<void>;
  /** Errors the manager reported on its `error` event (absorbed failures). */
  errors: unknown[];
}

const secret = 'faults-secret-0123456789abcdef0123456789';

/** An app whose every store call is bounded by `storeTimeout`, answering errors as JSON with their status. */
export async function trafficApp(store: AnyStore, storeTimeout: number): Promise<TrafficApp> {
  const middleware = session({ secret, store, resave: false, saveUninitialized: false, storeTimeout });
  const errors: unknown[] = [];
  middleware.manager.on('error', (error) => errors.push(error));
  const app = express();
  app.use(middleware);
  app.get('/set/:key/:value', (req, res) => {
    (req.session as unknown as Record<string, string>)[req.params.key] = req.params.value;
    res.json({ id: req.sessionID });
  });
  app.get('/read', (req, res) => res.json({ id: req.sessionID, data: { ...req.session } }));
  const served = await listenJson(app);
  return {
    url: served.url,
    errors,
    close: served.close,
  };
}

/** One request, timed; a client-side limit far above any bound the test asserts, so a hang shows as a number. */
export async function probe(url: string, cookie?: string, limitMs = 30_000): Promise<Probe> {
  const started = performance.now();
  try {
    const res = await fetch(url, {
      headers: cookie ? { cookie } : {},
      signal: AbortSignal.timeout(limitMs),
    });
    const text = await res.text();
    let body: Record<string, unknown> | null = null;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = null;
    }
    return {
      status: res.status,
      ms: performance.now() - started,
      code: typeof body?.code === 'string' ? body.code : null,
      body,
    };
  } catch {
    return { status: 0, ms: performance.now() - started, code: 'CLIENT_TIMEOUT', body: null };
  }
}

/** Creates `n` sessions, each holding `{ mark: <i> }`; returns their cookies. */
export async function seedSessions(url: string, n: number, tag: string): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}/set/mark/${tag}${i}`);
    if (res.status !== 200) throw new Error(`seeding answered ${res.status}`);
    const setCookie = res.headers.get('set-cookie');
    if (!setCookie) throw new Error('seeding set no cookie');
    cookies.push(setCookie.split(';')[0] as string);
    await res.arrayBuffer();
  }
  return cookies;
}

/** A burst of concurrent requests: reads and writes on existing sessions, and new sessions. */
export async function burst(url: string, cookies: string[], n: number): Promise<Probe[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) => {
      const cookie = cookies[i % cookies.length];
      if (i % 3 === 0) return probe(`${url}/read`, cookie);
      if (i % 3 === 1) return probe(`${url}/set/k${i}/v`, cookie);
      return probe(`${url}/set/fresh/${i}`);
    }),
  );
}

/** Polls until a read of `cookie` answers 200 with its data, or gives up after `limitMs`. Resolves the wait. */
export async function untilRecovered(url: string, cookie: string, limitMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < limitMs) {
    const res = await probe(`${url}/read`, cookie, 5_000);
    if (res.status === 200 && (res.body?.data as Record<string, unknown> | undefined)?.mark !== undefined) {
      return performance.now() - started;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no recovery within ${limitMs} ms`);
}

/** Every seeded session still loads with the mark it was written with. Returns how many did not. */
export async function missingSessions(url: string, cookies: string[], tag: string): Promise<number> {
  let missing = 0;
  for (const [i, cookie] of cookies.entries()) {
    const res = await probe(`${url}/read`, cookie, 10_000);
    if ((res.body?.data as Record<string, unknown> | undefined)?.mark !== `${tag}${i}`) missing++;
  }
  return missing;
}
