/**
 * Why: one process may load sessionkit both ways Node's dual-package setup allows: the server (or a
 * CommonJS dependency, a NestJS build, a monorepo package compiled to CommonJS) mounts
 * `require('sessionkit')(…)` while an ES module of the application calls `import { login, currentUserId }
 * from 'sessionkit'` on `req.session`. The two entry points are two builds, each with its own Session
 * class; the application depends on either build's user functions working on either build's sessions
 * (an authorization check that read `null` would treat every user as logged out), and on an object that
 * is no session (one with a `login` key) still being refused.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// These tests use the built package (dist/), which `npm test` builds before running vitest.
const root = resolve(import.meta.dirname, '../..');

const SCRIPT = `
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(`${root}/package.json`)});
const middleware = require('sessionkit');
const { login, logout, currentUserId, authAge } = await import('sessionkit');
const express = require('express');
const app = express();
app.use(middleware({ secret: 'dual-package-secret-0123456789abcdefghij', resave: false, saveUninitialized: false }));
app.post('/login', async (req, res) => {
  await login(req.session, 'alice');
  res.send(String(middleware.currentUserId(req.session)));
});
app.post('/login-cjs', async (req, res) => { await middleware.login(req.session, 'bob'); res.send('ok'); });
app.get('/me', (req, res) => res.send(currentUserId(req.session) + ' ' + (authAge(req.session) >= 0)));
app.post('/logout', async (req, res) => { await logout(req.session); res.send(String(currentUserId(req.session))); });
const server = app.listen(0, '127.0.0.1', async () => {
  const url = 'http://127.0.0.1:' + server.address().port;
  const out = {};
  out.esmLogin = await (await fetch(url + '/login', { method: 'POST' })).text();
  const cjsLogin = await fetch(url + '/login-cjs', { method: 'POST' });
  const cookie = cjsLogin.headers.getSetCookie()[0].split(';')[0];
  out.me = await (await fetch(url + '/me', { headers: { cookie } })).text();
  out.logout = await (await fetch(url + '/logout', { method: 'POST', headers: { cookie } })).text();
  out.refused = await Promise.all(
    [{ login: true, userId: 'x' }, { [Symbol.for('sessionkit.session')]: true }].map((fake) =>
      login(fake, 'mallory').then(() => 'accepted', (error) => error.code),
    ),
  );
  out.fakeUser = [currentUserId({ userId: 'mallory' }), authAge({ authTime: 0 })];
  console.log(JSON.stringify(out));
  server.closeAllConnections();
  server.close();
});
`;

describe('sessionkit loaded through both require() and import in one process', () => {
  it("each build's user functions work on the other build's sessions, and still refuse what is no session", () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', SCRIPT], {
      cwd: root,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(JSON.parse(out.trim().split('\n').at(-1) as string)).toEqual({
      esmLogin: 'alice',
      me: 'bob true',
      logout: 'null',
      refused: ['ERR_INVALID_ARGUMENT', 'ERR_INVALID_ARGUMENT'],
      fakeUser: [null, null],
    });
  });
});
