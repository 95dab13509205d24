import cors from 'cors';
import express from 'express';
import session, { currentUserId, login, logout } from 'sessionkit';
import { sessionHandle } from 'sessionkit/store';
import { ago, CSS, describeAgent, html, layout, when } from './html.mjs';
import { formatSeconds, minuteChart } from './metrics.mjs';
import { MIN_PASSWORD, USERNAME } from './users.mjs';

const WEEK = 7 * 24 * 3600 * 1000;

/**
 * CSRF defence for the forms: SameSite=Lax keeps the cookie off cross-SITE POSTs, but another port on
 * localhost is the same site, so every POST must also carry an Origin (or, failing that, a Referer) equal
 * to this server's own origin. Browsers always send Origin on form POSTs.
 */
function sameOriginPosts(req, res, next) {
  if (req.method !== 'POST') return next();
  const own = `${req.protocol}://${req.get('host')}`;
  let origin = req.get('origin');
  if (!origin && req.get('referer')) {
    try {
      origin = new URL(req.get('referer')).origin;
    } catch {}
  }
  if (origin === own) return next();
  res
    .status(403)
    .type('html')
    .send(
      layout({
        title: 'Forbidden',
        error: 'This form was not sent from this site, so it was refused (cross-site request forgery check).',
        body: html`<p><a href="/">Back to the start</a></p>`,
      }),
    );
}

function requireUser(req, res, next) {
  if (currentUserId(req.session)) return next();
  res.redirect(303, '/login');
}

const wrap = (handler) => (req, res, next) => Promise.resolve(handler(req, res, next)).catch(next);

/** The main site: register, log in, log out, the counter, the devices page, and the credentialed API. */
export function createApp({ store, users, secret, corsOrigin, storeLabel, metrics, adminUser = 'admin' }) {
  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    });
    next();
  });
  app.get('/style.css', (_req, res) => res.type('css').set('Cache-Control', 'max-age=3600').send(CSS));
  app.get('/healthz', (_req, res) => res.json({ ok: true }));
  // Prometheus scrapes this from the same machine; counts only, never a session ID. No session work.
  app.get('/metrics', (req, res) => {
    if (!metrics || !isLoopback(req.socket.remoteAddress))
      return res.status(404).type('text').send('not found\n');
    metrics.serve(req, res);
  });

  // Only the page on the other origin may read the API with the user's cookie. Preflights end here,
  // before any session work; an Origin that is neither ours nor allowed is refused outright.
  app.use('/api', cors({ origin: [corsOrigin], credentials: true, methods: ['GET'] }), (req, res, next) => {
    const origin = req.get('origin');
    if (!origin || origin === corsOrigin || origin === `${req.protocol}://${req.get('host')}`) return next();
    res.status(403).json({ error: 'origin not allowed' });
  });

  const sessions = session({
    name: 'sid',
    secret,
    store,
    resave: false,
    saveUninitialized: false,
    // Lax: sent on top-level navigation and same-site fetches (another localhost port), not cross-site.
    // `auto`: Secure whenever the request came over HTTPS.
    cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto', maxAge: WEEK },
  });
  sessions.manager.on('error', (error) => console.error(`[session] ${error.code ?? ''} ${error.message}`));
  app.use(sessions);
  app.use(express.urlencoded({ extended: false, limit: '10kb' }));
  app.use(sameOriginPosts);

  const page = (req, res, options, status = 200) =>
    res
      .status(status)
      .type('html')
      .send(layout({ user: req.session.user, admin: isAdmin(req), ...options }));
  const isAdmin = (req) => req.session?.user?.name === adminUser && Boolean(currentUserId(req.session));

  app.get('/', (req, res) => {
    req.session.views = (req.session.views ?? 0) + 1;
    const { user, views } = req.session;
    page(req, res, {
      title: user ? `Hello, ${user.name}` : 'Welcome',
      notice: req.query.bye ? 'You are logged out.' : undefined,
      body: html`
        <p>You have seen this page</p>
        <p class="counter" id="views">${views}</p>
        <p>time${views === 1 ? '' : 's'} in this session.</p>
        ${
          user
            ? html`<p>Check <a href="/devices">where you are logged in</a>.</p>`
            : html`<p><a href="/login">Log in</a> or <a href="/register">create an account</a>.</p>`
        }
        <p class="meta">Sessions live in: <code>${storeLabel}</code></p>`,
    });
  });

  const credentialsForm = (action, label) => html`
    <form method="post" action="${action}">
      <label for="username">User name</label>
      <input id="username" name="username" autocomplete="username" required minlength="3" maxlength="32">
      <label for="password">Password</label>
      <input id="password" name="password" type="password" required minlength="${MIN_PASSWORD}"
        autocomplete="${action === '/register' ? 'new-password' : 'current-password'}">
      <p><button type="submit">${label}</button></p>
    </form>`;

  app.get('/register', (req, res) =>
    page(req, res, { title: 'Register', body: credentialsForm('/register', 'Create account') }),
  );
  app.post(
    '/register',
    wrap(async (req, res) => {
      const username = String(req.body.username ?? '').trim();
      const password = String(req.body.password ?? '');
      const fail = (error, status = 400) =>
        page(
          req,
          res,
          { title: 'Register', error, body: credentialsForm('/register', 'Create account') },
          status,
        );
      if (!USERNAME.test(username))
        return fail('User names are 3–32 letters, digits, dots, dashes or underscores.');
      if (password.length < MIN_PASSWORD || password.length > 200)
        return fail(`Passwords are ${MIN_PASSWORD} to 200 characters.`);
      const user = await users.register(username, password);
      if (!user) return fail('That user name is taken.', 409);
      res.redirect(303, '/login?registered=1');
    }),
  );

  app.get('/login', (req, res) =>
    page(req, res, {
      title: 'Log in',
      notice: req.query.registered ? 'Account created. Log in now.' : undefined,
      body: credentialsForm('/login', 'Log in'),
    }),
  );
  app.post(
    '/login',
    wrap(async (req, res) => {
      const user = await users.verify(String(req.body.username ?? ''), String(req.body.password ?? ''));
      if (!user) {
        return page(
          req,
          res,
          {
            title: 'Log in',
            error: 'Wrong user name or password.',
            body: credentialsForm('/login', 'Log in'),
          },
          401,
        );
      }
      // A new session ID (no fixation), the data (the counter) kept, the user bound for listByUser.
      await login(req.session, user.id);
      req.session.user = { id: user.id, name: user.username };
      req.session.device = { ua: req.get('user-agent') ?? '', ip: req.ip };
      res.redirect(303, '/');
    }),
  );

  app.post(
    '/logout',
    wrap(async (req, res) => {
      await logout(req.session);
      res.redirect(303, '/?bye=1');
    }),
  );

  app.get(
    '/devices',
    requireUser,
    wrap(async (req, res) => {
      const userId = currentUserId(req.session);
      const mine = sessionHandle(req.sessionID);
      const list = (await store.listByUser(userId)).sort((a, b) =>
        a.handle === mine ? -1 : b.handle === mine ? 1 : b.lastSeenAt - a.lastSeenAt,
      );
      const revoked = Number(req.query.revoked);
      const cards = list.map((s) => {
        const current = s.handle === mine;
        const ua = s.data.device?.ua ?? '';
        return html`<li class="card${current ? ' current' : ''}" data-handle="${s.handle}">
          <h2>${describeAgent(ua)} ${current ? html`<span class="badge">this device</span>` : ''}</h2>
          <p class="meta">Signed in ${when(s.createdAt)} · last seen ${ago(s.lastSeenAt)} · from ${s.data.device?.ip ?? 'unknown'}</p>
          <p class="ua">${ua || '(no user agent)'}</p>
          <form method="post" action="/devices/revoke">
            <input type="hidden" name="handle" value="${s.handle}">
            <button class="danger" type="submit">${current ? 'Log out here' : 'Revoke'}</button>
          </form>
        </li>`;
      });
      page(req, res, {
        title: 'Your devices',
        notice:
          Number.isInteger(revoked) && req.query.revoked !== undefined
            ? `Logged out ${revoked} other session${revoked === 1 ? '' : 's'}.`
            : undefined,
        body: html`
          <p>You are logged in on ${list.length} device${list.length === 1 ? '' : 's'}.</p>
          <ul class="cards">${cards}</ul>
          ${
            list.length > 1
              ? html`<form method="post" action="/devices/revoke-others">
                  <button class="danger" type="submit">Log out everywhere else</button></form>`
              : ''
          }`,
      });
    }),
  );

  app.post(
    '/devices/revoke',
    requireUser,
    wrap(async (req, res) => {
      const userId = currentUserId(req.session);
      const handle = String(req.body.handle ?? '');
      // Only a handle from this user's own list: never destroy someone else's session by a guessed handle.
      const owned = (await store.listByUser(userId)).some((s) => s.handle === handle);
      if (!owned) {
        return page(req, res, { title: 'Not found', error: 'No such session among yours.', body: '' }, 404);
      }
      if (handle === sessionHandle(req.sessionID)) {
        await logout(req.session);
        return res.redirect(303, '/?bye=1');
      }
      await store.destroyByHandle(handle);
      res.redirect(303, '/devices');
    }),
  );

  app.post(
    '/devices/revoke-others',
    requireUser,
    wrap(async (req, res) => {
      const count = await store.destroyByUser(currentUserId(req.session), { except: req.sessionID });
      res.redirect(303, `/devices?revoked=${count}`);
    }),
  );

  app.get(
    '/admin',
    requireUser,
    wrap(async (req, res) => {
      if (!isAdmin(req) || !metrics) {
        return page(req, res, { title: 'Not found', body: html`<p><a href="/">Home</a></p>` }, 404);
      }
      page(req, res, { title: 'Sessions dashboard', refresh: 5, body: dashboard(await metrics.figures()) });
    }),
  );

  app.get('/api/me', (req, res) => {
    const { user, views } = req.session;
    res.json({ user: user ?? null, views: views ?? 0 });
  });

  app.use((req, res) => page(req, res, { title: 'Not found', body: html`<p><a href="/">Home</a></p>` }, 404));
  app.use((error, req, res, _next) => {
    const status = error.status ?? 500;
    console.error(`[demo] ${req.method} ${req.path}: ${error.code ?? ''} ${error.message}`);
    res
      .status(status)
      .type('html')
      .send(
        layout({
          title: status === 503 ? 'Sessions are unavailable' : 'Something went wrong',
          error:
            status === 503 ? 'The session store did not answer. Try again shortly.' : 'Please try again.',
          body: '',
        }),
      );
  });
  return app;
}

/** The other origin: one static page whose script calls the API with the user's cookie. */
export function createCorsApp({ apiOrigin }) {
  const app = express();
  app.disable('x-powered-by');
  app.get('/', (_req, res) => {
    res
      .set('Content-Security-Policy', `default-src 'self'; connect-src ${apiOrigin}`)
      .type('html')
      .send(
        html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Other origin · sessionkit demo</title><link rel="stylesheet" href="/style.css"></head>
<body data-api="${apiOrigin}"><header><strong>Another origin</strong></header>
<main><h1>A page on another origin</h1>
<p>This page calls <code>${apiOrigin}/api/me</code> with <code>fetch(…, { credentials: 'include' })</code>.
The API allows this origin only, so the browser sends your session cookie and lets this page read the answer.</p>
<p><button id="call" type="button">Call the API again</button></p>
<pre id="result" data-state="pending">calling…</pre></main>
<script src="/cors.js"></script></body></html>`.value,
      );
  });
  app.get('/style.css', (_req, res) =>
    res
      .type('css')
      .send(
        `${CSS}pre{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:.8rem;white-space:pre-wrap}`,
      ),
  );
  app.get('/cors.js', (_req, res) =>
    res.type('js').send(`
const api = document.body.dataset.api;
const out = document.getElementById('result');
async function call() {
  out.dataset.state = 'pending';
  out.textContent = 'calling…';
  try {
    const response = await fetch(api + '/api/me', { credentials: 'include' });
    const body = await response.json();
    out.textContent = JSON.stringify(body, null, 2);
    out.dataset.state = response.ok ? 'ok' : 'error';
  } catch (error) {
    out.textContent = 'The browser blocked the call: ' + error.message;
    out.dataset.state = 'error';
  }
}
document.getElementById('call').addEventListener('click', call);
call();
`),
  );
  return app;
}

function isLoopback(address = '') {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

/** The admin page's body: the figures, the per-minute chart and the store latency table. */
function dashboard(f) {
  const figure = (id, label, value, alert = false) =>
    html`<li class="figure${alert && value > 0 ? ' alert' : ''}" id="${id}"><strong>${value}</strong>${label}</li>`;
  const lastMinute = f.perMinute.at(-1) ?? { logins: 0, failed: 0 };
  return html`
    <p class="meta">Drawn from sessionkit's OpenTelemetry metrics (also at <a href="/metrics">/metrics</a> for
      Prometheus, from this machine). Refreshes every 5 seconds.</p>
    <ul class="figures">
      ${f.active.map((a) => figure(`active-${a.store}`, html`live sessions in <code>${a.store}</code>`, a.value))}
      ${figure('created', 'sessions created', f.created)}
      ${figure('logins', 'logins', f.logins)}
      ${figure('logins-minute', 'logins in the last minute', lastMinute.logins)}
      ${figure('logouts', 'logouts', f.logouts)}
      ${figure('revoked', 'sessions revoked', f.revoked)}
      ${figure('forged', 'forged cookies (bad signature or ID)', f.forged, true)}
      ${figure('unknown', 'unknown or expired session IDs', f.unknown, true)}
      ${figure('unavailable', 'store calls failed (unreachable)', f.unavailable, true)}
      ${figure('timeouts', 'store calls timed out', f.timeouts, true)}
    </ul>
    <section class="panel">
      <h2>Per minute</h2>
      <p class="legend"><span class="logins">logins</span><span class="failed">failed or forged cookies</span></p>
      ${minuteChart(f.perMinute)}
    </section>
    <section class="panel">
      <h2>Store latency</h2>
      <table id="latency">
        <thead><tr><th>operation</th><th>calls</th><th>errors</th><th>p50</th><th>p95</th><th>p99</th></tr></thead>
        <tbody>${f.latency.map(
          (row) => html`<tr data-operation="${row.operation}"><td>${row.operation}</td><td>${row.calls}</td>
            <td>${row.errors}</td><td>${formatSeconds(row.p50)}</td><td>${formatSeconds(row.p95)}</td>
            <td>${formatSeconds(row.p99)}</td></tr>`,
        )}</tbody>
      </table>
    </section>`;
}
