// The types of articles.mjs as the suite calls it. The article code stays JavaScript; these say what each
// function takes and gives, as far as the tests depend on it.
import type express from 'express';
import type { Express } from 'express';

/** What the articles pass to `session(...)`: a secret, and whatever else each one sets. */
export interface ArticleSessionOptions {
  secret: string;
  [option: string]: unknown;
}

/** `session` as the articles call it: express-session's default export, or sessionkit's. */
export type SessionFactory = (options: ArticleSessionOptions) => unknown;

/** `express` as the articles call it: the default export of Express 5 or of Express 4. */
export type ExpressFactory = typeof express;

/** Article 003's three apps: the memory counter, the Redis one, the MongoDB one. */
export type CounterVariant = 'memory' | 'redis' | 'mongo';

/** Where article 004 mounts cors: before the session, or after it (with or without saveUninitialized). */
export type CorsOrder = 'cors-first' | 'session-first' | 'session-first-uninit';

export function article000(session: SessionFactory, store: unknown, express?: ExpressFactory): Express;
export function article001(session: SessionFactory, store: unknown, express?: ExpressFactory): Express;
export function article002(session: SessionFactory, store: unknown, express?: ExpressFactory): Express;
export function article003(
  session: SessionFactory,
  store: unknown,
  variant: CounterVariant,
  express?: ExpressFactory,
): Express;
export function article004(
  session: SessionFactory,
  store: unknown,
  order: CorsOrder,
  express?: ExpressFactory,
): Express;
