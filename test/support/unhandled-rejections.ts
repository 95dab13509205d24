import { afterEach } from 'vitest';

/**
 * Fails the test during which a promise rejection went unhandled. The held response once let store and
 * replay errors escape into promises: a user's process exits on them (Node's default), so no test may
 * leave one, whatever vitest's own reporting does with it afterwards.
 */
const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => {
  unhandled.push(reason);
});

afterEach(() => {
  if (unhandled.length === 0) return;
  const reasons = unhandled.splice(0);
  const described = reasons.map((reason) =>
    reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason),
  );
  throw new Error(`unhandled promise rejection during this test: ${described.join('; ')}`);
});
