import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

// Compiles small strict applications against the built package's declarations (dist/, which `npm test`
// builds first), each with its own tsconfig (`skipLibCheck: false`, so sessionkit's .d.ts is checked
// against the other typings in the program). @types/express-session is installed as
// @types/express-session-real and mapped in by the fixtures' `paths` only: the repository's own
// typecheck never sees it.
const fixtures = resolve(import.meta.dirname, 'fixtures');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** Each fixture project's directory (its files) and its tsconfig. */
const PROJECTS = {
  'connect-redis': 'tsconfig.json',
  'types-express-session': 'tsconfig.types-express-session.json',
  commonjs: 'tsconfig.commonjs.json',
  'typed-request': 'tsconfig.typed-request.json',
  'fastify-passport': 'tsconfig.fastify-passport.json',
} as const;

interface Report {
  code: number;
  /** Each diagnostic with its continuation lines, paths relative to the fixtures' directory. */
  diagnostics: string[];
}

/**
 * One compiler process checks the projects (`tsc -b`): it parses and binds the files they share
 * (Node's, Express's and sessionkit's typings) once, not once per project, and still checks each project
 * as a program of its own. `--force`, as no project emits anything to compare against.
 */
function compileAll(): Promise<Report> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [tsc, '-b', '--force', '--pretty', 'false', ...Object.values(PROJECTS)],
      { cwd: fixtures, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const diagnostics: string[] = [];
        for (const line of `${stdout}${stderr}`.split('\n')) {
          if (line.trim() === '') continue;
          if (/^\s/.test(line) && diagnostics.length > 0) diagnostics[diagnostics.length - 1] += `\n${line}`;
          else diagnostics.push(line);
        }
        done({ code: error ? Number(error.code ?? 1) : 0, diagnostics });
      },
    );
  });
}

function inProject(diagnostic: string): boolean {
  return Object.keys(PROJECTS).some((dir) => diagnostic.startsWith(`${dir}/`));
}

let report: Report;
beforeAll(async () => {
  report = await compileAll();
}, 120_000);

const errorsIn = (dir: keyof typeof PROJECTS) => report.diagnostics.filter((d) => d.startsWith(`${dir}/`));

describe('type fixtures: applications compile as they do with express-session', () => {
  it("a store typed against @types/express-session's Store (connect-redis's RedisStore) needs no cast", () => {
    expect(errorsIn('connect-redis')).toEqual([]);
  });

  it('@types/express-session in the program does not clash with sessionkit (skipLibCheck: false)', () => {
    expect(errorsIn('types-express-session')).toEqual([]);
  });

  it("a CommonJS program types require('sessionkit') as the middleware with every export on it", () => {
    expect(errorsIn('commonjs')).toEqual([]);
  });

  it("the README's one line types req.session, login() included, on every Express request", () => {
    expect(errorsIn('typed-request')).toEqual([]);
  });

  it("Fastify's request.session has @fastify/session's accessors, typed by SessionData, with @fastify/passport", () => {
    expect(errorsIn('fastify-passport')).toEqual([]);
  });

  it("sessionkit's declarations, and every other typing, check clean in every program", () => {
    const elsewhere = report.diagnostics.filter((d) => !inProject(d));
    expect(elsewhere).toEqual([]);
    if (report.diagnostics.length === 0) expect(report.code).toBe(0);
  });
});
