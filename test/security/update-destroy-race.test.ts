import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import type { SessionDelta, SessionRecord } from '../../src/core/types.js';
import session, { currentUserId, login, logout } from '../../src/index.js';
import type { SessionStore } from '../../src/stores/contract.js';
import { type AnyStore, createStore } from '../../src/stores/factory.js';
import { record } from '../stores/conformance.js';
import { cookieOf, idOf } from '../support/apps.js';
import { MYSQL_URL, mysqlExec, POSTGRES_URL, pgExec, REDIS_URL } from '../support/interleave.js';
import { type MongoTarget, mongoTarget } from '../support/mongo/target.js';
import { redisSkipReason } from '../support/redis.js';
import { runNamespace, serviceSkipReason, urlVia } from '../support/services.js';
import { WireProxy } from '../support/wire-proxy.js';

/**
 * `update` never creates (docs/stores/contract.md), and so a write in flight never brings back a session
 * another app server destroyed. The conformance suite checks that with one store instance and ten rounds;
 * here two store instances stand for two app servers, one of them behind a proxy that delays every chunk
 * by a random 0-3 ms, and each trial races an `update` (a changed key, a later expiry, sometimes a new
 * bound user) from one server against a `destroy(id)` or a `destroyByUser(user)` from the other, each
 * started at a random offset. After both settle, neither server may load the session or list it under
 * any user it was bound to: zero survivors, in the user index too. The one session that may live is one
 * an update moved to another user before destroyByUser(old user) ran: then it must be whole, bound to the
 * new user and listed under it alone, on both servers. Each race also checks it raced: both orders won
 * some trials, and the two calls were in flight together in some. Last, the same at the middleware:
 * two Express apps on Redis, a request that loaded the session writing while a logout (or a log out
 * everywhere) lands on the other app.
 */

/** A store that lists and revokes by user. Required, not called with `?.`: a missing method must fail, not pass. */
type RaceStore = AnyStore & Required<Pick<SessionStore, 'listByUser' | 'destroyByUser'>>;

function raceable(store: AnyStore): RaceStore {
  if (typeof store.listByUser !== 'function' || typeof store.destroyByUser !== 'function')
    throw new Error(`${store.constructor.name} has no listByUser/destroyByUser`);
  return store as RaceStore;
}

interface Pair {
  /** One app server: through the proxy when the store talks over the network. */
  far: RaceStore;
  /** The other app server: direct. */
  near: RaceStore;
  proxy: WireProxy | null;
}

interface RaceTarget {
  name: string;
  skip: string | false;
  /** Trials racing update against destroy(id), and against destroyByUser(user). */
  trials: { destroy: number; destroyByUser: number };
  /** Both calls start at a random whole number of ms in 0..maxOffsetMs: about what a proxied call takes. */
  maxOffsetMs: number;
  /**
   * One pair per lane (LANES of them): the same pair for all (one key space, as one deployment under
   * parallel requests), or a pair each where lanes must not meet (see the MariaDB target).
   */
  open(): Promise<Pair[]>;
  dispose(pairs: Pair[]): Promise<void>;
}

/** Trials in flight at once per store: each works on its own session and user, as parallel requests do. */
const LANES = 6;

/** Every lane on the one pair. */
const shared = (pair: Pair): Pair[] => Array.from({ length: LANES }, () => pair);
const unique = (pairs: Pair[]): Pair[] => [...new Set(pairs)];

/** The most the proxy delays a chunk, in ms (random per chunk, order kept per direction). */
const WIRE_DELAY_MS = 3;
/** Per store: hundreds of races in all, in what two cores run beside the other stores in a few seconds. */
const TRIALS = { destroy: 200, destroyByUser: 120 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const randomInt = (max: number) => Math.floor(Math.random() * (max + 1));

function recordOf(userId: string): SessionRecord {
  return record({ data: { marker: 'created', gone: true }, userId });
}

/**
 * What the update carries. `merge`: keys set and unset (the SQL stores' locked read-merge-write); `capped`:
 * the same under a size cap (MongoDB's read-check-compare-and-set, Redis's in-script measure); `replace`:
 * express-session's whole-object resave; `meta`: a later expiry and cookie only (the SQL stores' single
 * UPDATE). The user binding is kept as is, restated, or moved to another user (a new index entry and
 * revocation stamp).
 */
const SHAPES = ['merge', 'capped', 'replace', 'meta'] as const;
const BINDINGS = ['keep', 'same', 'move'] as const;

interface Plan {
  shape: (typeof SHAPES)[number];
  binding: (typeof BINDINGS)[number];
  /** Which server creates the session, and which one updates it (the other one destroys it). */
  createFar: boolean;
  updateFar: boolean;
  updateAt: number;
  destroyAt: number;
}

function pick<T>(values: readonly T[]): T {
  return values[Math.floor(Math.random() * values.length)] as T;
}

function planTrial(maxOffsetMs: number): Plan {
  return {
    shape: pick(SHAPES),
    binding: pick(BINDINGS),
    createFar: Math.random() < 0.5,
    updateFar: Math.random() < 0.5,
    updateAt: randomInt(maxOffsetMs),
    destroyAt: randomInt(maxOffsetMs),
  };
}

function deltaFor(plan: Plan, user: string, moved: string, trial: number): SessionDelta {
  const now = Date.now();
  const delta: SessionDelta = {
    set: {},
    unset: [],
    cookie: {
      originalMaxAge: 120_000,
      expires: new Date(now + 120_000).toISOString(),
      httpOnly: true,
      path: '/',
    },
    expiresAt: now + 120_000,
    lastSeenAt: now,
  };
  if (plan.shape !== 'meta') {
    delta.set = { marker: `updated-${trial}`, cart: [trial] };
    delta.unset = plan.shape === 'replace' ? [] : ['gone'];
  }
  if (plan.shape === 'replace') delta.replace = true;
  if (plan.shape === 'capped') delta.maxBytes = 4096;
  if (plan.binding === 'same') delta.userId = user;
  if (plan.binding === 'move') delta.userId = moved;
  return delta;
}

interface Span {
  start: number;
  end: number;
}

/** Waits `at` ms (0: starts now), then runs `call`, noting when it was in flight. */
async function timed<T>(at: number, span: Span, call: () => Promise<T>): Promise<T> {
  if (at > 0) await sleep(at);
  span.start = performance.now();
  try {
    return await call();
  } finally {
    span.end = performance.now();
  }
}

interface TrialResult {
  updated: boolean;
  /** Both calls were in flight at the same time. */
  overlapped: boolean;
  /** A destroyByUser lost to an update that had moved the session to another user first: it lives on, there. */
  moved: boolean;
  /** What was wrong, or null. */
  problem: string | null;
}

type Kind = 'destroy' | 'destroyByUser';

async function raceOnce(
  pair: Pair,
  kind: Kind,
  run: string,
  trial: number,
  maxOffsetMs: number,
): Promise<TrialResult> {
  const plan = planTrial(maxOffsetMs);
  const user = `${run}-${trial}`;
  const moved = `${user}-moved`;
  const id = generateId();
  const handle = storageKey(id);
  const creator = plan.createFar ? pair.far : pair.near;
  if (!(await creator.create(id, recordOf(user))))
    return { updated: false, overlapped: false, moved: false, problem: 'create refused' };

  const updater = plan.updateFar ? pair.far : pair.near;
  const destroyer = plan.updateFar ? pair.near : pair.far;
  const delta = deltaFor(plan, user, moved, trial);
  const u: Span = { start: 0, end: 0 };
  const d: Span = { start: 0, end: 0 };
  const [updated] = await Promise.all([
    timed(plan.updateAt, u, () => updater.update(id, delta)),
    timed(plan.destroyAt, d, async () => {
      if (kind === 'destroy') await destroyer.destroy(id);
      else await destroyer.destroyByUser(user);
    }),
  ]);
  const overlapped = u.start < d.end && d.start < u.end;

  // What each server sees afterwards: the session, and whether it is listed under each user it was bound to.
  const users = plan.binding === 'move' ? [user, moved] : [user];
  const views = await Promise.all(
    [pair.far, pair.near].map(async (store) => {
      const [loaded, ...lists] = await Promise.all([store.get(id), ...users.map((u) => store.listByUser(u))]);
      return { loaded, listed: lists.map((list) => list.some((s) => s.handle === handle)) };
    }),
  );
  const seen = views.map(
    (v, i) =>
      `${i === 0 ? 'far' : 'near'}: get ${v.loaded ? `bound to ${v.loaded.userId}` : 'null'}, listed ${JSON.stringify(v.listed)}`,
  );
  const what = `trial ${trial} ${kind} vs ${plan.shape}/${plan.binding} update via ${plan.updateFar ? 'far' : 'near'} (update at ${plan.updateAt} ms, ${kind} at ${plan.destroyAt} ms), update returned ${updated}: ${seen.join('; ')}`;

  // The one session allowed to live: destroyByUser(user) ran after the update had moved it to `moved`.
  if (kind === 'destroyByUser' && plan.binding === 'move' && updated) {
    // Alive on both servers, bound to the new user, with the update's change in it.
    const marker = plan.shape === 'meta' ? 'created' : `updated-${trial}`;
    const live = views.every((v) => v.loaded?.userId === moved && v.loaded.data.marker === marker);
    const listedRight = views.every((v) => v.listed[0] === false && v.listed[1] === true);
    await pair.near.destroy(id);
    const gone = (await pair.far.get(id)) === null && (await pair.near.get(id)) === null;
    return {
      updated,
      overlapped,
      moved: true,
      problem: live && listedRight && gone ? null : `moved session not where it belongs: ${what}`,
    };
  }
  const survived = views.some((v) => v.loaded !== null || v.listed.some(Boolean));
  return { updated, overlapped, moved: false, problem: survived ? `survivor: ${what}` : null };
}

interface Tally {
  trials: number;
  updated: number;
  notUpdated: number;
  overlapped: number;
  moved: number;
  problems: string[];
  errors: string[];
}

/** Runs `trials` races, a lane per pair; a thrown error stops every lane and is reported, not left running. */
async function race(pairs: Pair[], kind: Kind, trials: number, maxOffsetMs: number): Promise<Tally> {
  const lanes = pairs.length;
  const run = runNamespace(kind === 'destroy' ? 'ud' : 'udu');
  const tally: Tally = {
    trials: 0,
    updated: 0,
    notUpdated: 0,
    overlapped: 0,
    moved: 0,
    problems: [],
    errors: [],
  };
  await Promise.all(
    pairs.map(async (pair, lane) => {
      for (let trial = lane; trial < trials && tally.errors.length === 0; trial += lanes) {
        try {
          const result = await raceOnce(pair, kind, run, trial, maxOffsetMs);
          tally.trials++;
          if (result.updated) tally.updated++;
          else tally.notUpdated++;
          if (result.overlapped) tally.overlapped++;
          if (result.moved) tally.moved++;
          if (result.problem) tally.problems.push(result.problem);
        } catch (error) {
          tally.errors.push(`trial ${trial}: ${error instanceof Error ? error.stack : String(error)}`);
        }
      }
    }),
  );
  return tally;
}

function check(tally: Tally, trials: number): void {
  expect(tally.errors).toEqual([]);
  expect(tally.problems.slice(0, 5)).toEqual([]);
  expect(tally.problems.length).toBe(0);
  expect(tally.trials).toBe(trials);
  // The race ran both ways, and the calls were in flight together: otherwise the test proved nothing.
  expect(tally.updated).toBeGreaterThan(0);
  expect(tally.notUpdated).toBeGreaterThan(0);
  expect(tally.overlapped).toBeGreaterThan(0);
}

async function proxied(url: string): Promise<{ proxy: WireProxy; via: string }> {
  const target = new URL(url);
  const proxy = new WireProxy(target.hostname, Number(target.port));
  await proxy.start();
  return { proxy, via: urlVia(url, '127.0.0.1', proxy.port) };
}

/** Probed once: the store races and the HTTP races both need it (and in CI its absence fails the file). */
const redisSkip = await redisSkipReason(REDIS_URL);

async function targets(): Promise<RaceTarget[]> {
  const out: RaceTarget[] = [];

  {
    // Made on open, not here: a run that filters this store out never opens it, and would leave it behind.
    let dir = '';
    out.push({
      name: 'sqlite',
      skip: false,
      trials: TRIALS,
      maxOffsetMs: 2,
      async open() {
        dir = mkdtempSync(join(tmpdir(), 'sk-update-race-'));
        const file = join(dir, 'sessions.db');
        // Two connections to one file: two app servers on one host.
        const far = raceable(await createStore(`sqlite://${file}?pruneInterval=false`));
        const near = raceable(await createStore(`sqlite://${file}?pruneInterval=false`));
        return shared({ far, near, proxy: null });
      },
      async dispose(pairs) {
        for (const pair of unique(pairs)) {
          await pair.far.close?.();
          await pair.near.close?.();
        }
        if (dir) rmSync(dir, { recursive: true, force: true });
      },
    });
  }

  // All lanes on one table, as one deployment: a statement that locks more than its own session's row
  // (an expired-row delete planned on MariaDB's expires_at index) deadlocks against other sessions' updates.
  for (const [name, url, exec, quote] of [
    ['postgres', POSTGRES_URL, pgExec, (t: string) => t],
    ['mysql', MYSQL_URL, mysqlExec, (t: string) => `\`${t}\``],
  ] as const) {
    const table = runNamespace('skud');
    const skip = await serviceSkipReason(name === 'postgres' ? 'PostgreSQL' : 'MariaDB', () =>
      exec(url, 'SELECT 1'),
    );
    out.push({
      name,
      skip,
      trials: TRIALS,
      maxOffsetMs: 6,
      async open() {
        const { proxy, via } = await proxied(url);
        const far = raceable(await createStore(`${via}?table=${table}&pruneInterval=false`));
        const near = raceable(await createStore(`${url}?table=${table}&pruneInterval=false`));
        return shared({ far, near, proxy });
      },
      async dispose(pairs) {
        for (const pair of unique(pairs)) {
          await pair.far.close?.();
          await pair.near.close?.();
          await pair.proxy?.stop();
        }
        await exec(url, `DROP TABLE IF EXISTS ${quote(table)}, ${quote(`${table}_epochs`)}`);
      },
    });
  }

  {
    const prefix = `${runNamespace('skud')}:`;
    const skip = redisSkip;
    out.push({
      name: 'redis',
      skip,
      trials: TRIALS,
      maxOffsetMs: 4,
      async open() {
        const { proxy, via } = await proxied(REDIS_URL);
        const far = raceable(await createStore(`${via}?prefix=${encodeURIComponent(prefix)}`));
        const near = raceable(await createStore(`${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`));
        return shared({ far, near, proxy });
      },
      async dispose(pairs) {
        for (const pair of unique(pairs)) {
          // Every key under the prefix: sessions, user indexes, revocation epochs.
          await pair.near.clear?.();
          await pair.far.close?.();
          await pair.near.close?.();
          await pair.proxy?.stop();
        }
      },
    });
  }

  {
    // Two clients of one server (the stand-in serves every connection from one in-process state).
    const name = runNamespace('skud');
    let target: MongoTarget | null = null;
    out.push({
      name: 'mongodb',
      skip: false,
      trials: TRIALS,
      maxOffsetMs: 6,
      async open() {
        target = await mongoTarget();
        const { proxy, via } = await proxied(target.url);
        const at = (base: string) => {
          const u = new URL(base);
          u.pathname = `/${name}`;
          u.searchParams.set('collection', name);
          return u.href;
        };
        const far = raceable(await createStore(at(via)));
        const near = raceable(await createStore(at(target.url)));
        return shared({ far, near, proxy });
      },
      async dispose(pairs) {
        for (const pair of unique(pairs)) {
          await pair.far.close?.();
          await pair.near.close?.();
          await pair.proxy?.stop();
        }
        if (target?.kind === 'real') {
          // The database this file made, collections and indexes with it (the stand-in keeps nothing).
          const { MongoClient } = await import('mongodb');
          const client = new MongoClient(target.url);
          try {
            await client.db(name).dropDatabase();
          } finally {
            await client.close();
          }
        }
        await target?.close();
      },
    });
  }
  return out;
}

// The stores race side by side, each with its own instances, proxies and names; within a store the two
// races run one after the other, as they share the instances.
for (const target of await targets()) {
  describe.skipIf(target.skip)(`update racing a destroy on ${target.name}`, { concurrent: true }, () => {
    let pairs: Pair[] = [];

    beforeAll(async () => {
      pairs = await target.open();
      // Warm every server up (connections, tables, scripts, prepared statements), so that trials race on
      // the store calls alone.
      for (const pair of unique(pairs)) {
        for (const store of [pair.far, pair.near]) {
          const id = generateId();
          const user = runNamespace('warm');
          await store.create(id, recordOf(user));
          const plan: Plan = { ...planTrial(0), shape: 'merge', binding: 'move' };
          await store.update(id, deltaFor(plan, user, `${user}-m`, 0));
          await store.get(id);
          await store.listByUser(user);
          await store.destroyByUser(`${user}-m`);
          await store.destroy(id);
        }
        if (pair.proxy) pair.proxy.maxDelayMs = WIRE_DELAY_MS;
      }
    });

    afterAll(async () => {
      for (const pair of unique(pairs)) pair.proxy?.releaseAll();
      if (pairs.length > 0) await target.dispose(pairs);
    });

    it.sequential(`update vs destroy(id) on the other server: zero survivors (${target.trials.destroy} trials)`, async () => {
      check(await race(pairs, 'destroy', target.trials.destroy, target.maxOffsetMs), target.trials.destroy);
    }, 60_000);

    it.sequential(`update vs destroyByUser(user) on the other server: zero survivors (${target.trials.destroyByUser} trials)`, async () => {
      const { destroyByUser: trials } = target.trials;
      check(await race(pairs, 'destroyByUser', trials, target.maxOffsetMs), trials);
    }, 60_000);
  });
}

// ---------------------------------------------------------------------------------------------- HTTP

const secret = 'update-destroy-race-secret-0123456789abcdef';
const HTTP_TRIALS = 40;

/** An app server: its own store instance, so its own connection to Redis. */
function appOn(store: RaceStore): express.Express {
  const app = express();
  app.use(session({ secret, store, resave: false, saveUninitialized: false }));
  app.get('/login', async (req, res) => {
    await login(req.session, String(req.query.user));
    res.send('in');
  });
  app.get('/write', async (req, res) => {
    // The session was loaded before this handler ran; the work in between is what a logout can land in.
    const wait = Number(req.query.wait);
    if (wait > 0) await sleep(wait);
    req.session.cart = [String(req.query.n)];
    // Who the session was when this request loaded it: a user means the logout had not landed yet.
    res.send(String(currentUserId(req.session)));
  });
  app.get('/logout', async (req, res) => {
    await logout(req.session);
    res.send('bye');
  });
  app.get('/logout-everywhere', async (req, res) => {
    await store.destroyByUser(String(req.query.user));
    res.send('bye');
  });
  app.get('/whoami', (req, res) => {
    res.send(String(currentUserId(req.session)));
  });
  return app;
}

async function listen(app: express.Express): Promise<{ server: Server; url: string }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

describe.skipIf(redisSkip)(
  'two Express apps on Redis: a write racing a logout on the other app',
  { concurrent: true },
  () => {
    const prefix = `${runNamespace('skudh')}:`;
    let proxy: WireProxy;
    let stores: RaceStore[] = [];
    let servers: Server[] = [];
    let urls: string[] = [];

    beforeAll(async () => {
      const link = await proxied(REDIS_URL);
      proxy = link.proxy;
      stores = [
        raceable(await createStore(`${link.via}?prefix=${encodeURIComponent(prefix)}`)),
        raceable(await createStore(`${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`)),
      ];
      const listening = await Promise.all(stores.map((store) => listen(appOn(store))));
      servers = listening.map((l) => l.server);
      urls = listening.map((l) => l.url);
      for (const url of urls) {
        const cookie = cookieOf(await request(url).get('/login?user=warm-up').expect(200));
        await request(url).get('/write?n=0').set('Cookie', cookie).expect(200);
        await request(url).get('/logout').set('Cookie', cookie).expect(200);
      }
      proxy.maxDelayMs = WIRE_DELAY_MS;
    });

    afterAll(async () => {
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
      await stores[1]?.clear?.();
      for (const store of stores) await store.close?.();
      await proxy?.stop();
    });

    interface HttpTally {
      trials: number;
      /** The write loaded the session while it was still logged in: the trials where a write-back could revive it. */
      loadedLive: number;
      overlapped: number;
      problems: string[];
      errors: string[];
    }

    /** One login, then a write on one app against a logout on the other; counts what came back. */
    async function httpRace(variant: 'logout' | 'logout-everywhere', trials: number): Promise<HttpTally> {
      const run = runNamespace('http');
      const tally: HttpTally = { trials: 0, loadedLive: 0, overlapped: 0, problems: [], errors: [] };
      await Promise.all(
        Array.from({ length: 2 }, async (_, lane) => {
          for (let trial = lane; trial < trials && tally.errors.length === 0; trial += 2) {
            try {
              const user = `${run}-${trial}`;
              const writeOn = randomInt(1);
              const writer = urls[writeOn] as string;
              const revoker = urls[1 - writeOn] as string;
              const cookie = cookieOf(await request(pick(urls)).get(`/login?user=${user}`).expect(200));
              const id = idOf(cookie);
              const wait = randomInt(6);
              const logoutAt = randomInt(6);
              const path = variant === 'logout' ? '/logout' : `/logout-everywhere?user=${user}`;
              const w: Span = { start: 0, end: 0 };
              const l: Span = { start: 0, end: 0 };
              const [written, loggedOut] = await Promise.all([
                timed(0, w, async () =>
                  request(writer).get(`/write?n=${trial}&wait=${wait}`).set('Cookie', cookie),
                ),
                timed(logoutAt, l, async () => request(revoker).get(path).set('Cookie', cookie)),
              ]);
              tally.trials++;
              if (w.start < l.end && l.start < w.end) tally.overlapped++;
              const who = await Promise.all(
                urls.map((url) => request(url).get('/whoami').set('Cookie', cookie)),
              );
              const loaded = await Promise.all(stores.map((store) => store.get(id)));
              const listed = await Promise.all(stores.map((store) => store.listByUser(user)));
              if (written.text === user) tally.loadedLive++;
              const back =
                loggedOut.status !== 200 ||
                written.status >= 500 ||
                who.some((r) => r.text !== 'null') ||
                loaded.some((r) => r !== null) ||
                listed.some((list) => list.length > 0);
              if (back)
                tally.problems.push(
                  `trial ${trial} ${variant}: write (wait ${wait} ms) ${written.status} on app ${writeOn}, logout at ${logoutAt} ms ${loggedOut.status}; whoami ${who.map((r) => r.text).join('/')}; get ${loaded.map((r) => (r ? `cart ${JSON.stringify(r.data.cart)}` : 'null')).join('/')}; listed ${listed.map((list) => list.length).join('/')}`,
                );
            } catch (error) {
              tally.errors.push(`trial ${trial}: ${error instanceof Error ? error.stack : String(error)}`);
            }
          }
        }),
      );
      return tally;
    }

    for (const variant of ['logout', 'logout-everywhere'] as const) {
      it.sequential(`a request that loaded the session writes while ${variant} lands on the other app: never back (${HTTP_TRIALS} trials)`, async () => {
        const tally = await httpRace(variant, HTTP_TRIALS);
        expect(tally.errors).toEqual([]);
        expect(tally.problems.slice(0, 5)).toEqual([]);
        expect(tally.problems.length).toBe(0);
        expect(tally.trials).toBe(HTTP_TRIALS);
        expect(tally.overlapped).toBeGreaterThan(0);
        expect(tally.loadedLive).toBeGreaterThan(0);
      }, 60_000);
    }
  },
);
