// One module creates the session factory; Route Handlers, Server Actions and pages import getSession.
import { createStore, MemoryStore } from 'sessionkit';
import { createSession } from 'sessionkit/next';

type Store = Awaited<ReturnType<typeof createStore>> | MemoryStore;

// Next.js loads this module once for Route Handlers and once for pages, so an in-process store must
// live on globalThis to be the same one for both. A shared store (SESSION_STORE_URL) has no such issue.
const shared = globalThis as { sessionkitStore?: Promise<Store> };
const url = process.env.SESSION_STORE_URL;
shared.sessionkitStore ??= url ? createStore(url) : Promise.resolve(new MemoryStore());

export const { getSession } = createSession<{ views: number }>({
  secret: process.env.SESSION_SECRET ?? 'example-secret-change-me-to-32-random-bytes',
  store: await shared.sessionkitStore,
  resave: false,
  saveUninitialized: false,
  cookie: { maxAge: 3_600_000 },
});
