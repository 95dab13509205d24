import type { Server } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import express5 from 'express';
import express4 from 'express4';
import { storageKey } from '../../src/core/id.js';

export type App = ReturnType<typeof express5>;

/** Both Express majors sessionkit supports; suites run once per entry. */
export const expressVersions = [
  { name: 'Express 4', create: () => express4() as unknown as App },
  { name: 'Express 5', create: () => express5() },
] as const;

/** An Express app whose `/` counts the session's visits behind `middlewares` and answers the count. */
export function viewCounter(...middlewares: RequestHandler[]): App {
  const app = express5();
  for (const middleware of middlewares) app.use(middleware);
  app.get('/', (req, res) => {
    const s = req.session as unknown as { views?: number };
    s.views = (s.views ?? 0) + 1;
    res.send(String(s.views));
  });
  return app;
}

/** Answers with the error's status and code, as JSON, so tests can match codes. */
export const jsonErrors: ErrorRequestHandler = (err, _req, res, _next) => {
  res.status(err.status ?? 500).json({ code: err.code ?? 'UNKNOWN' });
};

/** Listens on a free loopback port: the URL, and a close that cuts keep-alives. */
export async function listenOnLoopback(app: {
  listen(port: number, host: string): Server;
}): Promise<{ url: string; close(): Promise<void> }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Mounts `jsonErrors` last and listens on a free loopback port (`listenOnLoopback`). */
export async function listenJson(app: {
  use(handler: ErrorRequestHandler): unknown;
  listen(port: number, host: string): Server;
}): Promise<{ url: string; close(): Promise<void> }> {
  app.use(jsonErrors);
  return listenOnLoopback(app);
}

/** The Set-Cookie values of a supertest response, as an array. */
export function setCookies(res: { headers: Record<string, unknown> }): string[] {
  const value = res.headers['set-cookie'];
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as string[]) : [String(value)];
}

/** The `name=value` part of the first Set-Cookie, ready for a Cookie header. */
export function cookieOf(res: { headers: Record<string, unknown> }): string {
  const first = setCookies(res)[0];
  if (!first) throw new Error('response set no cookie');
  return first.split(';')[0] as string;
}

/**
 * The store handles of the sessions some Set-Cookie values name (a clearing cookie names none): a test
 * that every stored record is one the browser was told about compares them with the store's keys.
 */
export function handlesNamedBy(setCookieValues: readonly string[]): string[] {
  return setCookieValues
    .map((header) => decodeURIComponent((header.split(';')[0] as string).split('=').slice(1).join('=')))
    .filter((value) => value.startsWith('s:'))
    .map((value) => storageKey(value.slice(2, value.lastIndexOf('.'))));
}

/** The session ID inside a signed `name=s%3A<id>.<mac>` cookie pair. */
export function idOf(cookiePair: string): string {
  const value = decodeURIComponent(cookiePair.slice(cookiePair.indexOf('=') + 1));
  return value.slice(2, value.lastIndexOf('.'));
}
