// After tsup: make `require('sessionkit')` return the middleware function itself, as
// `require('express-session')` does, with every named export hung on it, and give that shape its
// CommonJS declarations: `export =` of a function merged with a namespace of every named export, so a
// CommonJS TypeScript program types `require('sessionkit')(…)` and `session.MemoryStore` as they run.
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
