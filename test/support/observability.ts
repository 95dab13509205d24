import { channel, tracingChannel } from 'node:diagnostics_channel';
import express from 'express';
import { CHANNELS } from '../../src/core/diagnostics.js';
import { sign } from '../../src/core/signature.js';
import type { SessionDelta, SessionRecord } from '../../src/core/types.js';
import session, { login, logout, type SessionOptions } from '../../src/index.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { listenJson } from './apps.js';

/**
 * Helpers for the observability tests: a MemoryStore whose backend can go down or hang (its calls then go
 * through the bounded, asynchronous path every networked store takes), an app that exercises every
 * lifecycle step, a cookie-keeping client, and a recorder of every diagnostics_channel message.
 */

export const SECRET = 'observability-secret-0123456789abcdef0123';

/** A MemoryStore reached as any networked store is, with a switch that cuts or stalls its "link". */
export class FlakyStore extends MemoryStore {
  mode: 'up' | 'refuse' | 'hang' = 'up';

  private check(): Promise<void> | null {
    if (this.mode === 'refuse') {
      const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
      return Promise.reject(error);
    }
    if (this.mode === 'hang') return new Promise(() => {});
    return null;
  }

  override get(id: string): Promise<SessionRecord | null> {
    return this.check()?.then(() => null) ?? super.get(id);
  }
  override create(id: string, record: SessionRecord): Promise<boolean> {
    return this.check()?.then(() => false) ?? super.create(id, record);
  }
  override update(id: string, delta: SessionDelta): Promise<boolean> {
    return this.check()?.then(() => false) ?? super.update(id, delta);
  }
  override touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    return this.check()?.then(() => false) ?? super.touch(id, expiresAt, lastSeenAt);
  }
  override destroy(id: string): Promise<void> {
    return this.check() ?? super.destroy(id);
  }
}

export interface ObservedApp {
  url: string;
  close(): Promise<void>;
}

/** Every lifecycle step behind a GET, answering `{ id }` (the raw ID, so the test knows what must not leak). */
export async function observedApp(
  store: AnyStore,
  options: Partial<SessionOptions> = {},
): Promise<ObservedApp> {
  const app = express();
  app.use(
    session({
      name: 'sid',
      secret: SECRET,
      store,
      resave: false,
      saveUninitialized: false,
      storeTimeout: 300,
      ...options,
    }),
  );
  const wrap =
    (handler: express.RequestHandler): express.RequestHandler =>
    (req, res, next) =>
      Promise.resolve(handler(req, res, next)).catch(next);
  app.get('/set/:key/:value', (req, res) => {
    (req.session as unknown as Record<string, string>)[req.params.key as string] = req.params.value as string;
    res.json({ id: req.sessionID });
  });
  app.get('/read', (req, res) => res.json({ id: req.sessionID }));
  app.get(
    '/login/:user',
    wrap(async (req, res) => {
      await login(req.session, req.params.user as string);
      res.json({ id: req.sessionID });
    }),
  );
  app.get(
    '/logout',
    wrap(async (req, res) => {
      await logout(req.session);
      res.json({ id: req.sessionID });
    }),
  );
  app.get(
    '/revoke/:user',
    wrap(async (_req, res) => {
      res.json({ count: await store.destroyByUser?.(_req.params.user as string) });
    }),
  );
  const served = await listenJson(app);
  return {
    url: served.url,
    close: served.close,
  };
}

/** A browser of one: keeps the `sid` cookie between requests and remembers every session ID it was given. */
export class Client {
  cookie: string | null = null;
  readonly ids = new Set<string>();

  constructor(private readonly base: string) {}

  async get(path: string, cookie = this.cookie): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(this.base + path, { headers: cookie ? { cookie } : {} });
    const set = res.headers.getSetCookie().find((line) => line.startsWith('sid='));
    if (set) this.cookie = set.split(';')[0] as string;
    const body = (await res.json()) as Record<string, unknown>;
    if (typeof body.id === 'string') this.ids.add(body.id);
    return { status: res.status, body };
  }
}

/** A cookie for `id`, correctly signed: what a browser holding that session sends. */
export function cookieFor(id: string, secret = SECRET): string {
  return `sid=${encodeURIComponent(`s:${sign(id, secret)}`)}`;
}

export interface Recorded {
  channel: string;
  event: string;
  /** A copy of the message as it was when published (tracing messages change as the call runs). */
  message: Record<string, unknown>;
}

const LIFECYCLE = [
  CHANNELS.created,
  CHANNELS.regenerated,
  CHANNELS.login,
  CHANNELS.logout,
  CHANNELS.destroyed,
  CHANNELS.unknown,
  CHANNELS.invalid,
  CHANNELS.revoked,
  CHANNELS.binding,
];
const TRACE_EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;

/** Subscribes to every sessionkit channel and records each message; `stop()` unsubscribes. */
export function recordChannels(): { records: Recorded[]; stop(): void } {
  const records: Recorded[] = [];
  const stops: (() => void)[] = [];
  for (const name of LIFECYCLE) {
    const handler = (message: unknown) =>
      records.push({ channel: name, event: 'publish', message: { ...(message as object) } });
    channel(name).subscribe(handler);
    stops.push(() => channel(name).unsubscribe(handler));
  }
  for (const name of Object.values(CHANNELS.store)) {
    const handlers = Object.fromEntries(
      TRACE_EVENTS.map((event) => [
        event,
        (message: unknown) => records.push({ channel: name, event, message: { ...(message as object) } }),
      ]),
    ) as unknown as Parameters<ReturnType<typeof tracingChannel>['subscribe']>[0];
    tracingChannel(name).subscribe(handlers);
    stops.push(() => tracingChannel(name).unsubscribe(handlers));
  }
  return {
    records,
    stop: () => {
      for (const stop of stops) stop();
    },
  };
}

/** Every string a signal could leak through: the message's JSON, and an error's message and stack. */
export function textOf(value: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  const visit = (v: unknown): void => {
    if (v === null || v === undefined || seen.has(v)) return;
    if (typeof v !== 'object') {
      parts.push(String(v));
      return;
    }
    seen.add(v);
    if (v instanceof Error) {
      parts.push(v.message, v.stack ?? '', String((v as { code?: unknown }).code ?? ''));
      visit((v as { cause?: unknown }).cause);
    }
    for (const key of Object.keys(v)) {
      parts.push(key);
      visit((v as Record<string, unknown>)[key]);
    }
  };
  visit(value);
  return parts.join('\n');
}
