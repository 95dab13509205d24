import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import session from '../../src/index.js';
import { sessionHandle } from '../../src/internals.js';
import { FlakyStore } from '../support/observability.js';

const run = promisify(execFile);
const SECRET = 'debug-trace-secret-0123456789abcdef01234';

/**
 * A scripted sequence of requests in a child process (NODE_DEBUG is read once, when sessionkit loads):
 * a request the `skip` option exempts, a fresh session nobody writes to, one that is stored, a read, a
 * change, a login. Prints the session IDs it saw on stdout; the trace goes to stderr.
 */
const SCRIPT = `
import express from 'express';
import request from 'supertest';
import session, { login } from ${JSON.stringify(new URL('../../src/index.ts', import.meta.url).pathname)};

const app = express();
app.use(session({ secret: ${JSON.stringify(SECRET)}, resave: false, saveUninitialized: false,
  skip: (req) => req.url === '/health' }));
app.get('/health', (_req, res) => res.send('ok'));
app.get('/anon', (req, res) => res.json({ id: req.sessionID }));
app.get('/set/:v', (req, res) => { req.session.v = req.params.v; res.json({ id: req.sessionID }); });
app.get('/read', (req, res) => res.json({ id: req.sessionID }));
app.get('/login', async (req, res) => { await login(req.session, 'u1'); res.json({ id: req.sessionID }); });
const ids = [];
const agent = request.agent(app);
await agent.get('/health');
for (const path of ['/anon', '/set/1?token=hush', '/read', '/set/2', '/login']) {
  ids.push((await agent.get(path)).body.id);
}
console.log(JSON.stringify(ids));
`;

async function runScript(env: NodeJS.ProcessEnv): Promise<{ ids: string[]; trace: string }> {
  const { stdout, stderr } = await run(
    process.execPath,
    ['--no-warnings', '--import', 'tsx', '--input-type=module', '-e', SCRIPT],
    { env: { ...process.env, ...env }, timeout: 30_000 },
  );
  return { ids: JSON.parse(stdout.trim().split('\n').at(-1) as string) as string[], trace: stderr };
}

describe('NODE_DEBUG=sessionkit', () => {
  it("traces each request's decisions by handle: loaded, fresh or skipped; what was written and why; the cookie", async () => {
    const { ids, trace } = await runScript({ NODE_DEBUG: 'sessionkit' });
    const [anon, first, , , login] = ids.map((id) => sessionHandle(id));
    const lines = trace.split('\n').filter((line) => line.startsWith('SESSIONKIT'));
    const has = (text: string) =>
      expect(
        lines.some((line) => line.includes(text)),
        text,
      ).toBe(true);
    has('/health skipped: skip option');
    has(`/anon fresh ${anon}: no session cookie`);
    has(`${anon} write none: new and uninitialized (saveUninitialized: false)`);
    has(`${anon} cookie not sent: nothing stored`);
    has(`/set/1 fresh ${first}: no session cookie`);
    has(`${first} write create: new session`);
    has(`${first} cookie sent: after create`);
    has(`/read loaded ${first}: found in store`);
    has(`${first} write none: unchanged, touched recently`);
    has(`${first} cookie not sent: browser has it`);
    has(`${first} write update: changed keys v`);
    has(`${login} write create: new session`);
    has(`${login} cookie sent`);
    // Handles only: no session ID, no secret, no query string.
    for (const id of ids) expect(trace).not.toContain(id);
    expect(trace).not.toContain(SECRET);
    expect(trace).not.toContain('hush');
  });

  it('is silent without NODE_DEBUG', async () => {
    const { ids, trace } = await runScript({ NODE_DEBUG: '' });
    expect(ids).toHaveLength(5);
    expect(trace).not.toContain('SESSIONKIT');
  });
});

describe('the logger option', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const logger = () => ({ debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() });

  it("gets the warnings instead of process.emitWarning, each once (pino's and console's warn(message))", async () => {
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const log = logger();
    const app = express();
    // Short secret and no resave/saveUninitialized: three configuration warnings.
    app.use(session({ secret: 'short', logger: log, cookie: { secure: true } }));
    app.get('/', (req, res) => {
      req.session.x = 1;
      res.send('ok');
    });
    await request(app).get('/');
    await request(app).get('/');
    expect(emitWarning).not.toHaveBeenCalled();
    const messages = log.warn.mock.calls.map(([message]) => message as string);
    expect(messages.some((m) => m.includes('shorter than 32 characters'))).toBe(true);
    expect(messages.some((m) => m.includes('undefined resave option'))).toBe(true);
    expect(messages.filter((m) => m.includes('Secure cookie was not sent'))).toHaveLength(1);
    for (const message of messages) expect(message.startsWith('sessionkit: ')).toBe(true);
  });

  it("gets the failures the middleware absorbed when nothing listens on 'error'", async () => {
    const log = logger();
    const store = new FlakyStore();
    const middleware = session({
      secret: SECRET,
      store,
      resave: false,
      saveUninitialized: false,
      onStoreError: 'anonymous',
      storeTimeout: 500,
      logger: log,
    });
    const app = express();
    app.use(middleware);
    app.get('/', (req, res) => {
      req.session.x = 1;
      res.send('ok');
    });
    const first = await request(app).get('/');
    store.mode = 'refuse';
    const during = await request(app)
      .get('/')
      .set('Cookie', first.headers['set-cookie'] as unknown as string[]);
    expect(during.status).toBe(200);
    expect(log.error).toHaveBeenCalledTimes(1);
    expect((log.error.mock.calls[0]?.[0] as { code?: string } | undefined)?.code).toBe(
      'ERR_STORE_UNAVAILABLE',
    );
    // With a listener, the listener has it and the logger does not.
    const heard: unknown[] = [];
    middleware.manager.on('error', (error) => heard.push(error));
    await request(app)
      .get('/')
      .set('Cookie', first.headers['set-cookie'] as unknown as string[]);
    expect(heard).toHaveLength(1);
    expect(log.error).toHaveBeenCalledTimes(1);
  });

  it('is checked at session() time', () => {
    const bad = (value: unknown) => () =>
      session({ secret: SECRET, resave: false, saveUninitialized: false, logger: value as never });
    expect(bad({})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'logger' }));
    expect(bad({ warn: () => undefined, error: 'no' })).toThrow(
      expect.objectContaining({ option: 'logger' }),
    );
    expect(bad('console')).toThrow(expect.objectContaining({ option: 'logger' }));
    expect(() => bad(console)()).not.toThrow();
  });
});
