import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, chromiumSkipReason } from '../support/chromium.js';
import { freePort } from '../support/dev-server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = join(ROOT, 'test/e2e/artifacts');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'];

/** The Fastify example as users run it, built from the current source (no dist/ needed). */
async function bundleExample(): Promise<string> {
  const outfile = join(ARTIFACTS, `fastify-${process.pid}`, 'server.mjs');
  await build({
    entryPoints: [join(ROOT, 'examples/fastify/server.mjs')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    alias: {
      'sessionkit/fastify': join(ROOT, 'src/adapters/fastify.ts'),
      sessionkit: join(ROOT, 'src/index.ts'),
    },
    external: ['fastify', 'fastify-plugin', 'better-sqlite3', 'pg', 'mysql2', 'redis', 'ioredis', 'mongodb'],
    logLevel: 'silent',
  });
  return outfile;
}

function startExample(script: string, port: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', SESSION_STORE_URL: '' },
    });
    let output = '';
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    child.stdout?.on('data', (chunk) => {
      output += chunk;
      if (output.includes('http://localhost')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`example exited (${code}):\n${output}`)));
  });
}

const skip = chromiumSkipReason('the Fastify browser e2e test');

describe.skipIf(skip)('the Fastify example in headless Chromium', () => {
  let browser: Browser;
  let server: ChildProcess;
  let bundleDir: string;
  let base: string;

  beforeAll(async () => {
    const [script, port] = await Promise.all([bundleExample(), freePort()]);
    bundleDir = join(script, '..');
    base = `http://localhost:${port}`;
    [server, browser] = await Promise.all([
      startExample(script, port),
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true }),
    ]);
  });

  afterAll(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
  });

  it('counts visits, logs in through the form under a new session ID, and logs out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/`);
    expect(await page.textContent('p')).toBe('Visits in this session: 1');
    await page.reload();
    expect(await page.textContent('p')).toBe('Visits in this session: 2');
    const [anonymous] = await context.cookies();
    expect(anonymous?.httpOnly).toBe(true);

    await page.fill('input[name=user]', 'ada');
    await Promise.all([page.waitForURL(`${base}/`), page.click('button')]);
    expect(await page.textContent('body')).toContain('Logged in as ada.');
    expect(await page.textContent('p')).toBe('Visits in this session: 3');
    const [loggedIn] = await context.cookies();
    expect(loggedIn?.value).not.toBe(anonymous?.value);

    await Promise.all([page.waitForURL(`${base}/`), page.click('text=Log out')]);
    expect(await page.isVisible('input[name=user]')).toBe(true);
    await context.close();
  });
});
