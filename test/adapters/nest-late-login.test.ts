import 'reflect-metadata';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CallHandler,
  Controller,
  type ExecutionContext,
  Get,
  Module,
  type NestInterceptor,
  Req,
  UseInterceptors,
} from '@nestjs/common';
import { type Observable, timeout } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { TypedSession } from '../../src/core/session.js';
import { currentUserId, login } from '../../src/index.js';
import {
  call,
  cookieOf,
  decorate,
  type Flavor,
  params,
  platforms,
  type Running,
  startNest,
} from '../support/nest-harness.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * Nest, both platforms, an asynchronous store and `maxSessionsPerUser`: a `timeout()` interceptor answers
 * the request while the handler carries on and calls `await login(req.session, user)`. No cookie can name
 * a session made after the response left, so such a login stores nothing (it warns), as without the
 * limit and as express-session. Through the limit's atomic create it would leave a record of the user no
 * browser holds and, under 'evict-oldest', evict the session the user does hold on another device.
 */

type R = { session: TypedSession & Record<string, unknown> };
const lateLogins: Array<Promise<unknown>> = [];

class Timeout30 implements NestInterceptor {
  intercept(_c: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(timeout(30));
  }
}

class C {
  who(req: R) {
    return { user: currentUserId(req.session) };
  }
  async login(req: R) {
    await login(req.session, 'bob');
    return { ok: true };
  }
  async slowLogin(req: R) {
    await sleep(80); // the interceptor has answered by now
    const p = login(req.session, 'bob');
    lateLogins.push(
      p.then(
        () => 'resolved',
        (e: unknown) => e,
      ),
    );
    await p.catch(() => undefined);
    return { late: true };
  }
}
Controller()(C);
{
  const p = C.prototype;
  for (const n of ['who', 'login', 'slowLogin']) params(p, n, Req());
  decorate(p, 'who', Get('who'));
  decorate(p, 'login', Get('login'));
  decorate(p, 'slowLogin', Get('slow-login'), UseInterceptors(new Timeout30()));
}
class M {}
Module({ controllers: [C] })(M);

describe.each(platforms)('Nest %s platform, slow store, maxSessionsPerUser: 1', (platform: Flavor) => {
  let running: Running | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('a login() after the response left stores no session no cookie names, and evicts none the user holds', async () => {
    const store = new SlowMemoryStore(10);
    running = await startNest(M, platform, store, { session: { maxSessionsPerUser: 1 } });

    // Bob logged in on his laptop.
    const laptop = cookieOf(await call(running.port, '/login'));
    expect(laptop).toBeDefined();
    expect(JSON.parse((await call(running.port, '/who', { cookie: laptop })).body).user).toBe('bob');

    // On his phone, a slow login the timeout interceptor already answered.
    const answer = await call(running.port, '/slow-login');
    expect(answer.status).toBeGreaterThanOrEqual(500); // rxjs TimeoutError: Nest's 500
    expect(cookieOf(answer)).toBeUndefined();
    await sleep(200);
    await Promise.all(lateLogins.splice(0));

    const ids = Object.keys(await store.all());
    const laptopStill = JSON.parse((await call(running.port, '/who', { cookie: laptop })).body).user;
    // Expected: only the laptop's session; it is still bob's.
    // Actual: the laptop's session was evicted for an orphan record that no cookie names.
    expect({ records: ids.length, laptopStill }).toEqual({ records: 1, laptopStill: 'bob' });
  });
});
