// sessionkit on Hono (Node): `npm run example:hono`, then http://localhost:3000
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { login, logout } from 'sessionkit';
import { session } from 'sessionkit/hono';
import { exampleOptions, page, port, userFrom } from '../shared/page.mjs';

const app = new Hono();
// Behind a TLS-terminating proxy, add `proxy: true` so X-Forwarded-Proto is trusted.
app.use(session(await exampleOptions()));

app.get('/', (c) => {
  const s = c.get('session');
  s.views = (s.views ?? 0) + 1;
  return c.html(page('Hono', s));
});
app.post('/login', async (c) => {
  await login(c.get('session'), userFrom(await c.req.text()));
  return c.redirect('/', 303);
});
app.post('/logout', async (c) => {
  await logout(c.get('session'));
  return c.redirect('/', 303);
});

serve({ fetch: app.fetch, port, hostname: process.env.HOST ?? '127.0.0.1' }, () =>
  console.log(`sessionkit on Hono: http://localhost:${port}`),
);
