// The tests store arbitrary keys; applications declare theirs (see the README's "Typing req.session").
import type { SessionkitRequest } from '../../src/adapters/express.js';

declare module '../../src/core/types.js' {
  interface SessionData {
    // biome-ignore lint/suspicious/noExplicitAny: tests write many ad-hoc keys of any shape.
    [key: string]: any;
  }
}

// The tests type req.session on every Express request, as the README shows applications doing.
declare global {
  namespace Express {
    interface Request extends SessionkitRequest {}
  }
}
