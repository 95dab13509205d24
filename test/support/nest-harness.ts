import 'reflect-metadata';
import { once } from 'node:events';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import expressSession from 'express-session';
import { createClient } from 'redis';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import type { SessionDelta, SessionRecord } from '../../src/core/types.js';
import type { SessionOptions } from '../../src/engine/options.js';
import session from '../../src/index.js';
import type { SessionStore } from '../../src/stores/contract.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { RedisStore } from '../../src/stores/redis.js';
import { runNamespace } from './services.js';

/**
 * Real Nest applications over real HTTP for the NestJS attack tests: sessionkit on Nest's Express
 * platform (`app.use(session())`) and on its Fastify platform (`app.register(session)` from
 * sessionkit/fastify), as docs/frameworks.md's recipes say, and express-session on the Express platform
 * beside them. Decorators are applied as functions: the test build does not compile decorator syntax.
 */

export const secret = 'nest-attack-secret-of-at-least-32-characters!';

/** sessionkit on each Nest platform, and express-session on the Express one for comparison. */
export type Flavor = 'express' | 'fastify' | 'express-session';
export const platforms = ['express', 'fastify'] as const;

/** A class's method decorated, as `@A() @B() method()` would be (applied bottom-up, as TypeScript does). */
export function decorate(target: object, name: string, ...decorators: MethodDecorator[]): void {
  const descriptor = Object.getOwnPropertyDescriptor(target, name);
  if (descriptor === undefined) throw new Error(`no method ${name}`);
  for (const decorator of decorators.reverse()) decorator(target, name, descriptor);
}

/** Parameter decorators by position: `params(proto, 'm', Req(), Res())` is `m(@Req() a, @Res() b)`. */
export function params(target: object, name: string, ...decorators: ParameterDecorator[]): void {
  decorators.forEach((decorator, index) => {
    decorator(target, name, index);
  });
}

export interface Running {
  app: INestApplication;
  port: number;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Extra sessionkit options (express-session gets the common ones only). */
  session?: Partial<SessionOptions>;
  /** Runs after the session is mounted, before `listen` (Fastify plugins, Nest middleware). */
  setup?: (app: INestApplication) => Promise<void> | void;
  /** Mounts no session at all: `setup` does (e.g. through Nest's MiddlewareConsumer). */
  noSession?: boolean;
}

/** A Nest application of `module` on `flavor`'s platform, its session over `store`, listening on loopback. */
export async function startNest(
  module: Type<unknown>,
  flavor: Flavor,
  store: SessionStore,
  options: StartOptions = {},
): Promise<Running> {
  const common = { secret, resave: false, saveUninitialized: false };
  let app: INestApplication;
  if (flavor === 'fastify') {
    const fastifyApp = await NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter(), {
      logger: false,
    });
    if (!options.noSession) {
      await fastifyApp.register(
        fastifySession as unknown as Parameters<NestFastifyApplication['register']>[0],
        { ...common, store, ...options.session },
      );
    }
    app = fastifyApp;
  } else {
    app = await NestFactory.create(module, { logger: false });
    if (!options.noSession) {
      app.use(
        flavor === 'express'
          ? session({ ...common, store, ...options.session })
          : expressSession({ ...common, store: store as unknown as expressSession.Store }),
      );
    }
  }
  await options.setup?.(app);
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  return {
    app,
    port,
    close: async () => {
      // Streams a test left open must not keep the server from closing.
      (app.getHttpServer() as { closeAllConnections?: () => void }).closeAllConnections?.();
      await app.close();
    },
  };
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The response did not end cleanly (the server reset the connection or cut the body short). */
  aborted: boolean;
}

export interface CallOptions {
  cookie?: string | undefined;
  method?: string;
  headers?: Record<string, string>;
}

/** One request on a connection of its own; a reset connection is an answer too. */
export function call(port: number, path: string, options: CallOptions = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.cookie) headers.cookie = options.cookie;
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', agent: false, headers },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        const done = (aborted: boolean) =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            aborted,
          });
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => done(!res.complete));
        res.on('error', () => done(true));
      },
    );
    req.on('error', () => resolve({ status: 0, headers: {}, body: '', aborted: true }));
    req.end();
  });
}

/** A response read as it arrives (SSE, long downloads): wait for text, then close or read to the end. */
export interface OpenStream {
  status: number;
  headers: IncomingHttpHeaders;
  /** Resolves once the body so far contains `text`. */
  until(text: string): Promise<string>;
  /** Resolves with the whole body once the server ends the response. */
  ended(): Promise<string>;
  /** The client goes away. */
  destroy(): void;
}

export async function openStream(port: number, path: string, cookie?: string): Promise<OpenStream> {
  const req = httpRequest({
    host: '127.0.0.1',
    port,
    path,
    agent: false,
    headers: cookie ? { cookie } : {},
  });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  let body = '';
  const waiters = new Set<() => void>();
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    body += chunk;
    for (const wake of waiters) wake();
  });
  const end = new Promise<string>((resolve, reject) => {
    res.on('end', () => resolve(body));
    res.on('error', reject);
  });
  end.catch(() => undefined);
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    until: (text) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (body.includes(text)) {
            waiters.delete(check);
            resolve(body);
          }
        };
        waiters.add(check);
        res.once('close', () => {
          if (!body.includes(text))
            reject(new Error(`stream closed before ${JSON.stringify(text)}: ${body}`));
        });
        check();
      }),
    ended: () => end,
    destroy: () => req.destroy(),
  };
}

/** The `name=value` pair of the session cookie a response set, if it set one. */
export function cookieOf(answer: { headers: IncomingHttpHeaders }, name = 'connect.sid'): string | undefined {
  const line = answer.headers['set-cookie']?.find((cookie) => cookie.startsWith(`${name}=`));
  return line?.split(';')[0];
}

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Real Redis: a client connected now (an unreachable server fails the test that asked, it does
 * not skip), and RedisStores under prefixes of this run only, cleared on `close()`.
 */
export async function redisBackend(): Promise<{
  /** A store under a prefix of this run (or `prefix`), cleared on `close()`. */
  make(prefix?: string): RedisStore;
  close(): Promise<void>;
}> {
  const client = createClient({
    url: REDIS_URL,
    disableOfflineQueue: true,
    socket: { connectTimeout: 2_000, reconnectStrategy: false },
  });
  client.on('error', () => undefined);
  await client.connect();
  const stores: RedisStore[] = [];
  return {
    make: (prefix = `${runNamespace('sk_nest')}:`) => {
      const store = new RedisStore({ client, prefix });
      stores.push(store);
      return store;
    },
    close: async () => {
      for (const store of stores.splice(0)) await store.clear();
      await client.quit();
    },
  };
}

/**
 * A MemoryStore whose writes take `writeMs` and whose reads answer at once: a response that left before
 * its session's write finished would send the browser's next request to a store without it, which a
 * store that is as slow to read as to write would hide.
 */
export class LaggingStore extends MemoryStore {
  constructor(readonly writeMs = 20) {
    super();
  }

  override async create(id: string, record: SessionRecord): Promise<boolean> {
    await sleep(this.writeMs);
    return super.create(id, record);
  }

  override async update(id: string, delta: SessionDelta): Promise<boolean> {
    await sleep(this.writeMs);
    return super.update(id, delta);
  }

  override async set(id: string, record: SessionRecord): Promise<void> {
    await sleep(this.writeMs);
    return super.set(id, record);
  }

  override async destroy(id: string): Promise<void> {
    await sleep(this.writeMs);
    return super.destroy(id);
  }

  override async touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    await sleep(this.writeMs);
    return super.touch(id, expiresAt, lastSeenAt);
  }
}
