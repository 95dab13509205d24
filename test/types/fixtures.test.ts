import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// Compiles small strict applications against the built package's declarations (dist/, which `npm test`
// builds first), each with its own tsconfig (`skipLibCheck: false`, so sessionkit's .d.ts is checked
// against the other typings in the program). @types/express-session is installed as
// @types/express-session-real and mapped in by the fixtures' `paths` only: the repository's own
// typecheck never sees it.
const root = resolve(import.meta.dirname, '../..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** The compiler's report for one fixture project, '' when it compiles clean. */
function compile(project: string): Promise<string> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [tsc, '-p', resolve(root, 'test/types/fixtures', project)],
      { cwd: root, encoding: 'utf8' },
      (error, stdout) => done(error ? stdout || String(error) : ''),
    );
  });
}

// Concurrent: each project is its own compiler process, and a compile spends part of its time reading files.
describe.concurrent('type fixtures: applications compile as they do with express-session', () => {
  it("a store typed against @types/express-session's Store (connect-redis's RedisStore) needs no cast", async () => {
    expect(await compile('tsconfig.json')).toBe('');
  }, 120_000);

  it('@types/express-session in the program does not clash with sessionkit (skipLibCheck: false)', async () => {
    expect(await compile('tsconfig.types-express-session.json')).toBe('');
  }, 120_000);

  it("a CommonJS program types require('sessionkit') as the middleware with every export on it", async () => {
    expect(await compile('tsconfig.commonjs.json')).toBe('');
  }, 120_000);

  it("the README's one line types req.session, login() included, on every Express request", async () => {
    expect(await compile('tsconfig.typed-request.json')).toBe('');
  }, 120_000);
});
