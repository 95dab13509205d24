import { afterEach } from 'vitest';

/**
 * Fails the test during which a promise rejection went unhandled. The held response once let store and
 * replay errors escape into promises: a user's process exits on them (Node's default), so no test may
 * leave one, whatever vitest's own reporting does with it afterwards.
 *
 * vitest runs this file before every test file, and a worker that runs several files (`isolate: false`
 * in vitest.config.ts) keeps its process and globals between them: one listener, installed once, feeds
 * the list that each file's afterEach drains.
 */
function listenForUnhandled(): unknown[] {
  const list: unknown[] = [];
  process.on('unhandledRejection', (reason) => {
    list.push(reason);
  });
  return list;
}

const shared = globalThis as { sessionkitUnhandledRejections?: unknown[] };
shared.sessionkitUnhandledRejections ??= listenForUnhandled();
const unhandled = shared.sessionkitUnhandledRejections;

afterEach(() => {
  if (unhandled.length === 0) return;
  const reasons = unhandled.splice(0);
  const described = reasons.map((reason) =>
    reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason),
  );
  throw new Error(`unhandled promise rejection during this test: ${described.join('; ')}`);
});
