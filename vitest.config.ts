import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/unhandled-rejections.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most test files spend their time waiting on servers, child processes and timers, not on the CPU:
    // vitest's default of one worker fewer than the cores left a 2-core machine running one file at a
    // time. Files are independent (every one works under its own runNamespace() and on port 0). Not
    // more than the cores: the CLI and fault tests bound how long a child process or a failover may take,
    // and more workers than cores starve them.
    maxWorkers: Math.max(2, availableParallelism()),
    reporters: ['default'],
  },
});
