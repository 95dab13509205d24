// The sessionkit demo: `npm start`. See docs/demo-and-cli.md.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createStore } from 'sessionkit';
import { SQLiteStore } from 'sessionkit/stores/sqlite';
import { createApp, createCorsApp } from './app.mjs';
import { setUpMetrics } from './metrics.mjs';
import { openUsers } from './users.mjs';

const env = process.env;
const port = Number(env.PORT ?? 3000);
const corsPort = Number(env.CORS_PORT ?? 3001);
const host = env.HOST ?? '127.0.0.1';
const dataDir = resolve(env.DATA_DIR ?? 'data');
const publicUrl = env.PUBLIC_URL ?? `http://localhost:${port}`;
const corsOrigin = env.CORS_ORIGIN ?? `http://localhost:${corsPort}`;
mkdirSync(dataDir, { recursive: true });

function redact(url) {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.href;
}

/** SQLite by default (users in the same file); any other store from SESSION_STORE_URL (users in users.db). */
async function openSessionStore() {
  const url = env.SESSION_STORE_URL;
  if (!url) {
    const file = join(dataDir, 'sessions.db');
    return { store: new SQLiteStore(file), label: `SQLite ${file}`, usersPath: file };
  }
  const store = await createStore(url);
  const parsed = new URL(url);
  const sqliteFile = parsed.protocol === 'sqlite:' ? decodeURIComponent(parsed.pathname) : null;
  const usersPath = sqliteFile && sqliteFile !== ':memory:' ? resolve(sqliteFile) : join(dataDir, 'users.db');
  return { store, label: redact(url), usersPath };
}

/** A stable secret, so restarting the demo does not log everybody out; SESSION_SECRET wins. */
function signingSecret() {
  if (env.SESSION_SECRET) return env.SESSION_SECRET;
  const file = join(dataDir, 'secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    const secret = randomBytes(32).toString('base64url');
    writeFileSync(file, `${secret}\n`, { mode: 0o600 });
    return secret;
  }
}

const { store, label, usersPath } = await openSessionStore();
const users = openUsers(usersPath);
const metrics = await setUpMetrics({ stores: [store] });
const adminUser = env.ADMIN_USER ?? 'admin';
const app = createApp({
  store,
  users,
  secret: signingSecret(),
  corsOrigin,
  storeLabel: label,
  metrics,
  adminUser,
});
const corsApp = createCorsApp({ apiOrigin: publicUrl });

function listen(handler, listenPort) {
  return new Promise((done, fail) => {
    const server = handler.listen(listenPort, host, () => done(server));
    server.once('error', fail);
  });
}

const servers = await Promise.all([listen(app, port), listen(corsApp, corsPort)]);
console.log(`sessionkit demo listening on ${publicUrl}`);
console.log(`  cross-origin page: ${corsOrigin}`);
console.log(`  session store:     ${label}`);
console.log(`  users:             ${usersPath}`);
console.log(
  `  dashboard:         ${publicUrl}/admin (as user "${adminUser}"); metrics: ${publicUrl}/metrics`,
);

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: closing servers and the session store…`);
  // Stop accepting, let requests in flight finish (their sessions are being saved), then close the store.
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  await Promise.all(
    servers.map(
      (server) =>
        new Promise((done) => {
          server.close(done);
          server.closeIdleConnections();
          // Keep-alive sockets that go idle later (a browser left open) would hold close() forever:
          // requests in flight get a moment to finish and save their sessions, then every socket goes.
          setTimeout(() => server.closeAllConnections(), 1_500).unref();
        }),
    ),
  );
  await metrics.close();
  await store.close?.();
  users.close();
  process.exit(0);
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
