import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
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

  it('ESM: default and named imports, and store subpaths that load no other driver', () => {
    const out = run([
      '--input-type=module',
      '-e',
      "import session, { MemoryStore } from 'sessionkit'; import { SQLiteStore } from 'sessionkit/stores/sqlite'; import { createRequire } from 'node:module'; const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => /node_modules\\/(pg|mysql2|redis|ioredis|mongodb)\\//.test(p)); console.log(typeof session, typeof MemoryStore, typeof SQLiteStore, loaded.length)",
    ]);
    expect(out.trim()).toBe('function function function 0');
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
