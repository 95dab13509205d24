// After tsup: make `require('sessionkit')` return the middleware function itself, as
// `require('express-session')` does, with every named export hung on it.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const WRAPPER =
  "'use strict';\nconst mod = require('./index.impl.cjs');\nmodule.exports = Object.assign(mod.default, mod);\n";

// Idempotent: running it twice (or after a build that already ran it) leaves the wrapper as it is.
if (readFileSync('dist/index.cjs', 'utf8') !== WRAPPER) {
  renameSync('dist/index.cjs', 'dist/index.impl.cjs');
  if (existsSync('dist/index.cjs.map')) renameSync('dist/index.cjs.map', 'dist/index.impl.cjs.map');
  writeFileSync('dist/index.cjs', WRAPPER);
}
