import { spawn } from 'node:child_process';
import type { SessionDelta } from '../../src/core/types.js';

/**
 * Runs an ESM snippet (TypeScript imports allowed, through tsx) in a child process and resolves its exit
 * code; rejects if it is still running after `limitMs`. Proves that `close()` leaves no handle open.
 */
export function runScript(source: string, limitMs = 8_000): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the process did not exit within ${limitMs} ms of close()`));
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** The absolute path of a source module, for a child script to import. */
export function sourcePath(relative: string): string {
  return new URL(`../../src/${relative}`, import.meta.url).pathname;
}

/** express-session's stored shape, as the anchor stores write it, expiring `inMs` from now. */
export function legacyPayload(inMs: number) {
  return {
    cookie: {
      originalMaxAge: 60_000,
      expires: new Date(Date.now() + inMs).toISOString(),
      httpOnly: true,
      path: '/',
    },
    views: 7,
  };
}

/** A delta's deadlines, `ms` from now. */
export function later(ms: number): Pick<SessionDelta, 'expiresAt' | 'lastSeenAt'> {
  return { expiresAt: Date.now() + ms, lastSeenAt: Date.now() };
}
