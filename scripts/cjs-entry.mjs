// After tsup: make `require('sessionkit')` return the middleware function itself, as
// `require('express-session')` does, with every named export hung on it.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

renameSync('dist/index.cjs', 'dist/index.impl.cjs');
writeFileSync(
  'dist/index.cjs',
  "'use strict';\nconst mod = require('./index.impl.cjs');\nmodule.exports = Object.assign(mod.default, mod);\n",
);
const map = 'dist/index.cjs.map';
try {
  renameSync(map, 'dist/index.impl.cjs.map');
} catch {}
readFileSync('dist/index.cjs');
