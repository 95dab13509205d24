// The session is on event.locals.session in every load function, action and endpoint.
import { createStore } from 'sessionkit';
import { sessionHandle } from 'sessionkit/sveltekit';

const url = process.env.SESSION_STORE_URL;

export const handle = sessionHandle({
  secret: process.env.SESSION_SECRET ?? 'example-secret-change-me-to-32-random-bytes',
  store: url ? await createStore(url) : undefined,
  resave: false,
  saveUninitialized: false,
  cookie: { maxAge: 3_600_000 },
});
