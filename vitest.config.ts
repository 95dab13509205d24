import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import LongestFirst from './test/support/sequencer.js';

/**
 * The files that need a process of their own. Every other file runs in a worker process that goes on to
 * run more files (`isolate: false`): on two cores, starting a process and importing Express, the drivers
 * and sessionkit again for every file took CPU the tests themselves needed. Files here replace a module
 * (vi.mock), or need a module evaluated before another file changed a global: @hono/node-server's
 * `RESPONSE_ALREADY_SENT` is made with the global `Response` when its module loads, and once a Hono server
 * of an earlier file has replaced that global with its own class, the constant is taken for an ordinary
 * empty response and sent.
 */
const OWN_PROCESS = [
  'test/adapters/hono-response-already-sent.test.ts',
  'test/adapters/next.test.ts',
  'test/otel/absent.test.ts',
  'test/stores/registry.test.ts',
];

/**
 * The files that compile programs against dist/'s declaration files. `npm test` runs them as soon as the
 * declarations are built, while the other projects already run (scripts/test.mjs).
 */
const DECLARATIONS = ['test/types/fixtures.test.ts', 'test/types/drop-in.test.ts', 'test/package/*.test.ts'];

export default defineConfig({
  test: {
    setupFiles: ['test/support/unhandled-rejections.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // A young generation twice V8's default: the workers run file after file and allocate fast (servers,
    // sockets, thousands of requests), and with the default they spent a sixth of their CPU collecting.
    execArgv: ['--max-semi-space-size=32', ...(process.env.SK_EXEC ? process.env.SK_EXEC.split(' ') : [])],
    // Most test files spend much of their time waiting on servers, child processes and timers, not on
    // the CPU: with one file per core a 2-core machine stood idle for over a third of the run. Files are
    // independent (every one works under its own runNamespace() and on port 0), and the tests that bound
    // how long a child process, a failover or a timer may take leave room for a busy machine
    // (test/support/leads.ts). At least four, for the 2-core machines CI runs on.
    maxWorkers: Math.max(4, availableParallelism()),
    sequence: { sequencer: LongestFirst },
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.test.ts'],
          exclude: [...OWN_PROCESS, ...DECLARATIONS],
          isolate: false,
        },
      },
      {
        extends: true,
        test: { name: 'declarations', include: DECLARATIONS, isolate: false },
      },
      {
        extends: true,
        test: { name: 'own-process', include: OWN_PROCESS, isolate: true },
      },
    ],
  },
});
