#!/usr/bin/env node
// Runs express-session's own test suite (its test/session.js and test/cookie.js) against sessionkit's
// CommonJS build, with `require('express-session')` (their `require('../')`) pointed at dist/index.cjs.
//
// The suite is express-session's code and is not part of this repository: put a checkout of
// https://github.com/expressjs/session's `test/` directory (session.js, cookie.js, support/, fixtures/)
// at .cache/express-session/test (git-ignored), or name another directory with ES_TESTS_DIR.
//
//   npm run build --silent && node scripts/express-session-suite.mjs [--express 4|5] [--target sessionkit|express-session] [--grep text] [--verbose]
//
// Prints every failing test and the pass count; exits 1 when any test fails. The suite is mocha-style:
// a small shim below provides describe/it/before/after/beforeEach/afterEach and `this` contexts, so
// no test framework is installed for it. `after` (a devDependency of express-session) is shimmed too.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : args[at + 1];
};
const expressMajor = option('express', '5');
const target = option('target', 'sessionkit');
const grep = option('grep', null);
const verbose = args.includes('--verbose');
const testsDir = resolve(process.env.ES_TESTS_DIR ?? join(root, '.cache/express-session/test'));
if (!existsSync(join(testsDir, 'session.js'))) {
  console.error(`express-session's tests not found in ${testsDir}; see the header of this script`);
  process.exit(2);
}

// The suite requires '../' (the package) and '../session/cookie' relative to its test directory.
const pkgDir = dirname(testsDir);
const require = createRequire(join(root, 'package.json'));
const implementation =
  target === 'express-session' ? require.resolve('express-session') : join(root, 'dist/index.cjs');
if (!existsSync(implementation)) {
  console.error('dist/index.cjs is missing: run `npm run build --silent` first');
  process.exit(2);
}
mkdirSync(join(pkgDir, 'session'), { recursive: true });
// The suite is CommonJS; the repository's package.json says "type": "module".
writeFileSync(join(pkgDir, 'package.json'), '{ "type": "commonjs" }\n');
writeFileSync(join(pkgDir, 'index.js'), `module.exports = require(${JSON.stringify(implementation)});\n`);
writeFileSync(
  join(pkgDir, 'session/cookie.js'),
  target === 'express-session'
    ? `module.exports = require(${JSON.stringify(join(dirname(implementation), 'session/cookie.js'))});\n`
    : `module.exports = require(${JSON.stringify(implementation)}).Cookie;\n`,
);

// Module names the suite requires, mapped: Express 4 is installed as `express4`; `after` is shimmed.
const AFTER = join(pkgDir, 'after-shim.js');
writeFileSync(
  AFTER,
  `module.exports = function after(count, callback) {
  var bail = false;
  return function proxy(err) {
    if (bail) return;
    if (err) { bail = true; return callback(err); }
    if (--count === 0) callback();
    else if (count < 0) callback(new Error('after called too many times'));
  };
};\n`,
);
const resolveFilename = Module._resolveFilename;
// Resolved from the repository, whatever directory the suite sits in.
const anchor = new Module(join(root, 'package.json'));
anchor.filename = join(root, 'package.json');
anchor.paths = Module._nodeModulePaths(root);
Module._resolveFilename = function (request, parent, ...rest) {
  if (request === 'after') return AFTER;
  if (request === 'express' && expressMajor === '4') return resolveFilename.call(this, 'express4', anchor, ...rest);
  if (['express', 'supertest', 'cookie-parser'].includes(request))
    return resolveFilename.call(this, request, anchor, ...rest);
  return resolveFilename.call(this, request, parent, ...rest);
};

// ---- a minimal mocha ----
class Suite {
  constructor(title, parent) {
    this.title = title;
    this.parent = parent;
    this.children = [];
    this.before = [];
    this.after = [];
    this.beforeEach = [];
    this.afterEach = [];
    this.ctx = Object.create(parent ? parent.ctx : null);
  }
  fullTitle() {
    return this.parent?.title ? `${this.parent.fullTitle()} ${this.title}` : this.title;
  }
}
const rootSuite = new Suite('', null);
let current = rootSuite;
globalThis.describe = (title, body) => {
  const suite = new Suite(title, current);
  current.children.push(suite);
  const previous = current;
  current = suite;
  body.call(suite.ctx);
  current = previous;
};
globalThis.describe.skip = () => {};
globalThis.it = (title, fn) => current.children.push({ title, fn, suite: current });
globalThis.it.skip = () => {};
globalThis.before = (fn) => current.before.push(fn);
globalThis.after = (fn) => current.after.push(fn);
globalThis.beforeEach = (fn) => current.beforeEach.push(fn);
globalThis.afterEach = (fn) => current.afterEach.push(fn);

const TIMEOUT = 2000;
let onUncaught = null;
process.on('uncaughtException', (error) => {
  if (onUncaught) onUncaught(error);
  else console.error('uncaught outside a test:', error);
});

function runFn(fn, ctx) {
  return new Promise((resolvePromise, reject) => {
    let settled = false;
    const finish = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      onUncaught = null;
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else resolvePromise();
    };
    const timer = setTimeout(() => finish(new Error(`Timeout of ${TIMEOUT}ms exceeded`)), TIMEOUT);
    onUncaught = finish;
    const context = Object.create(ctx);
    context.timeout = () => {};
    try {
      if (fn.length > 0) fn.call(ctx, (error) => finish(error));
      else Promise.resolve(fn.call(ctx)).then(() => finish(), finish);
    } catch (error) {
      finish(error);
    }
  });
}

const results = { passed: 0, failed: [] };
function hooksOf(suite, kind) {
  const chain = [];
  for (let s = suite; s; s = s.parent) chain.unshift(s);
  return kind === 'beforeEach' ? chain.flatMap((s) => s.beforeEach) : chain.reverse().flatMap((s) => s.afterEach);
}
async function runSuite(suite) {
  for (const hook of suite.before) await runFn(hook, suite.ctx);
  for (const child of suite.children) {
    if (child instanceof Suite) {
      try {
        await runSuite(child);
      } catch (error) {
        results.failed.push({ title: `${child.fullTitle()} (hook)`, error });
      }
      continue;
    }
    const title = `${suite.fullTitle()} ${child.title}`.trim();
    if (grep && !title.includes(grep)) continue;
    try {
      for (const hook of hooksOf(suite, 'beforeEach')) await runFn(hook, suite.ctx);
      await runFn(child.fn, suite.ctx);
      for (const hook of hooksOf(suite, 'afterEach')) await runFn(hook, suite.ctx);
      results.passed++;
      if (verbose) console.log(`  ok  ${title}`);
    } catch (error) {
      results.failed.push({ title, error });
    }
    // Let stray callbacks of the test that just ended fire before the next one starts.
    await new Promise((r) => setTimeout(r, 5));
  }
  for (const hook of suite.after) await runFn(hook, suite.ctx);
}

// express-session's own tests read process.env.NODE_ENV; keep the production warning quiet.
process.env.NODE_ENV = 'test';
process.removeAllListeners('warning');
const testRequire = createRequire(join(testsDir, 'session.js'));
testRequire('./cookie.js');
testRequire('./session.js');
await runSuite(rootSuite);
for (const { title, error } of results.failed) console.log(`FAIL ${title}\n     ${String(error.message).split('\n')[0]}`);
const total = results.passed + results.failed.length;
console.log(
  `\nexpress-session suite (${target}, Express ${expressMajor}): ${results.passed} of ${total} passed`,
);
process.exit(results.failed.length === 0 ? 0 : 1);
