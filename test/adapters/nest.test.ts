import 'reflect-metadata';
import { Controller, Get, Module, Req } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import type { TypedSession } from '../../src/core/session.js';
import session, { currentUserId, login } from '../../src/index.js';

/** The README's NestJS recipes, in a small Nest app on each platform. */
type WithSession = { session: TypedSession };

class VisitController {
  visit(req: WithSession) {
    req.session.views = ((req.session.views as number | undefined) ?? 0) + 1;
    return { views: req.session.views, user: currentUserId(req.session) };
  }

  async login(req: WithSession) {
    await login(req.session, 'u1');
    return { views: req.session.views, user: currentUserId(req.session) };
  }
}
// Decorators applied by hand: the test build does not compile decorator syntax.
Controller()(VisitController);
for (const name of ['visit', 'login'] as const) {
  const proto = VisitController.prototype;
  Req()(proto, name, 0);
  Get(`/${name}`)(proto, name, Object.getOwnPropertyDescriptor(proto, name) as PropertyDescriptor);
}
class AppModule {}
Module({ controllers: [VisitController] })(AppModule);

const options = {
  secret: 'nest-tests-secret-of-at-least-32-chars!',
  resave: false,
  saveUninitialized: false,
};

/** GETs a path with a cookie, giving the JSON body and the session cookie set, if any. */
type Fetch = (
  path: string,
  cookie?: string,
) => Promise<{ body: { views: number; user: string | null }; cookie?: string }>;

async function walk(get: Fetch): Promise<void> {
  const first = await get('/visit');
  expect(first.body).toEqual({ views: 1, user: null });
  const second = await get('/visit', first.cookie);
  expect(second.body.views).toBe(2);
  const login = await get('/login', first.cookie);
  expect(login.body).toEqual({ views: 2, user: 'u1' });
  expect(login.cookie).toBeDefined();
  expect(login.cookie).not.toBe(first.cookie);
  expect((await get('/visit', login.cookie)).body).toEqual({ views: 3, user: 'u1' });
}

function pairOf(header: unknown): string | undefined {
  const first = ([] as string[]).concat((header as string | string[] | undefined) ?? [])[0];
  return first?.split(';')[0];
}

describe('NestJS recipes', () => {
  it('Express platform: app.use(session(options))', async () => {
    const app = await NestFactory.create(AppModule, { logger: false });
    app.use(session(options));
    await app.init();
    try {
      await walk(async (path, cookie) => {
        const response = await request(app.getHttpServer())
          .get(path)
          .set(cookie ? { cookie } : {});
        return { body: response.body, cookie: pairOf(response.headers['set-cookie']) };
      });
    } finally {
      await app.close();
    }
  });

  it('Fastify platform: app.register(session, options) from sessionkit/fastify', async () => {
    const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), {
      logger: false,
    });
    await app.register(
      fastifySession as unknown as Parameters<NestFastifyApplication['register']>[0],
      options,
    );
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    try {
      await walk(async (path, cookie) => {
        const response = await app.inject({ method: 'GET', url: path, headers: cookie ? { cookie } : {} });
        return { body: response.json(), cookie: pairOf(response.headers['set-cookie']) };
      });
    } finally {
      await app.close();
    }
  });
});
