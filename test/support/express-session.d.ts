// sessionkit types `req.session` itself (src/adapters/express.ts), which clashes with the global
// augmentation of @types/express-session; the tests that drive express-session directly need only this.
declare module 'express-session' {
  import type { EventEmitter } from 'node:events';
  import type { RequestHandler } from 'express';

  namespace expressSession {
    interface SessionOptions {
      secret: string | string[];
      name?: string;
      store?: Store;
      resave?: boolean;
      saveUninitialized?: boolean;
      rolling?: boolean;
      cookie?: Record<string, unknown>;
      [key: string]: unknown;
    }
    class Store extends EventEmitter {
      get(sid: string, callback: (err: unknown, session?: unknown) => void): void;
      set(sid: string, session: unknown, callback?: (err?: unknown) => void): void;
      destroy(sid: string, callback?: (err?: unknown) => void): void;
    }
    class MemoryStore extends Store {}
    class Session {}
    class Cookie {}
  }
  function expressSession(options: expressSession.SessionOptions): RequestHandler;
  export = expressSession;
}
