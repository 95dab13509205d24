import type { ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onFreePort, startDevServer, stopDevServer } from '../support/dev-server.js';

// The Next.js example in a real `next dev` server. sessionkit is loaded from the built package (dist/),
// which `npm test` builds first.
const ROOT = resolve(import.meta.dirname, '../..');
const EXAMPLE = join(ROOT, 'examples/next');

function cookieOf(response: Response): string | undefined {
  return response.headers.getSetCookie()[0]?.split(';')[0];
}

/** The Server Action's hidden field in a rendered form, which a form POST without JavaScript sends. */
function actionField(html: string): string {
  const match = /name="(\$ACTION_ID_[0-9a-f]+)"/.exec(html);
  if (!match?.[1]) throw new Error('no Server Action form on the page');
  return match[1];
}

async function submit(base: string, html: string, cookie: string, fields: Record<string, string> = {}) {
  const form = new FormData();
  form.set(actionField(html), '');
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  return fetch(`${base}/`, {
    method: 'POST',
    body: form,
    redirect: 'manual',
    headers: { cookie, origin: base },
  });
}

describe('the Next.js example in a real Next.js server', () => {
  let server: ChildProcess;
  let base: string;

  beforeAll(async () => {
    server = await onFreePort(async (port) => {
      base = `http://localhost:${port}`;
      return startDevServer(
        'next dev',
        [join(ROOT, 'node_modules/next/dist/bin/next'), 'dev', '-p', String(port)],
        {
          cwd: EXAMPLE,
          env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', SESSION_STORE_URL: '' },
          ready: 'Ready',
        },
      );
    });
  }, 120_000);

  afterAll(() => stopDevServer(server));

  it('a Route Handler saves, a Server Component reads, Server Actions log in and out', async () => {
    const first = await fetch(`${base}/api/visit`, { method: 'POST' });
    expect(await first.json()).toEqual({ views: 1, user: null });
    const anonymous = cookieOf(first) as string;
    expect(anonymous).toMatch(/^connect\.sid=s%3A/);
    const second = await fetch(`${base}/api/visit`, { method: 'POST', headers: { cookie: anonymous } });
    expect(await second.json()).toEqual({ views: 2, user: null });

    const page = await (await fetch(`${base}/`, { headers: { cookie: anonymous } })).text();
    expect(page).toContain('Visits counted by POST /api/visit: <!-- -->2');

    const login = await submit(base, page, anonymous, { user: 'ada' });
    expect(login.status).toBe(303);
    const cookie = cookieOf(login) as string;
    expect(cookie).toMatch(/^connect\.sid=s%3A/);
    expect(cookie).not.toBe(anonymous);
    const home = await (await fetch(`${base}/`, { headers: { cookie } })).text();
    expect(home).toContain('Logged in as <!-- -->ada');
    expect(home).toContain('<!-- -->2');

    // Next.js refuses cookies in a Server Component: the logout there is refused before the store is
    // touched, and the session the browser holds stays logged in.
    const refused = await fetch(`${base}/server-component`, { headers: { cookie } });
    expect(refused.headers.getSetCookie()).toEqual([]);
    const refusal = await refused.text();
    expect(refusal).toContain('Server Component: <!-- -->refused: ERR_COOKIES_READ_ONLY');
    expect(refusal).toContain('Still logged in as <!-- -->ada');
    expect(await (await fetch(`${base}/`, { headers: { cookie } })).text()).toContain(
      'Logged in as <!-- -->ada',
    );

    const logout = await submit(base, home, cookie);
    expect(logout.status).toBe(303);
    expect(logout.headers.getSetCookie()[0]).toMatch(/^connect\.sid=;/);
    expect(await (await fetch(`${base}/`, { headers: { cookie } })).text()).toContain('Log in');
  }, 120_000);
});
