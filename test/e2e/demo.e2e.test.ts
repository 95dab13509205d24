import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, chromiumSkipReason } from '../support/chromium.js';
import { freePort } from '../support/dev-server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = join(ROOT, 'test/e2e/artifacts');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const PHONE_UA =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36';

/**
 * The demo as users run it, but built from the current TypeScript source: `sessionkit` and its store
 * subpaths are aliased to src/, so the test needs no `npm run build` (a minute here) and cannot run stale dist/.
 */
async function bundleDemo(): Promise<string> {
  const outfile = join(ARTIFACTS, `demo-${process.pid}`, 'server.mjs');
  await build({
    entryPoints: [join(ROOT, 'examples/demo/server.mjs')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    alias: {
      'sessionkit/stores/sqlite': join(ROOT, 'src/stores/sqlite.ts'),
      'sessionkit/otel': join(ROOT, 'src/otel.ts'),
      'sessionkit/store': join(ROOT, 'src/store.ts'),
      sessionkit: join(ROOT, 'src/index.ts'),
    },
    external: [
      'express',
      'cors',
      'better-sqlite3',
      'pg',
      'mysql2',
      'redis',
      'ioredis',
      'mongodb',
      'express-session',
      '@opentelemetry/*',
    ],
    logLevel: 'silent',
  });
  return outfile;
}

function startDemo(script: string, env: Record<string, string>): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { cwd: ROOT, env: { ...process.env, ...env } });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`demo did not start:\n${output}`)), 20_000);
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    child.stdout?.on('data', (chunk) => {
      output += chunk;
      if (output.includes('listening on')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => reject(new Error(`demo exited (${code}):\n${output}`)));
  });
}

const skip = chromiumSkipReason('the browser e2e test');

describe.skipIf(skip)('the demo in headless Chromium', () => {
  let browser: Browser;
  let demo: ChildProcess;
  let dataDir: string;
  let bundleDir: string;
  let base: string;
  let corsPort: number;
  const user = `alice${process.pid}`;
  const admin = `boss${process.pid}`;
  const password = 'correct horse battery';

  beforeAll(async () => {
    const [script, port, otherPort] = await Promise.all([bundleDemo(), freePort(), freePort()]);
    bundleDir = join(script, '..');
    corsPort = otherPort;
    base = `http://localhost:${port}`;
    dataDir = mkdtempSync(join(tmpdir(), 'sessionkit-e2e-'));
    [demo, browser] = await Promise.all([
      startDemo(script, {
        PORT: String(port),
        CORS_PORT: String(corsPort),
        DATA_DIR: dataDir,
        HOST: '127.0.0.1',
        SESSION_SECRET: 'e2e-secret-that-is-long-enough-for-the-warning',
        SESSION_STORE_URL: '',
        ADMIN_USER: admin,
      }),
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true }),
    ]);
  });

  afterAll(async () => {
    await browser?.close();
    if (demo && demo.exitCode === null) {
      const exited = new Promise((resolve) => demo.once('exit', resolve));
      demo.kill('SIGTERM');
      await exited;
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
  });

  async function logIn(context: BrowserContext, name = user): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${base}/login`);
    await page.fill('#username', name);
    await page.fill('#password', password);
    await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
    await expect.poll(() => page.textContent('h1')).toBe(`Hello, ${name}`);
    return page;
  }

  it('register, log in, count, see and revoke devices, call the API across origins', {
    timeout: 60_000,
  }, async () => {
    // Device A, a desktop: register, then log in.
    const laptop = await browser.newContext();
    const a = await laptop.newPage();
    await a.goto(`${base}/register`);
    await a.fill('#username', user);
    await a.fill('#password', password);
    await Promise.all([a.waitForURL(/\/login\?registered=1$/), a.click('button[type=submit]')]);
    expect(await a.textContent('.notice')).toContain('Account created');
    await a.close();
    const pageA = await logIn(laptop);

    // The counter rises across requests of one session.
    const before = Number(await pageA.textContent('#views'));
    await pageA.reload();
    expect(Number(await pageA.textContent('#views'))).toBe(before + 1);

    // The cookie as the browser holds it.
    const cookies = await laptop.cookies(base);
    const sid = cookies.find((c) => c.name === 'sid');
    expect(sid).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: '/' });
    expect(sid?.expires).toBeGreaterThan(Date.now() / 1000 + 6 * 86_400);

    // Device B, a phone, logs in too; A sees both and which one it is.
    const phone = await browser.newContext({ userAgent: PHONE_UA, viewport: { width: 390, height: 844 } });
    const pageB = await logIn(phone);
    await pageA.goto(`${base}/devices`);
    await expect.poll(() => pageA.locator('li.card').count()).toBe(2);
    expect(await pageA.locator('li.card.current .badge').textContent()).toBe('this device');
    const other = pageA.locator('li.card:not(.current)');
    expect(await other.locator('h2').textContent()).toContain('Chrome on Android');
    await pageA.setViewportSize({ width: 760, height: 640 });
    await pageA.screenshot({ path: join(ARTIFACTS, 'devices.png'), fullPage: true });

    // Revoking B from A logs B out.
    await Promise.all([pageA.waitForURL(`${base}/devices`), other.locator('button').click()]);
    await expect.poll(() => pageA.locator('li.card').count()).toBe(1);
    await pageB.goto(`${base}/devices`);
    expect(pageB.url()).toBe(`${base}/login`);

    // A page on the allowed other origin reads the API with A's cookie.
    const cross = await laptop.newPage();
    await cross.goto(`http://localhost:${corsPort}/`);
    await cross.locator('#result[data-state="ok"]').waitFor({ timeout: 10_000 });
    const answer = JSON.parse((await cross.textContent('#result')) ?? '{}') as {
      user: { name: string } | null;
    };
    expect(answer.user?.name).toBe(user);

    // The same page from an origin not on the allow-list is blocked by the browser.
    const disallowed = await laptop.newPage();
    await disallowed.goto(`http://127.0.0.1:${corsPort}/`);
    await disallowed.locator('#result[data-state="error"]').waitFor({ timeout: 10_000 });
    expect(await disallowed.textContent('#result')).toContain('blocked');

    // A form posted from the other origin (same site, so the Lax cookie goes along) fails the Origin check.
    const forged = await cross.evaluate(async (target) => {
      const response = await fetch(`${target}/logout`, {
        method: 'POST',
        credentials: 'include',
        mode: 'no-cors',
      });
      return response.type;
    }, base);
    expect(forged).toBe('opaque');
    await pageA.goto(`${base}/`);
    expect(await pageA.textContent('h1')).toBe(`Hello, ${user}`);

    // "Log out everywhere else" from A ends a third device's session and keeps A's.
    const tablet = await browser.newContext();
    const pageC = await logIn(tablet);
    await pageA.goto(`${base}/devices`);
    await expect.poll(() => pageA.locator('li.card').count()).toBe(2);
    await Promise.all([
      pageA.waitForURL(/\/devices\?revoked=1$/),
      pageA.click('form[action="/devices/revoke-others"] button'),
    ]);
    expect(await pageA.textContent('.notice')).toContain('Logged out 1 other session');
    await pageC.goto(`${base}/`);
    expect(await pageC.textContent('h1')).toBe('Welcome');

    // Logging out on A ends it too.
    await Promise.all([pageA.waitForURL(`${base}/?bye=1`), pageA.click('form[action="/logout"] button')]);
    expect(await pageA.textContent('h1')).toBe('Welcome');
  });

  it('the admin dashboard: live figures and a chart from the metrics, /metrics for Prometheus', {
    timeout: 60_000,
  }, async () => {
    // A forged cookie and a correctly signed one for a session nobody has: the dashboard counts both.
    const attacker = await browser.newContext();
    await attacker.addCookies([{ name: 'sid', value: 's%3Aforged.c2lnbmF0dXJl', url: base }]);
    await (await attacker.newPage()).goto(`${base}/`);
    await attacker.close();

    // The admin registers and logs in; a plain user (alice) gets no dashboard.
    const desk = await browser.newContext({ viewport: { width: 820, height: 900 } });
    const reg = await desk.newPage();
    await reg.goto(`${base}/register`);
    await reg.fill('#username', admin);
    await reg.fill('#password', password);
    await Promise.all([reg.waitForURL(/\/login\?registered=1$/), reg.click('button[type=submit]')]);
    await reg.close();
    const boss = await logIn(desk, admin);
    const plain = await logIn(await browser.newContext());
    const refused = await plain.goto(`${base}/admin`);
    expect(refused?.status()).toBe(404);

    await boss.goto(`${base}/admin`);
    expect(await boss.textContent('h1')).toBe('Sessions dashboard');
    const figure = async (id: string) => Number(await boss.textContent(`#${id} strong`));
    // Logins: alice's devices in the first test, this admin and the plain user.
    expect(await figure('logins')).toBeGreaterThanOrEqual(5);
    expect(await figure('logins-minute')).toBeGreaterThanOrEqual(1);
    expect(await figure('forged')).toBeGreaterThanOrEqual(1);
    expect(await figure('revoked')).toBeGreaterThanOrEqual(1);
    expect(await figure('active-sqlite')).toBeGreaterThanOrEqual(2);
    expect(await boss.locator('#latency tr[data-operation="get"]').count()).toBe(1);
    expect(await boss.locator('#latency tr[data-operation="create"]').count()).toBe(1);
    expect(await boss.locator('#chart g').count()).toBe(15);
    await boss.screenshot({ path: join(ARTIFACTS, 'admin.png'), fullPage: true });

    // Prometheus text format from this machine, with the semantic-convention names and no session ID.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('db_client_operation_duration_bucket');
    expect(metrics).toMatch(/sessionkit_session_login_total\{[^}]*\} \d+/);
    expect(metrics).toContain('sessionkit_cookie_invalid_total');
    for (const cookie of [...(await desk.cookies(base)), ...(await plain.context().cookies(base))]) {
      const id = decodeURIComponent(cookie.value).slice(2).split('.')[0] as string;
      expect(metrics).not.toContain(id);
    }
  });

  it('shuts down gracefully on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => demo.once('exit', resolve));
    demo.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
