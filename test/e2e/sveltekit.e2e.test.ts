import type { ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onFreePort, startDevServer, stopDevServer } from '../support/dev-server.js';

// The SvelteKit example in a real Vite dev server. sessionkit is loaded from the built package (dist/),
// which `npm test` builds first.
const ROOT = resolve(import.meta.dirname, '../..');
const EXAMPLE = join(ROOT, 'examples/sveltekit');

function cookieOf(response: Response): string | undefined {
  return response.headers.getSetCookie()[0]?.split(';')[0];
}

/** A form post as a browser sends it without JavaScript, to a form action of the page. */
function submit(base: string, action: string, cookie: string, fields: Record<string, string> = {}) {
  return fetch(`${base}/?/${action}`, {
    method: 'POST',
    body: new URLSearchParams(fields),
    redirect: 'manual',
    headers: { cookie, origin: base, accept: 'text/html' },
  });
}

describe('the SvelteKit example in a real SvelteKit dev server', () => {
  let server: ChildProcess;
  let base: string;

  beforeAll(async () => {
    server = await onFreePort(async (port) => {
      base = `http://localhost:${port}`;
      return startDevServer(
        'vite dev',
        [join(ROOT, 'node_modules/vite/bin/vite.js'), 'dev', '--port', String(port), '--strictPort'],
        { cwd: EXAMPLE, env: { ...process.env, SESSION_STORE_URL: '' }, ready: 'ready in' },
      );
    });
  }, 120_000);

  afterAll(() => stopDevServer(server));

  it('a load function counts visits, form actions log in and out', async () => {
    const first = await fetch(`${base}/`);
    expect(await first.text()).toContain('Visits in this session: <b>1</b>');
    const anonymous = cookieOf(first) as string;
    expect(anonymous).toMatch(/^connect\.sid=s%3A/);
    expect(await (await fetch(`${base}/`, { headers: { cookie: anonymous } })).text()).toContain('<b>2</b>');

    const login = await submit(base, 'login', anonymous, { user: 'ada' });
    expect(login.status).toBe(303);
    const cookie = cookieOf(login) as string;
    expect(cookie).toMatch(/^connect\.sid=s%3A/);
    expect(cookie).not.toBe(anonymous);
    const home = await (await fetch(`${base}/`, { headers: { cookie } })).text();
    expect(home).toContain('Logged in as <b>ada</b>');
    expect(home).toContain('<b>3</b>');

    const logout = await submit(base, 'logout', cookie);
    expect(logout.status).toBe(303);
    expect(logout.headers.getSetCookie()[0]).toMatch(/^connect\.sid=;/);
    expect(await (await fetch(`${base}/`, { headers: { cookie } })).text()).toContain('Log in</button>');
  }, 120_000);
});
