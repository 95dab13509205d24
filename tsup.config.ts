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
 * The type declarations are emitted by tsc (`tsconfig.declarations.json`, or by `npm test`'s type check of
 * the whole project, which emits the same files) into DECLARATIONS; tsup only bundles them. tsup's own
 * declaration build would type-check the source a second time. `SESSIONKIT_BUILD_STEP=js` builds the
 * JavaScript only, `types` bundles the declarations only; unset (`npm run build`), both.
 */
const step = process.env.SESSIONKIT_BUILD_STEP;
const DECLARATIONS = '.cache/types/src';

const entry: Record<string, string> = {
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
};
const declarationEntry = Object.fromEntries(
  Object.entries(entry).map(([name, source]) => [
    name,
    source.replace(/^src/, DECLARATIONS).replace(/\.ts$/, '.d.ts'),
  ]),
);

const configs: Options[] = [
  {
    entry,
    format: ['esm', 'cjs'],
    dts: step === 'js' ? false : { entry: declarationEntry, only: step === 'types' },
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
