import { defineConfig, type Options } from 'tsup';

const external = [
  'better-sqlite3',
  'pg',
  'mysql2',
  'redis',
  'ioredis',
  'mongodb',
  'express-session',
  'vitest',
  'fastify',
  'fastify-plugin',
  'koa',
  'hono',
  'next',
  '@sveltejs/kit',
  'react-router',
  '@opentelemetry/api',
];

/**
 * `npm test` builds in two steps (scripts/test.mjs), so the tests that run the JavaScript need not wait
 * for the type declarations, the slow part: `SESSIONKIT_BUILD_STEP=js` builds the JavaScript only,
 * `types` the library's declarations only. Unset (`npm run build`), both.
 */
const step = process.env.SESSIONKIT_BUILD_STEP;

const configs: Options[] = [
  {
    entry: {
      index: 'src/index.ts',
      'stores/memory': 'src/stores/memory.ts',
      'stores/sqlite': 'src/stores/sqlite.ts',
      'stores/postgres': 'src/stores/postgres.ts',
      'stores/mysql': 'src/stores/mysql.ts',
      'stores/redis': 'src/stores/redis.ts',
      'stores/mongodb': 'src/stores/mongodb.ts',
      'adapters/fastify': 'src/adapters/fastify.ts',
      'adapters/koa': 'src/adapters/koa.ts',
      'adapters/hono': 'src/adapters/hono.ts',
      'adapters/next': 'src/adapters/next.ts',
      'adapters/sveltekit': 'src/adapters/sveltekit.ts',
      'adapters/react-router': 'src/adapters/react-router.ts',
      otel: 'src/otel.ts',
      'testing/index': 'src/testing/index.ts',
      store: 'src/store.ts',
      internals: 'src/internals.ts',
    },
    format: ['esm', 'cjs'],
    dts: step === 'js' ? false : step === 'types' ? { only: true } : true,
    // `npm run build` empties dist/ first: the two builds here run side by side.
    clean: false,
    shims: true,
    target: 'node20',
    splitting: true,
    // Class names as written (warnings print `[MemoryStore]`, stack traces `MemoryStore.set`), not `_class`.
    keepNames: true,
    external,
  },
  {
    // The CLI, with its own dependencies (commander, cli-progress) bundled in: a library user installs
    // none of them. They are CommonJS, so the ESM bundle gets a `require` for the built-ins they load.
    entry: { 'cli/index': 'src/cli/index.ts' },
    format: ['esm'],
    dts: false,
    clean: false,
    target: 'node20',
    splitting: true,
    noExternal: ['commander', 'cli-progress'],
    external,
    banner: {
      js: "import { createRequire as __skCreateRequire } from 'node:module';\nconst require = __skCreateRequire(import.meta.url);",
    },
  },
];

export default defineConfig(step === 'types' ? configs.slice(0, 1) : configs);
