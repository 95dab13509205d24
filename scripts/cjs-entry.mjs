// After tsup: make `require('sessionkit')` return the middleware function itself, as
// `require('express-session')` does, with every named export hung on it, and give that shape its
// CommonJS declarations: `export =` of a function merged with a namespace of every named export, so a
// CommonJS TypeScript program types `require('sessionkit')(…)` and `session.MemoryStore` as they run.
// The ESM declarations get express-session's type names on the default export too (`session.SessionOptions`,
// `session.Store`): see esmNamespace.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const WRAPPER =
  "'use strict';\nconst mod = require('./index.impl.cjs');\nmodule.exports = Object.assign(mod.default, mod);\n";

/** The public names a tsup declaration file exports (`export { a, b as c, type d } [from '…'];`). */
function exportedNames(declarations) {
  const names = [];
  for (const match of declarations.matchAll(/^export \{([^}]*)\}(?: from '[^']*')?;$/gm)) {
    for (const item of match[1].split(',')) {
      const words = item.trim().replace(/^type /, '').split(/\s+as\s+/);
      const name = words[words.length - 1];
      if (name && name !== 'default') names.push(name);
    }
  }
  return names;
}

function untyped(declarations) {
  return declarations.replace(/^export (type )?\{([^}]*)\}/gm, (_, _type, list) => `export {${list.replace(/\btype /g, '')}}`);
}

function exportAssignment(names) {
  const members = names.map((name) => `  export import ${name} = _sessionkit.${name};`).join('\n');
  return `import _sessionkit = require('./index.impl.cjs');

/** express-session-compatible middleware (see the ESM declarations for the full documentation). */
declare function session<Data = _sessionkit.SessionData>(
  ...args: Parameters<typeof _sessionkit.default>
): _sessionkit.SessionMiddleware<Data>;
declare namespace session {
${members}
}
export = session;
`;
}

/**
 * The names TypeScript programs written for express-session use through its default export, as types
 * (`const options: session.SessionOptions = {…}`, `store: session.Store`), with their type parameters.
 */
const ESM_NAMESPACE = [
  ['SessionOptions', "<Req = import('./index.js').ExpressRequest>", '<Req>'],
  ['SessionData', '', ''],
  ['Session', '', ''],
  ['Cookie', '', ''],
  ['CookieOptions', '', ''],
  ['Store', '', ''],
  ['MemoryStore', '', ''],
];

/**
 * The ESM declarations with a types-only namespace merged with the default export (a `const`, which such
 * a namespace may merge with), or `undefined` when they have it already. Added here rather than in
 * src/index.ts: the declaration bundler takes a namespace's type names for the module's own, and marks
 * the classes of those names type-only exports. Each member names the module's export through an import
 * type of the file itself, which the member's own name cannot shadow.
 */
function esmNamespace(declarations) {
  // The default export's local name, from the file's own export list (`export { …, session as default, … };`).
  const session = /^export \{[^}]*\b([\w$]+) as default\b[^}]*\};$/m.exec(declarations)?.[1];
  if (!session) throw new Error('cjs-entry: dist/index.d.ts has no default export');
  if (declarations.includes(`declare namespace ${session} {`)) return undefined;
  const members = ESM_NAMESPACE.map(
    ([name, params, args]) => `  type ${name}${params} = import('./index.js').${name}${args};`,
  );
  const block = `/** express-session's types, named through the default export as with express-session. */
declare namespace ${session} {
${members.join('\n')}
}
`;
  const at = declarations.lastIndexOf('\nexport {');
  return `${declarations.slice(0, at + 1)}${block}\n${declarations.slice(at + 1)}`;
}

// Each half is idempotent (running it twice, or after a build that already ran it, leaves the result as
// it is) and runs only when its files are there: `npm test` builds the JavaScript first and the
// declarations beside the first tests, running this after each.
if (existsSync('dist/index.cjs') && readFileSync('dist/index.cjs', 'utf8') !== WRAPPER) {
  renameSync('dist/index.cjs', 'dist/index.impl.cjs');
  if (existsSync('dist/index.cjs.map')) renameSync('dist/index.cjs.map', 'dist/index.impl.cjs.map');
  writeFileSync('dist/index.cjs', WRAPPER);
}
if (existsSync('dist/index.d.cts') && !existsSync('dist/index.impl.d.cts')) {
  renameSync('dist/index.d.cts', 'dist/index.impl.d.cts');
  // An import alias cannot name a type-only export: declaration files need no `type` marks on exports.
  for (const file of readdirSync('dist', { recursive: true }).filter((name) => name.endsWith('.d.cts'))) {
    const path = `dist/${file}`;
    writeFileSync(path, untyped(readFileSync(path, 'utf8')));
  }
  writeFileSync('dist/index.d.cts', exportAssignment(exportedNames(readFileSync('dist/index.impl.d.cts', 'utf8'))));
}
if (existsSync('dist/index.d.ts')) {
  const withNamespace = esmNamespace(readFileSync('dist/index.d.ts', 'utf8'));
  if (withNamespace !== undefined) writeFileSync('dist/index.d.ts', withNamespace);
}
