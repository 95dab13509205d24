/**
 * What Next.js's server does at start (node-environment): its request stores need a real AsyncLocalStorage.
 * Imported for its effect, first in every file that loads next/headers (through src/adapters/next.ts), whose
 * storage instances are made when it loads.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const version = (require('next/package.json') as { version: string }).version;
for (const name of ['work-async-storage', 'work-unit-async-storage']) {
  const key = Symbol.for(`@next/${name}@${version}`);
  const global = globalThis as unknown as Record<symbol, unknown>;
  if (!(global[key] instanceof AsyncLocalStorage)) global[key] = new AsyncLocalStorage();
}
