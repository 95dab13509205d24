import type { IncomingMessage } from 'node:http';
import express from 'express';
import request from 'supertest';
import { describe, expect, expectTypeOf, it } from 'vitest';
import session, { type SessionRequest, type TypedSession } from '../../src/index.js';

interface CartData {
  views: number;
  cart: { items: string[] };
}

describe('typing req.session without declaration merging', () => {
  it('session<MyData>().get(req) is typed with MyData, and works at run time', async () => {
    const sessions = session<CartData>({
      secret: 'types-secret-0123456789abcdef0123456',
      resave: false,
      saveUninitialized: false,
    });
    const app = express();
    app.use(sessions);
    app.get('/', (req, res) => {
      const s = sessions.get(req);
      expectTypeOf(s.views).toEqualTypeOf<number | undefined>();
      expectTypeOf(s.cart).toEqualTypeOf<{ items: string[] } | undefined>();
      expectTypeOf(s.save).toBeFunction();
      s.views = (s.views ?? 0) + 1;
      res.send(String(s.views));
    });
    await request(app).get('/').expect(200, '1');
  });

  it('SessionRequest<MyData> types plain node handlers', () => {
    const handler = (req: SessionRequest<CartData>) => req.session.cart?.items.length ?? 0;
    expectTypeOf(handler).parameter(0).toMatchTypeOf<IncomingMessage>();
    expectTypeOf<TypedSession<CartData>['views']>().toEqualTypeOf<number | undefined>();
    expect(typeof handler).toBe('function');
  });
});
