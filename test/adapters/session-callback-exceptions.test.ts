/**
 * Why: an exception thrown by the callback given to req.session.save/regenerate/destroy/reload (a
 * `res.redirect` on an ended response, a typo) is the application's own bug, and must surface as Node's
 * callback APIs and express-session surface it: an uncaught exception carrying the callback's error, once,
 * after the operation itself completed. Never an unhandled rejection of a promise inside sessionkit,
 * whose message and handling (`--unhandled-rejections`) differ and which names nothing of the callback.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adapters, BASE, cookieOf, tick } from '../support/callback-adapters.js';

const escaped: { kind: string; error: unknown }[] = [];
const onUncaught = (error: unknown) => escaped.push({ kind: 'uncaught exception', error });
const onRejection = (error: unknown) => escaped.push({ kind: 'unhandled rejection', error });
beforeEach(() => {
  escaped.length = 0;
  process.prependListener('uncaughtException', onUncaught);
  process.prependListener('unhandledRejection', onRejection);
});
afterEach(() => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onRejection);
});

type Route = (
  s: Record<string, unknown> & Record<'save' | 'regenerate' | 'destroy' | 'reload', (cb: () => void) => void>,
) => unknown;
const thrower = (what: string) => () => {
  throw new Error(`${what} callback bug`);
};
const routes: Record<string, Route> = {
  '/w': (s) => {
    s.n = 1;
    return 1;
  },
  '/n': (s) => s.n ?? null,
  '/save': (s) => {
    s.n = 2;
    s.save(thrower('save'));
    return 'ok';
  },
  '/regenerate': (s) => {
    s.regenerate(thrower('regenerate'));
    return 'ok';
  },
  '/destroy': (s) => {
    s.destroy(thrower('destroy'));
    return 'ok';
  },
  '/reload': (s) => {
    s.reload(thrower('reload'));
    return 'ok';
  },
};

for (const adapter of adapters) {
  describe(adapter.name, () => {
    for (const operation of ['save', 'regenerate', 'destroy', 'reload']) {
      it(`${operation}(cb) whose cb throws: one uncaught exception with the callback's error`, async () => {
        const made = await adapter.create({ ...BASE }, routes as never);
        const cookie = cookieOf((await made.request('/w')).setCookie) as string;
        await made.request(`/${operation}`, { cookie });
        await tick(50);
        expect(escaped.map(({ kind, error }) => `${kind}: ${String(error)}`)).toEqual([
          `uncaught exception: Error: ${operation} callback bug`,
        ]);
        if (operation === 'save') expect((await made.request('/n', { cookie })).body).toBe('2');
        await made.close?.();
      });
    }
  });
}
