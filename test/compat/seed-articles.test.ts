/**
 * Why: people learn sessions from tutorials, such as the five Chinese express-session articles this
 * project grew from, and copy their code; the README promises that such code works on sessionkit unchanged but for the import, on
 * whatever store the application has. So each article's scenarios run on its own code (seed-articles/
 * articles.mjs) with only `session` swapped, over real HTTP, on every store kind (seed-articles/
 * stores.ts), and what a browser sees is compared response by response with express-session on the same
 * kind of store. Beside that comparison: the articles' apps keep working while a browser's request hangs
 * (article 003's unanswered /favicon.ico), across a migration in either direction on one store, and
 * through a logout racing the session's own writes.
 *
 * SEED_EXPRESS=4 runs the articles written for Express 5 on Express 4 instead.
 */
import type { Express } from 'express';
import express4 from 'express4';
import { afterAll, describe, expect, it } from 'vitest';
import { listenOnLoopback } from '../support/apps.js';
import { article000, article003, article004, type SessionFactory } from './seed-articles/articles.mjs';
import {
  Browser,
  collectWarnings,
  filterDocumented,
  type Step,
  trackStoreCalls,
} from './seed-articles/browser.js';
import { ORIGIN, SCENARIOS, type Scenario } from './seed-articles/scenarios.js';
import {
  closeMongo,
  IMPLS,
  type Impl,
  STORE_KINDS,
  type StoreKind,
  sessionOf,
} from './seed-articles/stores.js';

const express = process.env.SEED_EXPRESS === '4' ? express4 : undefined;

afterAll(closeMongo);

/** The scenario's steps on one implementation and store kind, and what sessionkit warned meanwhile. */
async function runOne(impl: Impl, kind: StoreKind, scenario: Scenario) {
  const session = sessionOf(impl);
  const { store, close } = await kind.open(impl, session);
  const warnings = collectWarnings();
  let server: Awaited<ReturnType<typeof listenOnLoopback>> | undefined;
  try {
    server = await listenOnLoopback(scenario.build(session, store, express));
    // express-session answers before its store has finished a `destroy()` the route started, and (on
    // some stores) before a new session is stored, so its next request could find the old record or
    // none: a race in express-session, which sessionkit does not have (its requests go straight on).
    const settle = impl === 'express-session' ? trackStoreCalls(store).idle : undefined;
    const steps = await scenario.drive(new Browser(server.url, ORIGIN, settle));
    return { steps, warnings: warnings.warnings };
  } finally {
    warnings.stop();
    await server?.close();
    await close();
  }
}

describe('the articles side by side', () => {
  for (const scenario of SCENARIOS) {
    describe(scenario.name, () => {
      for (const kind of STORE_KINDS) {
        it(kind.name, async () => {
          const out = {} as Record<Impl, { steps: Step[]; warnings: string[] }>;
          for (const impl of IMPLS) out[impl] = await runOne(impl, kind, scenario);
          const es = out['express-session'].steps;
          expect(filterDocumented(es, out.sessionkit.steps)).toEqual(es);
          // The articles' secrets are short, and sessionkit says so; it has nothing else to say about them.
          expect(out.sessionkit.warnings.filter((w) => !w.includes('signing secret is shorter'))).toEqual([]);
        });
      }
    });
  }
});

describe('article 003: hanging /favicon.ico', () => {
  // The counter never answers /favicon.ico (`return` without next()). Browsers fetch it beside the
  // page, with the same cookie: the hanging request must not hold up the session's next requests.
  for (const kind of STORE_KINDS) {
    it(`a hanging /favicon.ico does not hold the session's next page (${kind.name})`, async () => {
      const bodies: Partial<Record<Impl, string[]>> = {};
      for (const impl of IMPLS) {
        const session = sessionOf(impl);
        const { store, close } = await kind.open(impl, session);
        const server = await listenOnLoopback(article003(session, store, 'memory'));
        try {
          const b = new Browser(server.url);
          const out: string[] = [];
          out.push((await b.req('v1', '/')).body);
          const ac = new AbortController();
          const hanging = fetch(`${server.url}/favicon.ico`, {
            headers: { cookie: b.cookieHeader() },
            signal: ac.signal,
          }).catch(() => 'aborted');
          await new Promise((r) => setTimeout(r, 30));
          out.push((await b.req('v2', '/')).body);
          out.push((await b.req('v3', '/')).body);
          ac.abort();
          await hanging;
          out.push((await b.req('v4', '/')).body);
          bodies[impl] = out;
        } finally {
          await server.close();
          await close();
        }
      }
      expect(bodies.sessionkit).toEqual(bodies['express-session']);
    });
  }
});

/**
 * An express-session server and a sessionkit server on one store: sessionkit's own store for the native
 * kinds, the express-session store for the bridges and the slow store (which both run directly).
 */
async function sharedStoreServers(
  kind: StoreKind,
  build: (session: SessionFactory, store: unknown) => Express,
) {
  const opener: Impl =
    kind.name.endsWith('-bridge') || kind.name === 'slow' ? 'express-session' : 'sessionkit';
  const { store, close } = await kind.open(opener, sessionOf(opener));
  const es = await listenOnLoopback(build(sessionOf('express-session'), store));
  const sk = await listenOnLoopback(build(sessionOf('sessionkit'), store));
  return {
    es: es.url,
    sk: sk.url,
    close: async () => {
      await es.close();
      await sk.close();
      await close();
    },
  };
}

describe('express-session ⇄ sessionkit on one store', () => {
  // README "Migrating": keep secret and name, and existing cookies verify and load; going back,
  // express-session reads what sessionkit wrote. The memory kind has no store the two servers share.
  for (const kind of STORE_KINDS.filter((k) => k.name !== 'memory')) {
    it(`article 000: express-session → sessionkit → express-session on one store (${kind.name})`, async () => {
      const servers = await sharedStoreServers(kind, (session, store) => article000(session, store));
      const loaded = '读取session成功 : aaa - 这是session中的内容';
      try {
        const b = new Browser(servers.es);
        expect((await b.req('set', '/setSession')).body).toBe('hello');
        b.base = servers.sk;
        expect((await b.req('read', '/readSession')).body).toBe(loaded);
        b.base = servers.es;
        expect((await b.req('read', '/readSession')).body).toBe(loaded);
        b.base = servers.sk;
        await b.req('remove', '/removeSession');
        expect((await b.req('read', '/readSession')).body).toBe('读取session成功 : undefined - undefined');
        expect((await b.req('set', '/setSession')).body).toBe('hello');
        b.base = servers.es;
        expect((await b.req('read', '/readSession')).body).toBe(loaded);
      } finally {
        await servers.close();
      }
    });
    it(`article 003: counter alternating servers on one store (${kind.name})`, async () => {
      const servers = await sharedStoreServers(kind, (session, store) => article003(session, store, 'mongo'));
      try {
        const b = new Browser(servers.es);
        const views: string[] = [];
        for (let i = 0; i < 6; i++) {
          b.base = i % 2 ? servers.sk : servers.es;
          const r = await b.req(`v${i}`, '/');
          views.push(/views: (\d+)/.exec(r.body)?.[1] ?? r.body);
        }
        expect(views).toEqual(['1', '2', '3', '4', '5', '6']);
      } finally {
        await servers.close();
      }
    });
  }
});

describe('logout vs concurrent write', () => {
  // README: "a write never undoes a logout" (bridges: within one process). Article 004's single-page
  // app: a page that changes the session (views++) is in flight while the logout lands; the old cookie
  // must lead nowhere after.
  for (const kind of STORE_KINDS) {
    it(`a concurrent write does not resurrect a logged-out session (${kind.name})`, async () => {
      const session = sessionOf('sessionkit');
      const { store, close } = await kind.open('sessionkit', session);
      const server = await listenOnLoopback(article004(session, store, 'session-first'));
      const survivors: string[] = [];
      try {
        for (let trial = 0; trial < 4; trial++) {
          const b = new Browser(server.url, ORIGIN);
          await b.req('login', '/api/login', {
            method: 'POST',
            body: JSON.stringify({ name: `u${trial}` }),
            headers: { 'content-type': 'application/json' },
          });
          const old = new Map(b.jar);
          const other = new Browser(server.url);
          other.jar = new Map(old);
          // The logout starts a little later each trial, so it lands at a different point of the writes.
          const results = await Promise.all([
            other.req('views', '/'),
            new Promise((r) => setTimeout(r, trial * 3)).then(() =>
              b.req('logout', '/api/logout', { method: 'POST' }),
            ),
            other.req('views', '/'),
          ]);
          for (const r of results) expect(r.status, r.body).toBeLessThan(500);
          const after = new Browser(server.url);
          after.jar = new Map(old);
          const data = await after.req('data', '/api/data');
          if (data.body !== '{"user":null}') survivors.push(`${trial}: ${data.body}`);
        }
      } finally {
        await server.close();
        await close();
      }
      expect(survivors).toEqual([]);
    });
  }
});
