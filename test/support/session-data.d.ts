// The tests store arbitrary keys; applications declare theirs (see the README's "Typing req.session").
declare module '../../src/core/types.js' {
  interface SessionData {
    // biome-ignore lint/suspicious/noExplicitAny: tests write many ad-hoc keys of any shape.
    [key: string]: any;
  }
}

export {};
