import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'stores/memory': 'src/stores/memory.ts',
    'stores/sqlite': 'src/stores/sqlite.ts',
    'stores/postgres': 'src/stores/postgres.ts',
    'stores/mysql': 'src/stores/mysql.ts',
    'stores/redis': 'src/stores/redis.ts',
    'stores/mongodb': 'src/stores/mongodb.ts',
    'testing/index': 'src/testing/index.ts',
    'cli/index': 'src/cli/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  shims: true,
  target: 'node20',
  splitting: true,
  // Class names as written (warnings print `[MemoryStore]`, stack traces `MemoryStore.set`), not `_class`.
  keepNames: true,
  external: ['better-sqlite3', 'pg', 'mysql2', 'redis', 'ioredis', 'mongodb', 'express-session', 'vitest'],
});
