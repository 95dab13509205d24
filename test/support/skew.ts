import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type StoreTarget, storeTargets } from './interleave.js';

/**
 * One process, several "app servers" whose clocks differ: Date.now() answers the real time plus the
 * offset of the async context it runs in (AsyncLocalStorage). Code run through `onClock(offset, fn)`, and
 * everything it awaits or schedules, sees that clock; everything else sees the real one. install() in
 * beforeAll, uninstall() in afterAll (test files share a worker).
 */
const clock = new AsyncLocalStorage<number>();
const realNow = Date.now;

export function install(): void {
  Date.now = () => realNow.call(Date) + (clock.getStore() ?? 0);
}

export function uninstall(): void {
  Date.now = realNow;
}

export function onClock<T>(offsetMs: number, fn: () => T): T {
  return clock.run(offsetMs, fn);
}

/** An HTTP handler (an Express app) run as an app server whose clock is `offsetMs` off. */
export function skewed(
  app: (req: IncomingMessage, res: ServerResponse) => void,
  offsetMs: number,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => clock.run(offsetMs, () => app(req, res));
}

/**
 * The stores whose every time reading the harness moves: all of `storeTargets` but MongoStore, which
 * also reads the time through `new Date()`.
 */
export async function skewableTargets(label: string): Promise<StoreTarget[]> {
  return (await storeTargets(label)).filter((target) => target.name !== 'mongodb');
}
