import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// These tests use the built package (dist/), which `npm test` builds before running vitest.
const root = resolve(import.meta.dirname, '../..');
/** Each adapter's export path and the function it exports. SvelteKit is ESM-only, and so is its adapter. */
const ADAPTERS = [
  ['fastify', 'session'],
  ['koa', 'session'],
  ['hono', 'session'],
  ['next', 'createSession'],
  ['sveltekit', 'sessionHandle'],
  ['react-router', 'createSessionkitStorage'],
] as const;

function run(args: string[], cwd = root): string {
  return execFileSync(process.execPath, args, { cwd, encoding: 'utf8' });
}

/** A project outside the repository that depends on sessionkit and on every package the repository has. */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sessionkit-adapters-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules/sessionkit'));
  for (const entry of readdirSync(join(root, 'node_modules')))
    if (!entry.startsWith('.'))
      symlinkSync(join(root, 'node_modules', entry), join(dir, 'node_modules', entry));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('the adapters in the published package', () => {
  it('the root package loads no web framework', () => {
    const out = run([
      '-e',
      "require('sessionkit'); console.log(Object.keys(require.cache).filter((p) => /node_modules\\/(fastify|fastify-plugin|koa|hono|next|@sveltejs|react-router)\\//.test(p)).length)",
    ]);
    expect(out.trim()).toBe('0');
  });

  it('each adapter has its own export path, for import and for require', () => {
    for (const [name, entry] of ADAPTERS) {
      const esm = run([
        '--input-type=module',
        '-e',
        `import { ${entry} } from 'sessionkit/${name}'; console.log(typeof ${entry})`,
      ]);
      const cjs =
        name === 'sveltekit'
          ? 'function'
          : run(['-e', `console.log(typeof require('sessionkit/${name}').${entry})`]);
      expect([name, esm.trim(), cjs.trim()]).toEqual([name, 'function', 'function']);
    }
    // A dozen Node processes, each loading a framework: tens of seconds on a busy machine.
  }, 60_000);

  it('types: every adapter carries the augmented SessionData, or its own data type', () => {
    const dir = project({
      'app.ts': `import Fastify from 'fastify';
import Koa from 'koa';
import { Hono } from 'hono';
import { session as fastifySession, getSession } from 'sessionkit/fastify';
import { session as koaSession } from 'sessionkit/koa';
import { session as honoSession, type SessionEnv } from 'sessionkit/hono';
import { login } from 'sessionkit';
import { createSession } from 'sessionkit/next';
import { sessionHandle } from 'sessionkit/sveltekit';
import { createSessionkitStorage } from 'sessionkit/react-router';
import type { Handle, RequestEvent } from '@sveltejs/kit';
declare module 'sessionkit' { interface SessionData { views: number } }
const options = { secret: 'x', resave: false, saveUninitialized: false };

const fastify = Fastify();
fastify.register(fastifySession, options);
fastify.get('/', async (request) => {
  const views: number | undefined = request.session.views;
  // @ts-expect-error views is a number, not a string
  const wrong: string | undefined = request.session.views;
  const local: string | undefined = getSession<{ name: string }>(request).name;
  await login(request.session, 'u1');
  return { views, wrong, local };
});

const koa = new Koa();
koa.use(koaSession(options));
koa.use(async (ctx) => {
  const views: number | undefined = ctx.session.views;
  // @ts-expect-error views is a number, not a string
  const wrong: string | undefined = ctx.session.views;
  ctx.body = { views, wrong };
});

const nextSessions = createSession<{ theme: 'dark' | 'light' }>(options);
export async function POST() {
  const session = await nextSessions.getSession();
  session.theme = 'dark';
  // @ts-expect-error theme is 'dark' or 'light'
  session.theme = 'blue';
  await session.save();
  return new Response();
}

export const handle: Handle = sessionHandle(options);
export const load = (event: RequestEvent) => {
  const views: number | undefined = event.locals.session.views;
  // @ts-expect-error views is a number, not a string
  const wrong: string | undefined = event.locals.session.views;
  return { views, wrong };
};

const storage = createSessionkitStorage<{ user: string }>({ cookie: { secrets: ['s'] } });
export async function action(request: Request) {
  const session = await storage.getSession(request.headers.get('cookie'));
  const user: string | undefined = session.get('user');
  // @ts-expect-error user is a string
  session.set('user', 1);
  return new Response(user, { headers: { 'set-cookie': await storage.commitSession(session) } });
}

const hono = new Hono<SessionEnv<{ cart: string[] }>>();
hono.use(honoSession<{ cart: string[] }>(options));
hono.get('/', (c) => {
  const cart: string[] | undefined = c.var.session.cart;
  // @ts-expect-error cart is a list of strings
  const wrong: number | undefined = c.get('session').cart;
  return c.json({ cart, wrong });
});
`,
      // An ES module project, as SvelteKit's are (its adapter is ESM-only).
      'package.json': JSON.stringify({ type: 'module' }),
      'tsconfig.json': JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
        },
        files: ['app.ts'],
      }),
    });
    try {
      let errors = '';
      try {
        run([join(root, 'node_modules/typescript/bin/tsc'), '-p', dir]);
      } catch (error) {
        errors = String((error as { stdout?: string }).stdout);
      }
      expect(errors).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
