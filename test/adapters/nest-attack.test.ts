import 'reflect-metadata';
import { Readable } from 'node:stream';
import fastifyCookie from '@fastify/cookie';
import {
  type ArgumentsHost,
  type CallHandler,
  type CanActivate,
  Catch,
  ConflictException,
  Controller,
  type ExceptionFilter,
  type ExecutionContext,
  ForbiddenException,
  Get,
  Header,
  HttpCode,
  HttpException,
  type MiddlewareConsumer,
  Module,
  type NestInterceptor,
  Param,
  Redirect,
  Req,
  Res,
  Sse,
  StreamableFile,
  UnauthorizedException,
  UseFilters,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createClient } from 'redis';
import { map, mergeMap, type Observable, Subject, startWith, tap } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TypedSession } from '../../src/core/session.js';
import type { SessionDelta, SessionRecord } from '../../src/core/types.js';
import session, { currentUserId, login, logout, Session, SessionError } from '../../src/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import {
  call,
  cookieOf,
  decorate,
  type Flavor,
  LaggingStore,
  openStream,
  params,
  platforms,
  REDIS_URL,
  type Running,
  redisBackend,
  secret,
  startNest,
} from '../support/nest-harness.js';
import { runNamespace } from '../support/services.js';
import { SlowMemoryStore } from '../support/slow-store.js';
import { WireProxy } from '../support/wire-proxy.js';

/**
 * An attack pass on sessionkit inside real Nest applications, on both of Nest's platforms, with stores
 * that answer later (a slowed MemoryStore, real Redis): exception filters, guards, interceptors, manual
 * responses, streams, SSE, session methods and failing stores, with express-session beside it on the
 * Express platform where the two differ. Each behaviour is checked as a browser sees it: the status, the
 * cookie, and what the next request with that cookie finds stored.
 */

type Data = Record<string, unknown>;
type NestRequest = {
  session: TypedSession & Data;
  headers: Record<string, string | undefined>;
};
/** Express's response and Fastify's reply, as the handlers here use them. */
interface AnyResponse {
  status(code: number): AnyResponse;
  header(name: string, value: string): AnyResponse;
  json?: (body: unknown) => unknown;
  send(body?: unknown): unknown;
}
interface FastifyReplyLike {
  setCookie(name: string, value: string): unknown;
  hijack(): void;
  raw: { end(body: string): void };
}

/** `res.status(s).json(b)` on Express, `reply.status(s).send(b)` on Fastify. */
function send(res: AnyResponse, status: number, body: unknown): void {
  const answered = res.status(status);
  if (typeof answered.json === 'function') answered.json(body);
  else answered.send(body);
}

/** The streams the tests drive; a test replaces the one it uses before the request that takes it. */
const controls = {
  events: new Subject<string>(),
  file: new Readable({ read() {} }),
};

/** Answers a ConflictException itself, after recording it in the session. */
class ConflictRecorder implements ExceptionFilter {
  catch(exception: HttpException, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    // A filter runs before the response's first byte: what it changes is stored too.
    http.getRequest<NestRequest>().session.lastError = exception.getStatus();
    send(http.getResponse<AnyResponse>(), 409, { handledBy: 'filter' });
  }
}
Catch(ConflictException)(ConflictRecorder);

/** Answers sessionkit's errors with their status and code: the filter an application adds to see codes. */
class SessionErrorFilter implements ExceptionFilter {
  catch(exception: SessionError, host: ArgumentsHost): void {
    send(host.switchToHttp().getResponse<AnyResponse>(), exception.status, { code: exception.code });
  }
}
Catch(SessionError)(SessionErrorFilter);

/** Counts every attempt in the session, then refuses anyone not logged in. */
class MembersOnly implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<NestRequest>();
    req.session.attempts = ((req.session.attempts as number | undefined) ?? 0) + 1;
    if (currentUserId(req.session) === null) throw new UnauthorizedException();
    return true;
  }
}

/** Reads the session only. */
class AdminOnly implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<NestRequest>();
    if (currentUserId(req.session) !== 'admin') throw new ForbiddenException();
    return true;
  }
}

/** Changes the session after the handler: in tap(), in map(), and after an asynchronous step. */
class AfterHandler implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<NestRequest>();
    return next.handle().pipe(
      tap(() => {
        req.session.tapped = true;
      }),
      map((value) => {
        req.session.mapped = true;
        return value;
      }),
      mergeMap(async (value) => {
        await new Promise((resolve) => setImmediate(resolve));
        req.session.later = true;
        return value;
      }),
    );
  }
}

class AttackController {
  read(req: NestRequest) {
    const { cookie: _cookie, ...data } = req.session as unknown as Data;
    // express-session's sessions have no currentUserId().
    const user = req.session instanceof Session ? currentUserId(req.session) : undefined;
    return { ...data, user };
  }

  alive() {
    return 'alive';
  }

  write(req: NestRequest) {
    req.session.written = true;
    return { written: true };
  }

  mark(req: NestRequest) {
    req.session.parallel = true;
    return { marked: true };
  }

  thrown(req: NestRequest) {
    req.session.step = 'thrown';
    throw new HttpException({ code: 'TEAPOT' }, 418);
  }

  filtered(req: NestRequest) {
    req.session.step = 'filtered';
    throw new ConflictException('busy');
  }

  members(req: NestRequest) {
    return { user: currentUserId(req.session) };
  }

  admin() {
    return { admin: true };
  }

  async login(req: NestRequest, user: string) {
    await login(req.session, user);
  }

  async badLogin(req: NestRequest) {
    await login(req.session, undefined as unknown as string);
  }

  async logout(req: NestRequest) {
    await logout(req.session);
    return { out: true };
  }

  intercepted(req: NestRequest) {
    req.session.handled = true;
    return { ok: true };
  }

  async manual(req: NestRequest, res: AnyResponse) {
    await login(req.session, 'manual');
    send(res, 201, { manual: true });
  }

  passthrough(req: NestRequest, res: AnyResponse) {
    res.header('x-passthrough', 'yes');
    req.session.passed = true;
    return { passed: true };
  }

  quiet(req: NestRequest) {
    req.session.quiet = true;
  }

  etag(req: NestRequest, res: AnyResponse) {
    req.session.hits = ((req.session.hits as number | undefined) ?? 0) + 1;
    res.header('etag', '"v1"');
    // Express answers 304 itself (req.fresh); Fastify without @fastify/etag does not.
    if (req.headers['if-none-match'] === '"v1"') res.status(304);
    return 'cached body';
  }

  large(req: NestRequest) {
    req.session.large = true;
    return 'x'.repeat(LARGE);
  }

  async regenerate(req: NestRequest) {
    await new Promise<void>((resolve, reject) => {
      req.session.regenerate((error?: unknown) => (error ? reject(error) : resolve()));
    });
    req.session.fresh = true;
    return { regenerated: true };
  }

  async destroy(req: NestRequest) {
    await new Promise<void>((resolve, reject) => {
      req.session.destroy((error?: unknown) => (error ? reject(error) : resolve()));
    });
    return { destroyed: true };
  }

  file(req: NestRequest) {
    req.session.file = true;
    return new StreamableFile(Buffer.from('file body'), { type: 'text/plain' });
  }

  brokenFile(req: NestRequest) {
    req.session.brokenFile = true;
    controls.file.push('first chunk;');
    return new StreamableFile(controls.file);
  }

  events(req: NestRequest): Observable<string> {
    req.session.sse = 'opened';
    return controls.events.pipe(
      startWith('hello'),
      map((value) => {
        req.session.events = ((req.session.events as number | undefined) ?? 0) + 1;
        return value;
      }),
    );
  }
}
Controller()(AttackController);

/** 1 MiB: past the response's and the socket's high-water marks, so the hold sees backpressure. */
const LARGE = 1024 * 1024;

{
  const proto = AttackController.prototype;
  const withReq = [
    'read',
    'write',
    'mark',
    'thrown',
    'filtered',
    'members',
    'badLogin',
    'logout',
    'intercepted',
    'quiet',
    'large',
    'regenerate',
    'destroy',
    'file',
    'brokenFile',
    'events',
  ];
  for (const name of withReq) params(proto, name, Req());
  params(proto, 'login', Req(), Param('user'));
  params(proto, 'manual', Req(), Res());
  params(proto, 'passthrough', Req(), Res({ passthrough: true }));
  params(proto, 'etag', Req(), Res({ passthrough: true }));
  decorate(proto, 'read', Get('read'));
  decorate(proto, 'alive', Get('alive'));
  decorate(proto, 'write', Get('write'));
  decorate(proto, 'mark', Get('mark'));
  decorate(proto, 'thrown', Get('thrown'));
  decorate(proto, 'filtered', Get('filtered'), UseFilters(new ConflictRecorder()));
  decorate(proto, 'members', Get('members'), UseGuards(new MembersOnly()));
  decorate(proto, 'admin', Get('admin'), UseGuards(new AdminOnly()));
  decorate(proto, 'login', Get('login/:user'), Redirect('/read', 303));
  decorate(proto, 'badLogin', Get('bad-login'));
  decorate(proto, 'logout', Get('logout'));
  decorate(proto, 'intercepted', Get('intercepted'), UseInterceptors(new AfterHandler()));
  decorate(proto, 'manual', Get('manual'));
  decorate(proto, 'passthrough', Get('passthrough'));
  decorate(proto, 'quiet', Get('quiet'), HttpCode(204), Header('x-custom', 'nest'));
  decorate(proto, 'etag', Get('etag'));
  decorate(proto, 'large', Get('large'));
  decorate(proto, 'regenerate', Get('regenerate'));
  decorate(proto, 'destroy', Get('destroy'));
  decorate(proto, 'file', Get('file'));
  decorate(proto, 'brokenFile', Get('broken-file'));
  decorate(proto, 'events', Sse('events'));
}
class AttackModule {}
Module({ controllers: [AttackController] })(AttackModule);

/** What the next request with `cookie` finds in the session. */
async function stored(running: Running, cookie: string | undefined): Promise<Data> {
  const answer = await call(running.port, '/read', { cookie });
  expect(answer.status).toBe(200);
  return JSON.parse(answer.body) as Data;
}

/** Nest's default answer to an error with a 5xx `status` that must not be shown (sessionkit's `expose: false`). */
const unavailable = { statusCode: 503, message: 'Service Unavailable' };

/** A process that crashes on a stray 'error' event fails the test during which it was emitted. */
const uncaught: Error[] = [];
const recordUncaught = (error: Error): void => {
  uncaught.push(error);
};
/** One Redis connection for the file: a server that cannot be reached fails every test that needs it. */
let redis: Awaited<ReturnType<typeof redisBackend>> | undefined;
const redisOnce = async () => {
  redis ??= await redisBackend();
  return redis;
};
beforeAll(() => {
  process.on('uncaughtException', recordUncaught);
});
afterAll(async () => {
  process.off('uncaughtException', recordUncaught);
  // Clears every store made through it, and the black-hole tests' prefixes.
  await redis?.close();
});
afterEach(() => {
  expect(uncaught.splice(0).map((error) => error.message)).toEqual([]);
});

const redisHost = new URL(REDIS_URL).hostname;
const redisPort = Number(new URL(REDIS_URL).port || 6379);

const backends = [
  { name: 'a store slow to write', redis: false },
  { name: 'Redis', redis: true },
] as const;

describe.each(platforms)('Nest on its %s platform', (platform: Flavor) => {
  describe.each(backends)('with $name', ({ redis: useRedis }) => {
    let running: Running;
    beforeAll(async () => {
      const store = useRedis ? (await redisOnce()).make() : new LaggingStore();
      running = await startNest(AttackModule, platform, store);
    });
    afterAll(async () => {
      await running?.close();
    });

    it('an HttpException thrown after the handler changed the session: its status, and the change stored', async () => {
      const answer = await call(running.port, '/thrown');
      expect(answer.status).toBe(418);
      expect(JSON.parse(answer.body)).toEqual({ code: 'TEAPOT' });
      expect(await stored(running, cookieOf(answer))).toMatchObject({ step: 'thrown' });
    });

    it('a @Catch() filter that answers itself and changes the session: both changes stored', async () => {
      const answer = await call(running.port, '/filtered');
      expect(answer.status).toBe(409);
      expect(JSON.parse(answer.body)).toEqual({ handledBy: 'filter' });
      expect(await stored(running, cookieOf(answer))).toMatchObject({ step: 'filtered', lastError: 409 });
    });

    it('a guard that counts attempts, then throws UnauthorizedException: 401, every attempt stored', async () => {
      const first = await call(running.port, '/members');
      expect(first.status).toBe(401);
      const cookie = cookieOf(first);
      expect((await call(running.port, '/members', { cookie })).status).toBe(401);
      expect(await stored(running, cookie)).toMatchObject({ attempts: 2 });
      const login = await call(running.port, '/login/u1', { cookie });
      const member = await call(running.port, '/members', { cookie: cookieOf(login) });
      expect(member.status).toBe(200);
      expect(JSON.parse(member.body)).toEqual({ user: 'u1' });
    });

    it('a guard that only reads the session: 403 with no cookie, then the admin is let in', async () => {
      const refused = await call(running.port, '/admin');
      expect(refused.status).toBe(403);
      expect(cookieOf(refused)).toBeUndefined();
      const login = await call(running.port, '/login/admin');
      expect((await call(running.port, '/admin', { cookie: cookieOf(login) })).status).toBe(200);
    });

    it('@Redirect() after await login(): the session is stored before the 303 reaches the browser', async () => {
      const answer = await call(running.port, '/login/u2');
      expect(answer.status).toBe(303);
      expect(answer.headers.location).toBe('/read');
      expect(await stored(running, cookieOf(answer))).toMatchObject({ user: 'u2' });
    });

    it('an interceptor that changes the session in tap(), map() and an async step after the handler: all stored', async () => {
      const answer = await call(running.port, '/intercepted');
      expect(answer.status).toBe(200);
      expect(await stored(running, cookieOf(answer))).toMatchObject({
        handled: true,
        tapped: true,
        mapped: true,
        later: true,
      });
    });

    it('@Res() answering by hand after login(), and @Res({ passthrough: true }) setting a header', async () => {
      const manual = await call(running.port, '/manual');
      expect(manual.status).toBe(201);
      expect(JSON.parse(manual.body)).toEqual({ manual: true });
      expect(await stored(running, cookieOf(manual))).toMatchObject({ user: 'manual' });
      const passthrough = await call(running.port, '/passthrough');
      expect(passthrough.status).toBe(200);
      expect(passthrough.headers['x-passthrough']).toBe('yes');
      expect(await stored(running, cookieOf(passthrough))).toMatchObject({ passed: true });
    });

    it('@HttpCode(204) with @Header(): the cookie rides on the empty answer', async () => {
      const answer = await call(running.port, '/quiet');
      expect(answer.status).toBe(204);
      expect(answer.headers['x-custom']).toBe('nest');
      expect(answer.body).toBe('');
      expect(await stored(running, cookieOf(answer))).toMatchObject({ quiet: true });
    });

    it('HEAD on a GET route, and a 304 for a matching ETag: no body, each change stored', async () => {
      const head = await call(running.port, '/etag', { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.body).toBe('');
      const cookie = cookieOf(head);
      expect(await stored(running, cookie)).toMatchObject({ hits: 1 });
      const notModified = await call(running.port, '/etag', { cookie, headers: { 'if-none-match': '"v1"' } });
      expect(notModified.status).toBe(304);
      expect(notModified.body).toBe('');
      expect(await stored(running, cookie)).toMatchObject({ hits: 2 });
    });

    it('a 1 MiB body after a session change arrives whole', async () => {
      const answer = await call(running.port, '/large');
      expect(answer.status).toBe(200);
      expect(answer.aborted).toBe(false);
      expect(answer.body.length).toBe(LARGE);
      expect(await stored(running, cookieOf(answer))).toMatchObject({ large: true });
    });

    it('regenerate() and destroy() awaited through their callbacks: a new ID, the old one gone, the cookie cleared', async () => {
      const old = cookieOf(await call(running.port, '/login/u3'));
      const regenerated = await call(running.port, '/regenerate', { cookie: old });
      expect(regenerated.status).toBe(200);
      const renewed = cookieOf(regenerated);
      expect(renewed).toBeDefined();
      expect(renewed).not.toBe(old);
      expect(await stored(running, renewed)).toEqual({ fresh: true, user: null });
      expect(await stored(running, old)).toEqual({ user: null });
      const destroyed = await call(running.port, '/destroy', { cookie: renewed });
      expect(destroyed.status).toBe(200);
      expect(destroyed.headers['set-cookie']).toEqual([
        expect.stringMatching(/^connect\.sid=;.*Expires=Thu, 01 Jan 1970/),
      ]);
      expect(await stored(running, renewed)).toEqual({ user: null });
    });

    it('logout() after login(): the user is gone', async () => {
      const login = await call(running.port, '/login/u4');
      expect((await call(running.port, '/logout', { cookie: cookieOf(login) })).status).toBe(200);
      expect(await stored(running, cookieOf(login))).toEqual({ user: null });
    });

    it('a StreamableFile, on GET and on HEAD: the file (or its headers), and the change stored', async () => {
      const answer = await call(running.port, '/file');
      expect(answer.status).toBe(200);
      expect(answer.body).toBe('file body');
      expect(await stored(running, cookieOf(answer))).toMatchObject({ file: true });
      const head = await call(running.port, '/file', { method: 'HEAD' });
      expect([head.status, head.headers['content-type'], head.body]).toEqual([200, 'text/plain', '']);
      expect(await stored(running, cookieOf(head))).toMatchObject({ file: true });
    });

    it('a StreamableFile whose stream fails after its first chunk went out: cut short, never complete', async () => {
      controls.file = new Readable({ read() {} });
      const stream = await openStream(running.port, '/broken-file');
      expect(stream.status).toBe(200);
      await stream.until('first chunk;');
      controls.file.destroy(new Error('disk gone'));
      await expect(stream.ended()).rejects.toThrow();
      expect(await stored(running, cookieOf(stream))).toMatchObject({ brokenFile: true });
      expect((await call(running.port, '/alive')).status).toBe(200);
    });

    if (platform === 'express') {
      it('@Sse(): the cookie and the first event arrive while the stream stays open, the session stored by then; later changes at its end', async () => {
        controls.events = new Subject<string>();
        const stream = await openStream(running.port, '/events');
        expect(stream.status).toBe(200);
        expect(stream.headers['content-type']).toBe('text/event-stream');
        const cookie = cookieOf(stream);
        expect(cookie).toBeDefined();
        await stream.until('data: hello');
        expect(await stored(running, cookie)).toMatchObject({ sse: 'opened', events: 1 });
        controls.events.next('second');
        await stream.until('data: second');
        controls.events.complete();
        await stream.ended();
        expect(await stored(running, cookie)).toMatchObject({ sse: 'opened', events: 2 });
      });
    }
  });
});

describe('beside express-session, on the Express platform, each over a store slow to write', () => {
  const flavors = ['express-session', 'express'] as const;
  const apps = new Map<string, Running>();
  beforeAll(async () => {
    for (const flavor of flavors) apps.set(flavor, await startNest(AttackModule, flavor, new LaggingStore()));
  });
  afterAll(async () => {
    for (const running of apps.values()) await running.close();
  });

  it.each(flavors)(
    '%s: an HttpException after a change, and an interceptor changing it after the handler: stored',
    async (flavor) => {
      const running = apps.get(flavor) as Running;
      const thrown = await call(running.port, '/thrown');
      expect(thrown.status).toBe(418);
      const cookie = cookieOf(thrown);
      expect(await stored(running, cookie)).toMatchObject({ step: 'thrown' });
      expect((await call(running.port, '/intercepted', { cookie })).status).toBe(200);
      expect(await stored(running, cookie)).toMatchObject({
        handled: true,
        tapped: true,
        mapped: true,
        later: true,
      });
    },
  );

  it('@Sse() on a loaded session: express-session stores it only when the stream ends, whole, undoing a change made meanwhile; sessionkit stores it before the first event and merges', async () => {
    const seen: Record<string, { whileOpen: Data; after: Data }> = {};
    for (const flavor of flavors) {
      const running = apps.get(flavor) as Running;
      const cookie = cookieOf(await call(running.port, '/write'));
      controls.events = new Subject<string>();
      const stream = await openStream(running.port, '/events', cookie);
      await stream.until('data: hello');
      const whileOpen = await stored(running, cookie);
      expect((await call(running.port, '/mark', { cookie })).status).toBe(200);
      controls.events.complete();
      await stream.ended();
      seen[flavor] = { whileOpen, after: await stored(running, cookie) };
    }
    expect(seen['express-session']?.whileOpen).toEqual({ written: true });
    expect(seen['express-session']?.after).toEqual({ written: true, sse: 'opened', events: 1 });
    expect(seen.express?.whileOpen).toEqual({ written: true, sse: 'opened', events: 1, user: null });
    expect(seen.express?.after).toEqual({
      written: true,
      sse: 'opened',
      events: 1,
      parallel: true,
      user: null,
    });
  });
});

/** A slow MemoryStore whose calls can be made to fail, or never to answer. */
class FaultyStore extends SlowMemoryStore {
  mode: 'ok' | 'hang' | 'reject' = 'ok';

  private fault(): Promise<never> | null {
    if (this.mode === 'hang') return new Promise<never>(() => undefined);
    if (this.mode === 'reject') {
      // A driver error whose message quotes the session's data, as PostgreSQL's and MySQL's do.
      const error = Object.assign(new Error('new row violates check constraint: email=alice@example.com'), {
        code: '23514',
      });
      return Promise.reject(error);
    }
    return null;
  }

  override get(id: string): Promise<SessionRecord | null> {
    return this.fault() ?? super.get(id);
  }

  override create(id: string, record: SessionRecord): Promise<boolean> {
    return this.fault() ?? super.create(id, record);
  }

  override update(id: string, delta: SessionDelta): Promise<boolean> {
    return this.fault() ?? super.update(id, delta);
  }

  override destroy(id: string): Promise<void> {
    return this.fault() ?? super.destroy(id);
  }
}

const STORE_TIMEOUT = 100;
/** A 503 must come after about `storeTimeout`, never later than this. */
const BOUND = STORE_TIMEOUT + 1_500;

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}

describe.each(platforms)('failing stores, Nest on its %s platform', (platform: Flavor) => {
  const store = new FaultyStore(5);
  const filtered = new FaultyStore(5);
  /** One app with Nest's own exception handling, one with a global @Catch(SessionError) filter. */
  let plain: Running;
  let withFilter: Running;
  beforeAll(async () => {
    plain = await startNest(AttackModule, platform, store, { session: { storeTimeout: STORE_TIMEOUT } });
    withFilter = await startNest(AttackModule, platform, filtered, {
      session: { storeTimeout: STORE_TIMEOUT },
      setup: (app) => {
        app.useGlobalFilters(new SessionErrorFilter());
      },
    });
  });
  afterEach(() => {
    store.mode = 'ok';
    filtered.mode = 'ok';
  });
  afterAll(async () => {
    await plain?.close();
    await withFilter?.close();
  });

  it("a store that never answers: 503 with Nest's generic body after storeTimeout, whatever the route answered; the app goes on", async () => {
    const cookie = cookieOf(await call(plain.port, '/write'));
    store.mode = 'hang';
    // Loading; storing after a value, an HttpException, an interceptor, @Res(), a StreamableFile; and
    // session methods the handler awaits (login() under @Redirect(), regenerate(), logout()).
    const paths = [
      ['/read', cookie],
      ['/write', undefined],
      ['/thrown', undefined],
      ['/intercepted', undefined],
      ['/manual', undefined],
      ['/file', undefined],
      ['/login/u9', undefined],
      ['/regenerate', undefined],
      ['/logout', cookie],
    ] as const;
    const answers = await Promise.all(
      paths.map(async ([path, withCookie]) => {
        const [answer, ms] = await timed(() => call(plain.port, path, { cookie: withCookie }));
        const body: unknown = JSON.parse(answer.body);
        return { path, status: answer.status, body, cookie: cookieOf(answer), inTime: ms < BOUND };
      }),
    );
    expect(answers).toEqual(
      paths.map(([path]) => ({ path, status: 503, body: unavailable, cookie: undefined, inTime: true })),
    );
    // Requests that need no store call are served meanwhile.
    expect((await call(plain.port, '/alive')).body).toBe('alive');
    store.mode = 'ok';
    expect(await stored(plain, cookie)).toMatchObject({ written: true });
  });

  it("a store that rejects with a driver error quoting the data: 500, and Nest's body tells nothing of it", async () => {
    store.mode = 'reject';
    const answer = await call(plain.port, '/write');
    expect(answer.status).toBe(500);
    expect(JSON.parse(answer.body)).toEqual({ statusCode: 500, message: 'Internal Server Error' });
    expect(cookieOf(answer)).toBeUndefined();
    // sessionkit's own errors from a session method keep their status too (ERR_INVALID_USER: 500).
    store.mode = 'ok';
    const invalid = await call(plain.port, '/bad-login');
    expect(invalid.status).toBe(500);
    expect(invalid.body).not.toMatch(/sessionkit|alice/);
  });

  it('a global @Catch(SessionError) filter answers with the status and the code, for a failed load as for a failed write', async () => {
    const cookie = cookieOf(await call(withFilter.port, '/write'));
    filtered.mode = 'hang';
    const [load, write] = await Promise.all([
      call(withFilter.port, '/read', { cookie }),
      call(withFilter.port, '/write'),
    ]);
    expect([load.status, JSON.parse(load.body)]).toEqual([503, { code: 'ERR_STORE_UNAVAILABLE' }]);
    expect([write.status, JSON.parse(write.body)]).toEqual([503, { code: 'ERR_STORE_UNAVAILABLE' }]);
    filtered.mode = 'reject';
    const rejected = await call(withFilter.port, '/write');
    expect([rejected.status, JSON.parse(rejected.body)]).toEqual([500, { code: 'ERR_STORE' }]);
    filtered.mode = 'ok';
    const invalid = await call(withFilter.port, '/bad-login');
    expect([invalid.status, JSON.parse(invalid.body)]).toEqual([500, { code: 'ERR_INVALID_USER' }]);
  });

  it('real Redis black-holed mid-session (its write held at the wire): 503 within the bound', async () => {
    const proxy = new WireProxy(redisHost, redisPort);
    const client = createClient({
      url: `redis://127.0.0.1:${await proxy.start()}`,
      disableOfflineQueue: true,
      socket: { connectTimeout: 2_000, reconnectStrategy: false },
    });
    client.on('error', () => undefined);
    const prefix = `${runNamespace('sk_nest_hole')}:`;
    let running: Running | undefined;
    try {
      await client.connect();
      running = await startNest(AttackModule, platform, new RedisStore({ client, prefix }), {
        session: { storeTimeout: STORE_TIMEOUT },
      });
      const cookie = cookieOf(await call(running.port, '/write'));
      expect(await stored(running, cookie)).toMatchObject({ written: true });
      // The next write of this session (it carries `parallel`) never reaches Redis, nor anything after it.
      const held = proxy.hold('parallel');
      const [answer, ms] = await timed(() => call((running as Running).port, '/mark', { cookie }));
      await held.reached;
      expect([answer.status, JSON.parse(answer.body)]).toEqual([503, unavailable]);
      expect(ms).toBeLessThan(BOUND);
      expect((await call(running.port, '/alive')).body).toBe('alive');
    } finally {
      await running?.close();
      await proxy.stop();
      client.destroy();
      // The session written before the hold, removed through the file's own connection.
      await (await redisOnce()).make(prefix).clear();
    }
  });

  if (platform === 'express') {
    it('@Sse() on a store that never answers: 503 before any event; events emitted after it crash nothing', async () => {
      store.mode = 'hang';
      controls.events = new Subject<string>();
      const stream = await openStream(plain.port, '/events');
      expect(stream.status).toBe(503);
      expect(JSON.parse(await stream.ended())).toEqual(unavailable);
      controls.events.next('late');
      controls.events.complete();
      expect((await call(plain.port, '/alive')).body).toBe('alive');
    });
  }
});

/** Routes only Nest's Fastify platform has: @fastify/cookie, reply.hijack(), an async @Sse() handler that saves. */
class FastifyOnlyController {
  cookie(req: NestRequest, reply: FastifyReplyLike) {
    req.session.themed = true;
    reply.setCookie('theme', 'dark');
    return { themed: true };
  }

  async hijack(req: NestRequest, reply: FastifyReplyLike) {
    req.session.hijacked = true;
    await req.session.save();
    reply.hijack();
    reply.raw.end('hijacked');
  }

  async savedEvents(req: NestRequest): Promise<Observable<string>> {
    req.session.saved = true;
    await req.session.save();
    return controls.events.pipe(startWith('hello'));
  }

  seenByMiddleware(req: NestRequest & { raw: { seen?: string } }) {
    return { seen: req.raw.seen };
  }
}
Controller()(FastifyOnlyController);
{
  const proto = FastifyOnlyController.prototype;
  params(proto, 'cookie', Req(), Res({ passthrough: true }));
  params(proto, 'hijack', Req(), Res());
  params(proto, 'savedEvents', Req());
  params(proto, 'seenByMiddleware', Req());
  decorate(proto, 'cookie', Get('cookie'));
  decorate(proto, 'hijack', Get('hijack'));
  decorate(proto, 'savedEvents', Sse('saved-events'));
  decorate(proto, 'seenByMiddleware', Get('seen'));
}
/** Nest middleware that notes whether it sees a session. */
function noteSession(req: { session?: unknown; seen?: string }, _res: unknown, next: () => void): void {
  req.seen = req.session === undefined ? 'no session' : 'a session';
  next();
}
class FastifyOnlyModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(noteSession).forRoutes('*');
  }
}
Module({ controllers: [AttackController, FastifyOnlyController] })(FastifyOnlyModule);

describe("Nest's Fastify platform: plugins, raw replies and Nest middleware", () => {
  let running: Running;
  beforeAll(async () => {
    running = await startNest(FastifyOnlyModule, 'fastify', new LaggingStore(), {
      setup: async (app) => {
        await (app as NestFastifyApplication).register(
          fastifyCookie as unknown as Parameters<NestFastifyApplication['register']>[0],
        );
      },
    });
  });
  afterAll(async () => {
    await running?.close();
  });

  it("@fastify/cookie registered after the session: the reply carries both cookies, the session's stored", async () => {
    const answer = await call(running.port, '/cookie');
    expect(answer.status).toBe(200);
    expect(answer.headers['set-cookie']).toEqual([
      expect.stringMatching(/^connect\.sid=s%3A/),
      expect.stringMatching(/^theme=dark/),
    ]);
    expect(await stored(running, cookieOf(answer))).toMatchObject({ themed: true });
  });

  it('reply.hijack() after await save(): the change is stored; the reply carries no cookie (as documented)', async () => {
    const cookie = cookieOf(await call(running.port, '/write'));
    const answer = await call(running.port, '/hijack', { cookie });
    expect(answer.body).toBe('hijacked');
    expect(answer.headers['set-cookie']).toBeUndefined();
    expect(await stored(running, cookie)).toMatchObject({ written: true, hijacked: true });
  });

  it('@Sse() is written to reply.raw, past onSend: no cookie and no commit; an async handler that awaits save() keeps its change', async () => {
    controls.events = new Subject<string>();
    const fresh = await openStream(running.port, '/events');
    await fresh.until('data: hello');
    expect(fresh.headers['set-cookie']).toBeUndefined();
    controls.events.complete();
    await fresh.ended();

    const cookie = cookieOf(await call(running.port, '/write'));
    controls.events = new Subject<string>();
    const unsaved = await openStream(running.port, '/events', cookie);
    await unsaved.until('data: hello');
    controls.events.complete();
    await unsaved.ended();
    expect(await stored(running, cookie)).toEqual({ written: true, user: null });

    controls.events = new Subject<string>();
    const saved = await openStream(running.port, '/saved-events', cookie);
    await saved.until('data: hello');
    expect(await stored(running, cookie)).toMatchObject({ written: true, saved: true });
    controls.events.complete();
    await saved.ended();
  });

  it("Nest middleware get Node's raw request, which carries no session", async () => {
    const answer = await call(running.port, '/seen');
    expect(JSON.parse(answer.body)).toEqual({ seen: 'no session' });
  });
});

/** sessionkit mounted through Nest's MiddlewareConsumer instead of app.use(). */
class ConsumerModule {
  static store = new FaultyStore(5);
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(
        session({
          secret,
          resave: false,
          saveUninitialized: false,
          store: ConsumerModule.store,
          storeTimeout: STORE_TIMEOUT,
        }),
      )
      .forRoutes('*');
  }
}
Module({ controllers: [AttackController] })(ConsumerModule);

describe("Nest's Express platform: sessionkit applied through MiddlewareConsumer", () => {
  it('works as app.use() does: stored before the 303, and a store that never answers gets 503', async () => {
    const running = await startNest(ConsumerModule, 'express', ConsumerModule.store, { noSession: true });
    try {
      const login = await call(running.port, '/login/u5');
      expect(login.status).toBe(303);
      expect(await stored(running, cookieOf(login))).toMatchObject({ user: 'u5' });
      ConsumerModule.store.mode = 'hang';
      const answer = await call(running.port, '/write');
      expect([answer.status, JSON.parse(answer.body)]).toEqual([503, unavailable]);
    } finally {
      ConsumerModule.store.mode = 'ok';
      await running.close();
    }
  });
});
