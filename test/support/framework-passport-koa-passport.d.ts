// koa-passport ships no typings: the part test/support/framework-passport-apps.ts uses.
declare module 'koa-passport' {
  import type { Middleware } from 'koa';
  import type { Strategy } from 'passport';

  type Done = (err: unknown, value?: unknown) => void;

  export class KoaPassport {
    use(strategy: Strategy): this;
    serializeUser(fn: (user: unknown, done: Done) => void): void;
    deserializeUser(fn: (id: unknown, done: Done) => void): void;
    initialize(): Middleware;
    session(): Middleware;
    authenticate(strategy: string, options?: Record<string, unknown>): Middleware;
  }
}
