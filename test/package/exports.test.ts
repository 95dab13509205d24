import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// These tests use the built package (dist/), which `npm test` builds before running vitest.
const root = resolve(import.meta.dirname, '../..');

function run(args: string[], cwd = root): string {
  return execFileSync(process.execPath, args, { cwd, encoding: 'utf8' });
}

describe('the published package', () => {
  it("require('sessionkit') is the middleware function itself, as require('express-session') is", () => {
    const out = run([
      '-e',
      "const s = require('sessionkit'); console.log([typeof s, typeof s.Store, typeof s.MemoryStore, typeof s.Session, typeof s.Cookie, typeof s.createStore, typeof s.session].join())",
    ]);
    expect(out.trim()).toBe('function,function,function,function,function,function,function');
  });

  // The public API is deliberate: adding to it, or letting an internal slip in, must change this list.
  const ROOT_EXPORTS = [
    'Cookie',
    'CorruptSessionError',
    'InvalidArgumentError',
    'InvalidRecordError',
    'InvalidUserIdError',
    'MemoryStore',
    'NotSupportedError',
    'OptionsError',
    'ReauthenticationRequiredError',
    'SecretRequiredError',
    'Session',
    'SessionDataError',
    'SessionError',
    'SessionLimitError',
    'SessionNotFoundError',
    'SessionTooLargeError',
    'Store',
    'StoreError',
    'StoreTimeoutError',
    'StoreUnavailableError',
    'StoreUrlError',
    'authAge',
    'checkRecentAuth',
    'createStore',
    'currentUserId',
    'default',
    'diagnosticsChannels',
    'login',
    'logout',
    'reauthenticated',
    'requireRecentAuth',
    'session',
  ];

  it("the root export list is pinned, for require('sessionkit') and the ESM namespace", () => {
    const cjs = run(['-e', "console.log(JSON.stringify(Object.keys(require('sessionkit')).sort()))"]);
    expect(JSON.parse(cjs)).toEqual(ROOT_EXPORTS);
    const esm = run([
      '--input-type=module',
      '-e',
      "import * as m from 'sessionkit'; console.log(JSON.stringify(Object.keys(m).sort()))",
    ]);
    expect(JSON.parse(esm)).toEqual(ROOT_EXPORTS);
  });

  it('sessionkit/store holds the argument checks for third-party stores; sessionkit/internals the rest', () => {
    const out = run([
      '--input-type=module',
      '-e',
      "import * as s from 'sessionkit/store'; import * as i from 'sessionkit/internals'; const c = (await import('node:module')).createRequire(import.meta.url); console.log(JSON.stringify([Object.keys(s).sort(), Object.keys(i).sort(), Object.keys(c('sessionkit/store')).sort()]))",
    ]);
    const [store, internals, storeCjs] = JSON.parse(out) as string[][];
    expect(store).toEqual([
      'Store',
      'checkDataBytes',
      'checkDelta',
      'checkDestroyByUser',
      'checkHandle',
      'checkId',
      'checkListOptions',
      'checkRecord',
      'checkUserIdArgument',
      'checkUserIdLimits',
      'checkUserLimit',
      'evictionsFor',
      'isConnectionError',
      'sessionHandle',
    ]);
    expect(storeCjs).toEqual(store);
    expect(internals).toEqual([
      'ExpressStoreBridge',
      'NOW',
      'SessionManager',
      'describe',
      'generateId',
      'isNativeStore',
      'sessionHandle',
      'sign',
      'unsign',
    ]);
  });

  it("a library user installs none of the CLI's dependencies, and the built CLI runs without them", () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(pkg.dependencies)).toEqual(['cookie']);
    const out = run([
      '--input-type=module',
      '-e',
      "import 'sessionkit'; import 'sessionkit/store'; import { createRequire } from 'node:module'; console.log(Object.keys(createRequire(import.meta.url).cache).filter((p) => /node_modules\\/(commander|cli-progress)\\//.test(p)).length)",
    ]);
    expect(out.trim()).toBe('0');
    // Bundled into dist/cli: the bin imports neither package from node_modules.
    const cli = readFileSync(join(root, 'dist/cli/index.js'), 'utf8');
    expect(cli).not.toMatch(/from ["']commander["']|require\(["']commander["']\)/);
    expect(run(['dist/cli/index.js', '--version']).trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('ESM: default and named imports, and store subpaths that load no other driver', () => {
    const out = run([
      '--input-type=module',
      '-e',
      "import session, { MemoryStore } from 'sessionkit'; import { SQLiteStore } from 'sessionkit/stores/sqlite'; import { createRequire } from 'node:module'; const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => /node_modules\\/(pg|mysql2|redis|ioredis|mongodb)\\//.test(p)); console.log(typeof session, typeof MemoryStore, typeof SQLiteStore, loaded.length)",
    ]);
    expect(out.trim()).toBe('function function function 0');
  });

  it('sessionkit/otel loads from ESM and CommonJS; the core never loads @opentelemetry/api', () => {
    const out = run([
      '--input-type=module',
      '-e',
      "import session from 'sessionkit'; import { createRequire } from 'node:module'; const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((p) => p.includes('@opentelemetry')); session({ secret: 'x'.repeat(32), resave: false, saveUninitialized: false }); const before = loaded(); const { instrumentOpenTelemetry } = await import('sessionkit/otel'); const otel = await instrumentOpenTelemetry(); console.log(before, otel.enabled, loaded())",
    ]);
    expect(out.trim()).toBe('false true true');
    const cjs = run([
      '-e',
      "require('sessionkit/otel').instrumentOpenTelemetry().then((otel) => console.log(typeof require('sessionkit/otel').CHANNELS.store.get, otel.enabled))",
    ]);
    expect(cjs.trim()).toBe('string true');
  });

  it('types: augmenting SessionData types req.session in an Express app, with strict checks of our .d.ts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sessionkit-types-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules/sessionkit'));
    for (const dep of ['@types', 'express'])
      symlinkSync(join(root, 'node_modules', dep), join(dir, 'node_modules', dep));
    writeFileSync(
      join(dir, 'app.ts'),
      `import express from 'express';
import session, { type SessionkitRequest } from 'sessionkit';
declare module 'sessionkit' { interface SessionData { views: number } }
// The README's one line that types req.session on every Express request.
declare global { namespace Express { interface Request extends SessionkitRequest {} } }
const app = express();
app.use(session({ secret: 'x', resave: false, saveUninitialized: false }));
app.get('/', (req, res) => {
  const views: number | undefined = req.session.views;
  // @ts-expect-error views is a number, not a string
  const wrong: string | undefined = req.session.views;
  req.session.regenerate({ keep: true }).then(() => res.send(String(views) + wrong));
});
`,
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
        },
        files: ['app.ts'],
      }),
    );
    expect(() => run([join(root, 'node_modules/typescript/bin/tsc'), '-p', dir])).not.toThrow();
  }, 60_000);
});
