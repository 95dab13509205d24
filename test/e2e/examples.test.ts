import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { onFreePort } from '../support/dev-server.js';

// The framework examples run from the built package (dist/), which `npm test` builds first.
const ROOT = resolve(import.meta.dirname, '../..');

let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) {
    child.kill();
    await once(child, 'exit');
  }
  child = undefined;
});

/** Starts an example and resolves once it says it is listening. */
function start(framework: string): Promise<string> {
  return onFreePort(async (port) => {
    child = spawn(process.execPath, [join(ROOT, 'examples', framework, 'server.mjs')], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), SESSION_STORE_URL: '' },
    });
    let output = '';
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    await new Promise<void>((ready, fail) => {
      child?.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('http://localhost')) ready();
      });
      child?.once('exit', (code) => fail(new Error(`${framework} example exited with ${code}: ${output}`)));
    });
    return `http://127.0.0.1:${port}`;
  });
}

function cookieOf(response: Response): string {
  const header = response.headers.getSetCookie()[0];
  if (!header) throw new Error('no cookie');
  return header.split(';')[0] as string;
}

describe('the framework examples', () => {
  for (const framework of ['fastify', 'koa', 'hono', 'nest', 'react-router']) {
    it(`${framework}: counts visits, logs in with a new session ID and logs out`, async () => {
      const base = await start(framework);
      const first = await fetch(`${base}/`);
      expect(await first.text()).toContain('Visits in this session: <b>1</b>');
      const anonymous = cookieOf(first);
      const second = await fetch(`${base}/`, { headers: { cookie: anonymous } });
      expect(await second.text()).toContain('<b>2</b>');

      const login = await fetch(`${base}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: anonymous, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'user=ada',
      });
      expect(login.status).toBe(303);
      const cookie = cookieOf(login);
      expect(cookie).not.toBe(anonymous);
      // The pre-login ID is dead: whoever planted it (session fixation) holds nothing.
      const planted = await (await fetch(`${base}/`, { headers: { cookie: anonymous } })).text();
      expect(planted).toContain('Visits in this session: <b>1</b>');
      expect(planted).not.toContain('ada');
      const home = await (await fetch(`${base}/`, { headers: { cookie } })).text();
      expect(home).toContain('Logged in as <b>ada</b>');
      expect(home).toContain('<b>3</b>');

      const logout = await fetch(`${base}/logout`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie },
      });
      expect(logout.status).toBe(303);
      expect(await (await fetch(`${base}/`, { headers: { cookie } })).text()).toContain('Log in</button>');
    }, 30_000);
  }
});
