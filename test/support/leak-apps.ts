import { once } from 'node:events';
import { createReadStream, type ReadStream, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import type { Session } from '../../src/core/session.js';
import type { SessionDelta, SessionRecord } from '../../src/core/types.js';
import type { SessionManager } from '../../src/engine/manager.js';
import type { SessionOptions } from '../../src/engine/options.js';
import { login, logout } from '../../src/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { RedisStore, type RedisStoreOptions } from '../../src/stores/redis.js';
import { Quiescence } from './leak-harness.js';

/**
 * The same small application on each adapter, on a real `node:http` server, for the resource-leak tests:
 *
 * - `/w/:t` stores `t` in the session and answers `ok` (a store write holds the response);
 * - `/r/:t` reads the session;
 * - `/s/:t` stores `t` and answers with a 1 MiB file stream (a file descriptor that must be closed
 *   whatever happens to the connection);
 * - `/out/:t` logs the session out;
 * - `/in/:t` logs in as user `t`;
 * - `/saved/:t` stores `t` with an explicit `save()`, whose failure it ignores.
 *
 * The token `t` names the client in the store's calls (see CallGate), so a test can cut a client's
 * connection exactly while the store works for it.
 */

export type AdapterName = 'Express' | 'Fastify' | 'Koa' | 'Hono';
export const ADAPTERS: readonly AdapterName[] = ['Express', 'Fastify', 'Koa', 'Hono'];

export interface LeakApp {
  name: AdapterName;
  server: Server;
  port: number;
  manager: SessionManager;
  close(): Promise<void>;
}

/** A 1 MiB file the stream route sends (one per process, written on first use). */
let bodyFile: string | null = null;
export function streamedFile(): string {
  if (bodyFile === null) {
    bodyFile = join(tmpdir(), `sk-leak-body-${process.pid}.bin`);
    writeFileSync(bodyFile, Buffer.alloc(1 << 20, 0x61));
  }
  return bodyFile;
}

/** Deletes the streamed file (made again if asked for later). */
export function removeStreamedFile(): void {
  if (bodyFile !== null) rmSync(bodyFile, { force: true });
  bodyFile = null;
}

/**
 * The file streams the stream route opened and that have not closed yet, per owner (the adapter). A test
 * waits for them to close (`quiet`), then counts: one left open is a file descriptor leaked.
 */
export const fileStreams = {
  open: {} as Record<string, number>,
  quiet: new Quiescence(),
  of(owner: string): number {
    return this.open[owner] ?? 0;
  },
};

export function fileStream(owner: string): ReadStream {
  const stream = createReadStream(streamedFile());
  fileStreams.open[owner] = fileStreams.of(owner) + 1;
  stream.once('close', () => {
    fileStreams.open[owner] = fileStreams.of(owner) - 1;
    fileStreams.quiet.poke();
  });
  return stream;
}

type Data = Record<string, unknown>;

function write(session: Session, t: string): void {
  (session as unknown as Data).t = t;
}

/** Writes `t` and saves at once; a failed save is the application's to ignore (the response stores it). */
async function saved(session: Session, t: string): Promise<void> {
  write(session, t);
  await session.save().catch(() => undefined);
}

async function listening(server: Server): Promise<number> {
  if (!server.listening) {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  }
  return (server.address() as AddressInfo).port;
}

function closer(server: Server): () => Promise<void> {
  return async () => {
    server.closeAllConnections();
    if (!server.listening) return;
    server.close();
    await once(server, 'close');
  };
}

export async function startApp(name: AdapterName, options: SessionOptions<never>): Promise<LeakApp> {
  switch (name) {
    case 'Express':
      return express(options);
    case 'Fastify':
      return fastify(options);
    case 'Koa':
      return koa(options);
    case 'Hono':
      return hono(options);
  }
}

async function express(options: SessionOptions<never>): Promise<LeakApp> {
  const { default: createApp } = await import('express');
  const { session } = await import('../../src/adapters/express.js');
  const middleware = session(options as SessionOptions<IncomingMessage>);
  const app = createApp();
  app.use(middleware);
  app.get('/w/:t', (req, res) => {
    write(req.session as unknown as Session, req.params.t);
    res.send('ok');
  });
  app.get('/r/:t', (req, res) => {
    res.send(String((req.session as unknown as Data).t ?? ''));
  });
  app.get('/s/:t', (req, res) => {
    write(req.session as unknown as Session, req.params.t);
    res.setHeader('Content-Type', 'application/octet-stream');
    pipeline(fileStream('Express'), res, () => undefined);
  });
  app.get('/out/:t', async (req, res, next) => {
    try {
      await logout(req.session as unknown as Session);
      res.send('out');
    } catch (error) {
      next(error);
    }
  });
  app.get('/saved/:t', async (req, res) => {
    await saved(req.session as unknown as Session, req.params.t);
    res.send('saved');
  });
  app.get('/in/:t', async (req, res, next) => {
    try {
      await login(req.session as unknown as Session, req.params.t);
      res.send('in');
    } catch (error) {
      next(error);
    }
  });
  app.use(
    (
      error: { status?: number; code?: string },
      _req: IncomingMessage,
      res: ServerResponse,
      _next: () => void,
    ) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.statusCode = error.status ?? 500;
      res.end(error.code ?? 'error');
    },
  );
  const server = createServer(app);
  const port = await listening(server);
  return { name: 'Express', server, port, manager: middleware.manager, close: closer(server) };
}

async function fastify(options: SessionOptions<never>): Promise<LeakApp> {
  const { default: createApp } = await import('fastify');
  const { session } = await import('../../src/adapters/fastify.js');
  const app = createApp({ logger: false });
  await app.register(session, options as never);
  app.get<{ Params: { t: string } }>('/w/:t', async (request) => {
    write(request.session as unknown as Session, request.params.t);
    return 'ok';
  });
  app.get<{ Params: { t: string } }>('/r/:t', async (request) =>
    String((request.session as unknown as Data).t ?? ''),
  );
  app.get<{ Params: { t: string } }>('/s/:t', (request, reply) => {
    write(request.session as unknown as Session, request.params.t);
    reply.type('application/octet-stream').send(fileStream('Fastify'));
  });
  app.get<{ Params: { t: string } }>('/out/:t', async (request) => {
    await logout(request.session as unknown as Session);
    return 'out';
  });
  app.get<{ Params: { t: string } }>('/saved/:t', async (request) => {
    await saved(request.session as unknown as Session, request.params.t);
    return 'saved';
  });
  app.get<{ Params: { t: string } }>('/in/:t', async (request) => {
    await login(request.session as unknown as Session, request.params.t);
    return 'in';
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const server = app.server;
  return {
    name: 'Fastify',
    server,
    port: (server.address() as AddressInfo).port,
    manager: app.sessionManager,
    close: async () => {
      server.closeAllConnections();
      await app.close();
    },
  };
}

async function koa(options: SessionOptions<never>): Promise<LeakApp> {
  const { default: Koa } = await import('koa');
  const { session } = await import('../../src/adapters/koa.js');
  const middleware = session(options as never);
  const app = new Koa();
  app.silent = true;
  app.use(middleware);
  app.use(async (ctx) => {
    const [, route, t = ''] = ctx.path.split('/');
    const current = ctx.session as unknown as Session;
    if (route === 'w') {
      write(current, t);
      ctx.body = 'ok';
    } else if (route === 'r') ctx.body = String((current as unknown as Data).t ?? '');
    else if (route === 's') {
      write(current, t);
      ctx.type = 'application/octet-stream';
      ctx.body = fileStream('Koa');
    } else if (route === 'out') {
      await logout(current);
      ctx.body = 'out';
    } else if (route === 'saved') {
      await saved(current, t);
      ctx.body = 'saved';
    } else if (route === 'in') {
      await login(current, t);
      ctx.body = 'in';
    }
  });
  const server = createServer(app.callback());
  const port = await listening(server);
  return { name: 'Koa', server, port, manager: middleware.manager, close: closer(server) };
}

async function hono(options: SessionOptions<never>): Promise<LeakApp> {
  const { Hono } = await import('hono');
  const { serve } = await import('@hono/node-server');
  const { session } = await import('../../src/adapters/hono.js');
  const middleware = session(options as never);
  const app = new Hono<import('../../src/adapters/hono.js').SessionEnv>();
  app.use(middleware);
  app.get('/w/:t', (c) => {
    write(c.get('session') as unknown as Session, c.req.param('t'));
    return c.text('ok');
  });
  app.get('/r/:t', (c) => c.text(String((c.get('session') as unknown as Data).t ?? '')));
  app.get('/s/:t', (c) => {
    write(c.get('session') as unknown as Session, c.req.param('t'));
    const body = Readable.toWeb(fileStream('Hono')) as ReadableStream<Uint8Array>;
    return c.body(body, 200, { 'Content-Type': 'application/octet-stream' });
  });
  app.get('/out/:t', async (c) => {
    await logout(c.get('session') as unknown as Session);
    return c.text('out');
  });
  app.get('/saved/:t', async (c) => {
    await saved(c.get('session') as unknown as Session, c.req.param('t'));
    return c.text('saved');
  });
  app.get('/in/:t', async (c) => {
    await login(c.get('session') as unknown as Session, c.req.param('t'));
    return c.text('in');
  });
  app.onError((error, c) => {
    const status = (error as { status?: number }).status ?? 500;
    return c.text('error', status as 500);
  });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  const port = await listening(server);
  return { name: 'Hono', server, port, manager: middleware.manager, close: closer(server) };
}

// ---- stores whose every call a test can watch, delay and time -------------------------------------------

export type StoreOp = 'get' | 'create' | 'update' | 'set' | 'destroy' | 'touch';

export interface StoreCall {
  op: StoreOp;
  id: string;
  /** The `t` the call writes (a create's or set's data, an update's delta), if any. */
  token: string | undefined;
}

/**
 * Sits in front of every call of a store: counts the calls in flight, lets a test delay or hold each one
 * (`before`), and notices a call that settles after `quiet` was declared (a late write).
 */
export class CallGate {
  inFlight = 0;
  calls = 0;
  /** Calls that began or settled while `sealed` (after the test declared everything over). */
  readonly afterSeal: StoreCall[] = [];
  sealed = false;
  before: (call: StoreCall) => Promise<void> | undefined = () => undefined;

  constructor(readonly quiet: Quiescence) {}

  async around<T>(call: StoreCall, run: () => Promise<T>): Promise<T> {
    this.inFlight++;
    this.calls++;
    if (this.sealed) this.afterSeal.push(call);
    this.quiet.poke();
    try {
      const waiting = this.before(call);
      if (waiting !== undefined) await waiting;
      return await run();
    } finally {
      this.inFlight--;
      if (this.sealed) this.afterSeal.push(call);
      this.quiet.poke();
    }
  }
}

function tokenOf(data: Record<string, unknown> | undefined): string | undefined {
  const t = data?.t;
  return typeof t === 'string' ? t : undefined;
}

/** A MemoryStore whose calls go through a CallGate (a subclass: the engine bounds and awaits it as a remote store). */
export class GatedMemoryStore extends MemoryStore {
  constructor(readonly gate: CallGate) {
    super({ sweepInterval: 0 });
  }
  override get(id: string): Promise<SessionRecord | null> {
    return this.gate.around({ op: 'get', id, token: undefined }, () => super.get(id));
  }
  override create(id: string, record: SessionRecord): Promise<boolean> {
    return this.gate.around({ op: 'create', id, token: tokenOf(record.data) }, () =>
      super.create(id, record),
    );
  }
  override update(id: string, delta: SessionDelta): Promise<boolean> {
    return this.gate.around({ op: 'update', id, token: tokenOf(delta.set) }, () => super.update(id, delta));
  }
  override set(id: string, record: SessionRecord): Promise<void> {
    return this.gate.around({ op: 'set', id, token: tokenOf(record.data) }, () => super.set(id, record));
  }
  override destroy(id: string): Promise<void> {
    return this.gate.around({ op: 'destroy', id, token: undefined }, () => super.destroy(id));
  }
  override touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    return this.gate.around({ op: 'touch', id, token: undefined }, () =>
      super.touch(id, expiresAt, lastSeenAt),
    );
  }
}

/** A RedisStore whose calls go through a CallGate. */
export class GatedRedisStore extends RedisStore {
  constructor(
    readonly gate: CallGate,
    options: RedisStoreOptions,
  ) {
    super(options);
  }
  override get(id: string): Promise<SessionRecord | null> {
    return this.gate.around({ op: 'get', id, token: undefined }, () => super.get(id));
  }
  override create(id: string, record: SessionRecord): Promise<boolean> {
    return this.gate.around({ op: 'create', id, token: tokenOf(record.data) }, () =>
      super.create(id, record),
    );
  }
  override update(id: string, delta: SessionDelta): Promise<boolean> {
    return this.gate.around({ op: 'update', id, token: tokenOf(delta.set) }, () => super.update(id, delta));
  }
  override set(id: string, record: SessionRecord): Promise<void> {
    return this.gate.around({ op: 'set', id, token: tokenOf(record.data) }, () => super.set(id, record));
  }
  override destroy(id: string): Promise<void> {
    return this.gate.around({ op: 'destroy', id, token: undefined }, () => super.destroy(id));
  }
  override touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    return this.gate.around({ op: 'touch', id, token: undefined }, () =>
      super.touch(id, expiresAt, lastSeenAt),
    );
  }
}
