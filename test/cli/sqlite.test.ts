import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore } from '../../src/stores/factory.js';
import { runCliSuite } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'sessionkit-cli-'));
const url = `sqlite:${join(dir, 'sessions.db')}`;

runCliSuite({
  name: 'SQLite (a temp file)',
  skip: false,
  url: () => url,
  open: () => createStore(url),
  pruneCounts: true,
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});
