import type { Server } from 'node:http';
import type { RequestHandler } from 'express';
import express from 'express';
import expressSession from 'express-session';
import session from '../../src/index.js';
import type { AnyStore } from '../../src/stores/factory.js';

/**
 * The lost-update experiment behind `npm run bench:lost-updates` and test/security/lost-updates.test.ts:
 * one session, N concurrent requests that each set a different key, all loaded before any of them saves.
 * A whole-object writer (express-session) keeps only the last request's view; a delta writer keeps all.
 */

export const LOST_UPDATE_SECRET = 'lost-updates-secret-0123456789abcdef012';

export interface LostUpdateResult {
  subject: string;
  rounds: number;
  requests: number;
  lost: number;
  /** Lost keys per round, for the spread. */
  perRound: number[];
  /** Wall time of the whole measurement. */
  ms: number;
}

export interface LostUpdateOptions {
  /** Concurrent requests per round, each setting its own key. */
  concurrency: number;
  rounds: number;
  /** Each handler waits until every request has loaded the session (or this many ms), so they truly overlap. */
  overlapMs?: number;
  /**
   * Instead of that barrier, each handler works a random 0–jitterMs ms (seeded), as real handlers do:
   * requests overlap only partly, which is what an application sees in production.
   */
  jitterMs?: number;
}

/** A small seeded generator (mulberry32), so the jittered runs are repeatable. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** sessionkit on the given store, configured as the README recommends. */
export function sessionkitMiddleware(store: AnyStore): RequestHandler {
  return session({
    secret: LOST_UPDATE_SECRET,
    store,
    resave: false,
    saveUninitialized: false,
    storeTimeout: 10_000,
  }) as unknown as RequestHandler;
}

/** express-session with its MemoryStore, with the settings its README recommends (no resave). */
export function expressSessionMiddleware(): RequestHandler {
  return expressSession({
    secret: LOST_UPDATE_SECRET,
    store: new expressSession.MemoryStore(),
    resave: false,
    saveUninitialized: false,
  });
}

type Bag = Record<string, unknown>;

export async function measureLostUpdates(
  subject: string,
  middleware: RequestHandler,
  options: LostUpdateOptions,
): Promise<LostUpdateResult> {
  const { concurrency, rounds, overlapMs = 2_000, jitterMs } = options;
  const random = seeded(0x1057);
  let arrived = 0;
  let allArrived: () => void = () => undefined;
  let everyoneIn = Promise.resolve();

  const app = express();
  app.use(middleware);
  app.get('/init', (req, res) => {
    (req.session as unknown as Bag).start = 1;
    res.send('ok');
  });
  app.get('/set/:key', async (req, res) => {
    // Every request has loaded the same version of the session before any of them changes it.
    if (jitterMs !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, random() * jitterMs));
    } else {
      arrived++;
      if (arrived === concurrency) allArrived();
      await Promise.race([everyoneIn, new Promise((resolve) => setTimeout(resolve, overlapMs))]);
    }
    (req.session as unknown as Bag)[req.params.key] = true;
    res.send('ok');
  });
  app.get('/dump', (req, res) => res.json({ ...(req.session as unknown as Bag) }));

  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const perRound: number[] = [];
  const started = performance.now();
  try {
    for (let round = 0; round < rounds; round++) {
      const init = await fetch(`${base}/init`);
      const setCookie = init.headers.get('set-cookie');
      if (!setCookie) throw new Error(`${subject}: /init set no cookie`);
      const cookie = setCookie.split(';')[0] as string;
      arrived = 0;
      everyoneIn = new Promise<void>((resolve) => {
        allArrived = resolve;
      });
      const keys = Array.from({ length: concurrency }, (_, i) => `k${round}_${i}`);
      const answers = await Promise.all(
        keys.map((key) => fetch(`${base}/set/${key}`, { headers: { cookie } })),
      );
      for (const answer of answers) {
        if (answer.status !== 200) throw new Error(`${subject}: /set answered ${answer.status}`);
        await answer.arrayBuffer();
      }
      const dump = (await (await fetch(`${base}/dump`, { headers: { cookie } })).json()) as Bag;
      perRound.push(keys.filter((key) => dump[key] !== true).length);
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  return {
    subject,
    rounds,
    requests: rounds * concurrency,
    lost: perRound.reduce((a, b) => a + b, 0),
    perRound,
    ms: performance.now() - started,
  };
}

export function formatTable(results: LostUpdateResult[]): string {
  const rows = [
    ['subject', 'rounds', 'writes', 'lost', 'lost %', 'lost per round (min–max)', 'time'],
    ...results.map((r) => [
      r.subject,
      String(r.rounds),
      String(r.requests),
      String(r.lost),
      `${((100 * r.lost) / r.requests).toFixed(1)} %`,
      `${Math.min(...r.perRound)}–${Math.max(...r.perRound)}`,
      `${(r.ms / 1000).toFixed(1)} s`,
    ]),
  ];
  const widths = (rows[0] as string[]).map((_, c) =>
    Math.max(...rows.map((row) => (row[c] as string).length)),
  );
  const line = (row: string[]) => `| ${row.map((cell, c) => cell.padEnd(widths[c] as number)).join(' | ')} |`;
  return [
    line(rows[0] as string[]),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.slice(1).map(line),
  ].join('\n');
}
