import Koa from 'koa';
import koaSession from 'koa-session';
import { type KoaSessionOptions, session } from '../../src/adapters/koa.js';
import { KoaMapStore } from './framework-passport-apps.js';
import { SlowMemoryStore } from './slow-store.js';

/** The two session middlewares compared side by side on Koa. */
export type KoaFlavor = 'koa-session' | 'sessionkit';

const secret = 'koa-flavors-secret-0123456789abcdefghij';

/**
 * A Koa app with the flavor's session middleware mounted on a store that answers 5 ms late: sessionkit
 * with `sessionkit` options beside its defaults here, or koa-session with `koaSession` options.
 */
export function koaApp(
  flavor: KoaFlavor,
  options: { sessionkit?: Partial<KoaSessionOptions>; koaSession?: Record<string, unknown> } = {},
): Koa {
  const app = new Koa();
  app.keys = [secret];
  if (flavor === 'sessionkit')
    app.use(
      session({
        secret,
        store: new SlowMemoryStore(5),
        resave: false,
        saveUninitialized: false,
        ...options.sessionkit,
      }),
    );
  else app.use(koaSession({ store: new KoaMapStore(5), ...options.koaSession } as never, app));
  return app;
}
