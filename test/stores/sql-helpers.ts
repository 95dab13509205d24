import { spawn } from 'node:child_process';
import { expect } from 'vitest';

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

/**
 * The cookie of a session express-session wrote with `maxAge: 60_000`. express-session derives
 * `originalMaxAge` from an expiry it set a moment before, so its clock may move a few ms in between
 * (the same bound as the express-session compatibility suite).
 */
export function expectExpressSessionCookie(cookie: { originalMaxAge?: number | null } | undefined) {
  expect(cookie).toMatchObject({ httpOnly: true, path: '/' });
  expect(cookie?.originalMaxAge).toBeGreaterThanOrEqual(59_990);
  expect(cookie?.originalMaxAge).toBeLessThanOrEqual(60_000);
}
