// sessionkit under React Router 7 (the same API as Remix's): `npm run example:react-router`, then
// http://localhost:3000. Loaders and actions use `createSessionkitStorage()` exactly as they would use
// React Router's `createSessionStorage()`: getSession / commitSession / destroySession, with the
// session kept server-side in any sessionkit store. The routes are React Router's own data routes,
// served by its static handler and rendered with React on the server (no client bundle, so no build).
import { createServer } from 'node:http';
import { createElement as h } from 'react';
import { renderToString } from 'react-dom/server';
import {
  createCookie,
  createStaticHandler,
  createStaticRouter,
  data,
  redirect,
  StaticRouterProvider,
  useLoaderData,
} from 'react-router';
import { createSessionkitStorage } from 'sessionkit/react-router';
import { exampleOptions, port, userFrom } from '../shared/page.mjs';

const options = await exampleOptions();
const { getSession, commitSession, destroySession } = createSessionkitStorage({
  // A signed cookie holding only the session ID; the data stays in the store.
  cookie: createCookie('__session', {
    secrets: [options.secret],
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    maxAge: 3600,
  }),
  store: options.store,
});

async function home({ request }) {
  const session = await getSession(request.headers.get('Cookie'));
  const views = (session.get('views') ?? 0) + 1;
  session.set('views', views);
  return data(
    { views, user: session.get('user') ?? null },
    { headers: { 'Set-Cookie': await commitSession(session) } },
  );
}

async function login({ request }) {
  const old = await getSession(request.headers.get('Cookie'));
  // A login gets a new session ID (against session fixation), carrying the visitor's data over.
  await destroySession(old);
  const session = await getSession(null);
  for (const [key, value] of Object.entries(old.data)) session.set(key, value);
  session.set('user', userFrom(await request.text()));
  return redirect('/', { status: 303, headers: { 'Set-Cookie': await commitSession(session) } });
}

async function logout({ request }) {
  const session = await getSession(request.headers.get('Cookie'));
  return redirect('/', { status: 303, headers: { 'Set-Cookie': await destroySession(session) } });
}

function Home() {
  const { views, user } = useLoaderData();
  const form = user
    ? [
        h('p', { key: 'who' }, 'Logged in as ', h('b', null, user), '.'),
        h(
          'form',
          { key: 'form', method: 'post', action: '/logout' },
          h('button', { type: 'submit' }, 'Log out'),
        ),
      ]
    : h(
        'form',
        { method: 'post', action: '/login' },
        h('input', { name: 'user', placeholder: 'any name', required: true }),
        ' ',
        h('button', { type: 'submit' }, 'Log in'),
      );
  return h(
    'main',
    null,
    h('h1', null, 'sessionkit on React Router'),
    h('p', null, 'Visits in this session: ', h('b', null, String(views))),
    form,
  );
}

const handler = createStaticHandler([
  { id: 'home', path: '/', loader: home, Component: Home },
  { id: 'login', path: '/login', action: login },
  { id: 'logout', path: '/logout', action: logout },
]);

/** The Node request as a Fetch `Request`, which React Router's handlers take. */
async function toRequest(req) {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  const chunks = [];
  if (req.method !== 'GET' && req.method !== 'HEAD') for await (const chunk of req) chunks.push(chunk);
  return new Request(new URL(req.url, `http://${req.headers.host ?? 'localhost'}`), {
    method: req.method,
    headers,
    body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
  });
}

async function respond(req, res) {
  const context = await handler.query(await toRequest(req));
  if (context instanceof Response) {
    res.writeHead(context.status, [...context.headers]);
    res.end(await context.text());
    return;
  }
  const html = renderToString(
    h(StaticRouterProvider, {
      router: createStaticRouter(handler.dataRoutes, context),
      context,
      hydrate: false,
    }),
  );
  const headers = [['content-type', 'text/html; charset=utf-8']];
  for (const routeHeaders of Object.values(context.loaderHeaders))
    for (const cookie of routeHeaders.getSetCookie()) headers.push(['set-cookie', cookie]);
  res.writeHead(context.statusCode, headers);
  res.end(`<!doctype html><meta charset="utf-8"><title>sessionkit on React Router</title>${html}`);
}

createServer((req, res) => {
  respond(req, res).catch((error) => {
    console.error(error);
    if (!res.headersSent) res.writeHead(500);
    res.end('Internal Server Error');
  });
}).listen(port, process.env.HOST ?? '127.0.0.1', () =>
  console.log(`sessionkit on React Router: http://localhost:${port}`),
);
