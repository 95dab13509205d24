/**
 * Why: with `renewAfter`, every ID renewal leaves a marker under the old ID for twice `renewGrace`, which
 * the store lists like any record. An operator reads `sessionkit stats` and `list` as the sessions there
 * are: a marker is none (no user, no data of its own), so it must not be counted as an anonymous session,
 * printed as a row, or shown by `show` as if it were one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { RENEWED_KEY } from '../../src/core/auth-time.js';
import type { ListPage, SessionSummary } from '../../src/core/types.js';
import session, { login } from '../../src/index.js';
import { type AnyStore, createStore } from '../../src/stores/factory.js';
import { cookieOf } from '../support/apps.js';
import { runNamespace } from '../support/services.js';
import { json, runCli } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'sessionkit-cli-markers-'));
const stores: Array<{ name: string; url: string }> = [
  { name: 'SQLite', url: `sqlite:${join(dir, 's.db')}` },
  { name: 'Redis', url: `redis://127.0.0.1:6379?prefix=${runNamespace('cli-markers')}:` },
];
const opened: AnyStore[] = [];

afterAll(async () => {
  for (const store of opened) {
    await store.clear?.();
    await store.close?.();
  }
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface ListOutput {
  sessions: SessionSummary[];
  cursor: string | null;
}

describe('sessionkit CLI leaves renewal markers out', () => {
  for (const { name, url } of stores) {
    it(`${name}: one logged-in user after one renewal is one session in stats, list and show`, async () => {
      const store = await createStore(url);
      opened.push(store);
      const app = express();
      app.use(
        session({
          secret: 'cli-renewal-markers-secret-0123456789abcdef',
          store,
          name: 'sid',
          cookie: { secure: false },
          resave: false,
          saveUninitialized: false,
          renewAfter: 500,
          renewGrace: 10_000,
        }),
      );
      app.post('/login', async (req, res) => {
        await login(req.session, 'alice');
        res.end('ok');
      });
      app.get('/', (_req, res) => res.end('ok'));

      const first = cookieOf(await request(app).post('/login').expect(200));
      await sleep(700);
      const renewed = await request(app).get('/').set('Cookie', first).expect(200);
      expect(cookieOf(renewed)).not.toBe(first);

      // The store does hold the marker: the CLI is what must tell it apart.
      const stored: SessionSummary[] = [];
      let cursor: string | null = null;
      do {
        const page: ListPage = await (store.list as NonNullable<AnyStore['list']>)({ cursor, limit: 100 });
        stored.push(...page.sessions);
        cursor = page.cursor;
      } while (cursor);
      const marker = stored.find((s) => RENEWED_KEY in s.data);
      expect(marker).toBeDefined();

      const stats = json<{ count: number; anonymous: number; users: number }>(
        await runCli(['stats', '--json', '--store', url]),
      );
      expect({ count: stats.count, anonymous: stats.anonymous, users: stats.users }).toEqual({
        count: 1,
        anonymous: 0,
        users: 1,
      });

      const all = json<ListOutput>(await runCli(['list', '--json', '--store', url]));
      expect(all.sessions.map((s) => s.userId)).toEqual(['alice']);
      // Page by page (on Redis a page is a SCAN's, and may come back empty with more to follow).
      const paged: SessionSummary[] = [];
      let next: string | null = null;
      do {
        const page: ListOutput = json<ListOutput>(
          await runCli([
            'list',
            '--limit',
            '100',
            ...(next ? ['--cursor', next] : []),
            '--json',
            '--store',
            url,
          ]),
        );
        paged.push(...page.sessions);
        next = page.cursor;
      } while (next);
      expect(paged.map((s) => s.userId)).toEqual(['alice']);
      const human = await runCli(['list', '--store', url]);
      expect(human.stdout).not.toContain(marker?.handle);
      expect(human.stdout.trimEnd().split('\n').at(-1)).toBe('1 session');

      const shown = await runCli(['show', marker?.handle as string, '--store', url]);
      expect(shown.code).toBe(2);
      expect(shown.stderr).toMatch(/^sessionkit: no live session with handle /);
    });
  }
});
