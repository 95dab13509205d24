import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import connectPgSimple from 'connect-pg-simple';
import express from 'express';
import type { Document } from 'mongodb';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import session from '../../src/index.js';
import { instrumentOpenTelemetry, type OpenTelemetryInstrumentation } from '../../src/otel.js';
import { type AnyStore, createStore } from '../../src/stores/factory.js';
import { MongoStore } from '../../src/stores/mongodb.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';
import { cookieOf } from '../support/apps.js';
import { MYSQL_URL, mysqlExec, POSTGRES_URL, pgExec, REDIS_URL } from '../support/interleave.js';
import { type MongoWireServer, startMongoWireServer } from '../support/mongo-wire-server.js';
import { type Recorded, recordChannels, textOf } from '../support/observability.js';
import { redisSkipReason } from '../support/redis.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';

/**
 * C28 and C30 under a failing store. Drivers quote what they were sent: PostgreSQL's CHECK violation
 * DETAIL "Failing row contains (…)", a trigger's RAISE or SIGNAL text, mysql2's `sql` (the statement with
 * its values inlined), ioredis's `command.args`, a MongoDB validation error's considered values or an
 * E11000 message's duplicate key. Each real store is made to refuse writes whose data carries a "poison"
 * word, then a session holding a secret value and a user ID is written through Express and Fastify (an
 * update of a stored session, and a create). sessionkit's own signals (every diagnostics_channel message,
 * OpenTelemetry spans and metrics, the NODE_DEBUG trace) and the default error responses must hold none
 * of the session IDs, the cookie secret or the data. The error the application gets keeps the driver's
 * error as its `cause` (its own to log), but its message and stack name that error by class and code only.
 */

const SECRET = 'telemetry-leaks-secret-0123456789abcdefgh';
const tag = Math.random().toString(36).slice(2, 10);
/** A value of the session's data an attacker of the logs would want. */
const DATA = `tlk-data-${tag}`;
/** A user ID kept in the data. */
const USER = `tlk-user-${tag}`;

interface Target {
  name: string;
  skip: string | false;
  /** Data words the armed backend refuses, each a different way. */
  poisons: string[];
  /** The error the application gets is sessionkit's StoreError (not an express-session store's own). */
  typed: boolean;
  /** The driver's error quotes the data (the attack reached the driver); false where it does not. */
  echoes: boolean;
  open(): Promise<AnyStore>;
  /** Makes the backend refuse writes carrying a poison; called once clean sessions are stored. */
  arm(store: AnyStore): Promise<void>;
  dispose(store: AnyStore | undefined): Promise<void>;
}

const table = runNamespace('tlk');
const legacyTable = runNamespace('tlk_cps');

const pgReachable = await serviceSkipReason('PostgreSQL', () => pgExec(POSTGRES_URL, 'SELECT 1'));
const mysqlReachable = await serviceSkipReason('MariaDB', () => mysqlExec(MYSQL_URL, 'SELECT 1'));
const redisReachable = await redisSkipReason(REDIS_URL);

/** A PL/pgSQL trigger function raising with the row's text when it holds `poison`. */
function pgRaise(name: string, column: string, poison: string): string {
  return `CREATE FUNCTION ${name}() RETURNS trigger AS $$ BEGIN
    IF NEW.${column}::text LIKE '%${poison}%' THEN RAISE EXCEPTION 'refused: %', NEW.${column}; END IF;
    RETURN NEW; END $$ LANGUAGE plpgsql`;
}

/** A Redis ACL user of this run's own, so that its rights can be cut without touching anyone else's. */
function redisTarget(client: 'redis' | 'ioredis'): Target {
  const user = runNamespace(`tlk_${client}`);
  const admin = async <T>(fn: (redis: import('ioredis').Redis) => Promise<T>): Promise<T> => {
    const { Redis } = await import('ioredis');
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      return await fn(redis);
    } finally {
      redis.disconnect();
    }
  };
  return {
    name: `Redis (${client})`,
    skip: redisReachable,
    poisons: ['poison-acl'],
    typed: true,
    // ioredis puts a failed command's arguments on its error; node-redis does not.
    echoes: client === 'ioredis',
    async open() {
      await admin((redis) => redis.call('ACL', 'SETUSER', user, 'on', `>${tag}`, '~*', '&*', '+@all'));
      const url = new URL(REDIS_URL);
      url.username = user;
      url.password = tag;
      url.search = `?client=${client}&prefix=${encodeURIComponent(`${user}:`)}`;
      return createStore(url.href);
    },
    // Every write script then fails at its HSET, with NOPERM.
    arm: () => admin((redis) => redis.call('ACL', 'SETUSER', user, '-hset')).then(() => undefined),
    async dispose(store) {
      try {
        await admin((redis) => redis.call('ACL', 'SETUSER', user, '+hset'));
        await store?.clear?.();
        await store?.close?.();
      } finally {
        await admin((redis) => redis.call('ACL', 'DELUSER', user));
      }
    },
  };
}

let mongo: MongoWireServer | null = null;

const targets: Target[] = [
  {
    name: 'PostgreSQL',
    skip: pgReachable,
    poisons: ['poison-check', 'poison-raise'],
    typed: true,
    echoes: true,
    open: () => createStore(`${POSTGRES_URL}?table=${table}&pruneInterval=false`),
    arm: () =>
      pgExec(
        POSTGRES_URL,
        `ALTER TABLE ${table} ADD CONSTRAINT ${table}_poison CHECK (data NOT LIKE '%poison-check%');
         ${pgRaise(`${table}_raise`, 'data', 'poison-raise')};
         CREATE TRIGGER ${table}_raise BEFORE INSERT OR UPDATE ON ${table}
           FOR EACH ROW EXECUTE FUNCTION ${table}_raise()`,
      ),
    async dispose(store) {
      await store?.close?.();
      await pgExec(POSTGRES_URL, `DROP TABLE IF EXISTS ${table}, ${table}_epochs`);
      await pgExec(POSTGRES_URL, `DROP FUNCTION IF EXISTS ${table}_raise()`);
    },
  },
  {
    // An express-session store behind the bridge: it files rows under the raw ID, so PostgreSQL's
    // "Failing row contains (…)" quotes the session ID itself.
    name: 'connect-pg-simple (express-session store)',
    skip: pgReachable,
    poisons: ['poison-check', 'poison-raise'],
    typed: false,
    echoes: true,
    async open() {
      await pgExec(
        POSTGRES_URL,
        `CREATE TABLE ${legacyTable} (sid varchar NOT NULL PRIMARY KEY, sess json NOT NULL, expire timestamp(6) NOT NULL)`,
      );
      const PgSession = connectPgSimple(session);
      return new PgSession({
        conString: POSTGRES_URL,
        tableName: legacyTable,
        pruneSessionInterval: false,
      }) as unknown as AnyStore;
    },
    arm: () =>
      pgExec(
        POSTGRES_URL,
        `ALTER TABLE ${legacyTable} ADD CONSTRAINT ${legacyTable}_poison CHECK (sess::text NOT LIKE '%poison-check%');
         ${pgRaise(`${legacyTable}_raise`, 'sess', 'poison-raise')};
         CREATE TRIGGER ${legacyTable}_raise BEFORE INSERT OR UPDATE ON ${legacyTable}
           FOR EACH ROW EXECUTE FUNCTION ${legacyTable}_raise()`,
      ),
    async dispose(store) {
      await store?.close?.();
      await pgExec(POSTGRES_URL, `DROP TABLE IF EXISTS ${legacyTable}`);
      await pgExec(POSTGRES_URL, `DROP FUNCTION IF EXISTS ${legacyTable}_raise()`);
    },
  },
  {
    name: 'MariaDB',
    skip: mysqlReachable,
    poisons: ['poison-check', 'poison-raise'],
    typed: true,
    echoes: true,
    open: () => createStore(`${MYSQL_URL}?table=${table}&pruneInterval=false`),
    async arm() {
      await mysqlExec(
        MYSQL_URL,
        `ALTER TABLE \`${table}\` ADD CONSTRAINT \`${table}_poison\` CHECK (data NOT LIKE '%poison-check%')`,
      );
      for (const [suffix, event] of [
        ['i', 'INSERT'],
        ['u', 'UPDATE'],
      ])
        await mysqlExec(
          MYSQL_URL,
          `CREATE TRIGGER \`${table}_${suffix}\` BEFORE ${event} ON \`${table}\` FOR EACH ROW
           BEGIN DECLARE quoted VARCHAR(500) DEFAULT LEFT(NEW.data, 500);
             IF NEW.data LIKE '%poison-raise%' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = quoted; END IF;
           END`,
        );
    },
    async dispose(store) {
      await store?.close?.();
      await mysqlExec(MYSQL_URL, `DROP TABLE IF EXISTS \`${table}\`, \`${table}_epochs\``);
    },
  },
  {
    name: 'SQLite',
    skip: false,
    poisons: ['poison-raise'],
    typed: true,
    echoes: true,
    open: async () => new SQLiteStore(':memory:', { table }),
    async arm(store) {
      for (const event of ['INSERT', 'UPDATE'])
        (store as SQLiteStore).db.exec(
          `CREATE TRIGGER ${table}_${event} BEFORE ${event} ON ${table} WHEN NEW.data LIKE '%poison-raise%'
           BEGIN SELECT RAISE(ABORT, 'refused: ' || NEW.data); END`,
        );
    },
    dispose: async (store) => store?.close?.(),
  },
  redisTarget('ioredis'),
  redisTarget('redis'),
  {
    // The stand-in answers a poisoned write as a real server does: an insert with a validation error
    // whose errInfo lists the values it considered, an update with an E11000 that quotes the key.
    name: 'MongoDB (wire stand-in)',
    skip: false,
    poisons: ['poison-mongo'],
    typed: true,
    echoes: true,
    async open() {
      mongo = await startMongoWireServer();
      return new MongoStore({ url: mongo.url, dbName: 'test', collectionName: table });
    },
    async arm() {
      const router = (mongo as MongoWireServer).router;
      const answer = router.run.bind(router);
      router.run = (command: Document): Document => {
        const name = Object.keys(command)[0];
        const text = JSON.stringify(command);
        if (!text.includes('poison-mongo')) return answer(command);
        if (name === 'insert') {
          const doc = (command.documents as Document[])[0] as Document;
          const errInfo = { failingDocumentId: doc._id, details: { consideredValue: doc.data } };
          return {
            ok: 1,
            n: 0,
            writeErrors: [{ index: 0, code: 121, errmsg: 'Document failed validation', errInfo }],
          };
        }
        if (name === 'update') {
          const errmsg = `E11000 duplicate key error collection: test.${table} index: data_1 dup key: ${text}`;
          return { ok: 1, n: 0, nModified: 0, writeErrors: [{ index: 0, code: 11000, errmsg }] };
        }
        return answer(command);
      };
    },
    async dispose(store) {
      await store?.close?.();
      await mongo?.close();
    },
  },
];

interface Harness {
  otel: OpenTelemetryInstrumentation;
  /** Every metric data point's attributes and every finished span's name, attributes, status and events. */
  collect(): Promise<{ text: string; errorSpans: number }>;
  close(): Promise<void>;
}

async function otelHarness(): Promise<Harness> {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const otel = await instrumentOpenTelemetry({ meterProvider, tracerProvider });
  return {
    otel,
    async collect() {
      exporter.reset();
      await reader.forceFlush();
      const metrics = exporter
        .getMetrics()
        .flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics))
        .map((metric) => ({
          name: metric.descriptor.name,
          points: metric.dataPoints.map((point) => point.attributes),
        }));
      const finished = spans.getFinishedSpans();
      const text = textOf({
        metrics,
        spans: finished.map((s) => ({
          name: s.name,
          attributes: s.attributes,
          status: s.status,
          events: s.events,
        })),
      });
      spans.reset();
      return { text, errorSpans: finished.filter((s) => s.status.code === 2).length };
    },
    async close() {
      otel.disable();
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    },
  };
}

/** Expects none of the session IDs and not the cookie secret in `text`. */
function expectNoIds(what: string, text: string, ids: Iterable<string>): void {
  for (const id of ids) expect(text, `${what} holds the session ID ${id.slice(0, 6)}…`).not.toContain(id);
  expect(text, `${what} holds the cookie secret`).not.toContain(SECRET);
}

/** Expects none of the session IDs, the cookie secret, the data value or the user ID in `text`. */
function expectClean(what: string, text: string, ids: Iterable<string>): void {
  expectNoIds(what, text, ids);
  expect(text, `${what} holds the session's data`).not.toContain(DATA);
  expect(text, `${what} holds the user ID of the session's data`).not.toContain(USER);
}

/** An error as the application sees it at a glance: message, stack and own fields, its `cause` aside. */
function withoutCause(error: unknown): string {
  if (!(error instanceof Error)) return textOf(error);
  const fields = Object.fromEntries(Object.entries(error).filter(([key]) => key !== 'cause'));
  return textOf({ message: error.message, stack: error.stack, fields });
}

interface Response {
  status: number;
  body: string;
  cookie: string | null;
}

/** One browser request to both frameworks' apps over `store`: `/write?flag=…` stores data, poisoned or not. */
async function apps(store: AnyStore) {
  const ids = new Set<string>();
  const appErrors: unknown[] = [];
  const events: unknown[] = [];
  const writeData = (req: { sessionID: string; session: unknown }, flag: string) => {
    ids.add(req.sessionID);
    const data = req.session as Record<string, unknown>;
    data.visits = 1;
    if (flag !== 'clean') Object.assign(data, { secret: DATA, userId: USER, flag });
  };
  const options = { secret: SECRET, store, resave: false, saveUninitialized: false, storeTimeout: 3_000 };

  const app = express();
  // Express's default error page shows the stack outside 'production' (and logs it outside 'test').
  app.set('env', 'test');
  const middleware = session(options);
  middleware.manager.on('error', (error) => events.push(error));
  app.use(middleware);
  app.get('/write', (req, res) => {
    writeData(req, String(req.query.flag));
    res.send('ok');
  });
  // Sees what the application's handler would, then leaves the answer to Express's default.
  app.use(((err, _req, _res, next) => {
    appErrors.push(err);
    next(err);
  }) as express.ErrorRequestHandler);

  const fastify = (await import('fastify')).default();
  await fastify.register(fastifySession, options);
  fastify.sessionManager.on('error', (error) => events.push(error));
  fastify.addHook('onError', (_request, _reply, error, done) => {
    appErrors.push(error);
    done();
  });
  fastify.get('/write', async (req) => {
    writeData(req, String((req.query as Record<string, unknown>).flag));
    return 'ok';
  });
  await fastify.ready();

  const viaExpress = async (flag: string, cookie: string | null): Promise<Response> => {
    const res = await request(app)
      .get(`/write?flag=${flag}`)
      .set('Cookie', cookie ?? '');
    return { status: res.status, body: res.text, cookie: res.headers['set-cookie'] ? cookieOf(res) : null };
  };
  const viaFastify = async (flag: string, cookie: string | null): Promise<Response> => {
    const res = await fastify.inject({
      method: 'GET',
      url: `/write?flag=${flag}`,
      headers: cookie ? { cookie } : {},
    });
    const set = res.headers['set-cookie'];
    const first = Array.isArray(set) ? set[0] : set;
    return { status: res.statusCode, body: res.body, cookie: first ? (first.split(';')[0] as string) : null };
  };
  return { ids, appErrors, events, clients: [viaExpress, viaFastify], close: () => fastify.close() };
}

/** Store failures on the tracing channels: the `error` events' messages. */
const failures = (records: Recorded[]) =>
  records
    .filter((r) => r.channel.startsWith('sessionkit:store:') && r.event === 'error')
    .map((r) => r.message);

let otel: Harness;
beforeAll(async () => {
  otel = await otelHarness();
});
afterAll(async () => {
  await otel?.close();
});

for (const target of targets) {
  describe.skipIf(target.skip)(`${target.name} refusing a write`, () => {
    let store: AnyStore | undefined;
    afterAll(async () => {
      await target.dispose(store);
    });

    it('puts no session ID, secret or data in channels, spans, metrics, error pages or error messages', async () => {
      store = await target.open();
      const run = await apps(store);
      const recorder = recordChannels();
      const responses: Response[] = [];
      try {
        // One stored session per framework, then the backend is armed.
        const cookies = [];
        for (const client of run.clients) {
          const first = await client('clean', null);
          expect(first.status, `${target.name}: a clean write is stored`).toBe(200);
          expect(first.cookie).not.toBeNull();
          cookies.push(first.cookie);
        }
        await target.arm(store);
        for (const poison of target.poisons) {
          for (const [i, client] of run.clients.entries()) {
            // An update of the stored session, then a new session's create.
            responses.push(await client(poison, cookies[i] ?? null));
            responses.push(await client(poison, null));
          }
        }
      } finally {
        recorder.stop();
        await run.close();
      }
      const ids = [...run.ids];
      expect(ids.length).toBeGreaterThanOrEqual(2 + 2 * target.poisons.length);
      // Every poisoned write was refused: no stored session, a 5xx.
      for (const res of responses)
        expect(res.status, `${target.name}: ${res.body}`).toBeGreaterThanOrEqual(500);

      // diagnostics_channel: the failures are there, by code, without the driver's error.
      const failed = failures(recorder.records);
      expect(failed.length).toBeGreaterThanOrEqual(target.poisons.length * 2);
      expectClean(`${target.name}: diagnostics_channel`, textOf(recorder.records), ids);
      for (const message of failed) {
        const error = message.error as { code?: unknown; cause?: unknown };
        expect(error.code).toMatch(/^ERR_/);
        expect(error.cause).toBeUndefined();
      }

      // OpenTelemetry: an error span per failed call, carrying the code only.
      const { text, errorSpans } = await otel.collect();
      expect(errorSpans).toBeGreaterThanOrEqual(target.poisons.length * 2);
      expectClean(`${target.name}: OpenTelemetry`, text, ids);

      // Events the middleware raised (none for a failed write, but any that came).
      expectClean(`${target.name}: error events`, textOf(run.events), ids);

      // The error the application's handler gets: the driver's error stays its `cause`.
      expect(run.appErrors.length).toBe(responses.length);
      const causes = run.appErrors.map((error) => (target.typed ? (error as Error).cause : error));
      if (target.echoes) expect(textOf(causes), 'the attack reached the driver').toContain(DATA);
      // sessionkit's stores hand a driver handles only (an express-session store files rows by raw ID).
      if (target.typed) expectNoIds(`${target.name}: the driver's error`, textOf(causes), ids);
      if (target.typed) {
        for (const error of run.appErrors) {
          // A refused row is a store failure, not a taken ID (ERR_SESSION_EXISTS).
          expect((error as { code?: unknown }).code).toBe('ERR_STORE');
          expectClean(`${target.name}: the error's message and stack`, withoutCause(error), ids);
        }
        // The default error responses show that message: Express's page outside production, Fastify's reply.
        for (const res of responses) expectClean(`${target.name}: the error response`, res.body, ids);
      }
    });
  });
}

const execFileAsync = promisify(execFile);

/**
 * NODE_DEBUG is read when sessionkit loads, so the trace runs in a child: SQLite refusing an update and a
 * create with a trigger whose message quotes the row's data.
 */
const SCRIPT = `
import express from 'express';
import request from 'supertest';
import session from ${JSON.stringify(new URL('../../src/index.ts', import.meta.url).pathname)};
import { SQLiteStore } from ${JSON.stringify(new URL('../../src/stores/sqlite.ts', import.meta.url).pathname)};

const store = new SQLiteStore(':memory:');
for (const event of ['INSERT', 'UPDATE'])
  store.db.exec(\`CREATE TRIGGER t_\${event} BEFORE \${event} ON sessionkit_sessions
    WHEN NEW.data LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'refused: ' || NEW.data); END\`);
const app = express();
app.use(session({ secret: ${JSON.stringify(SECRET)}, store, resave: false, saveUninitialized: false }));
const ids = [];
app.get('/write', (req, res) => {
  ids.push(req.sessionID);
  req.session.visits = 1;
  if (req.query.flag) Object.assign(req.session, { secret: ${JSON.stringify(DATA)}, userId: ${JSON.stringify(USER)}, flag: 'poison' });
  res.send('ok');
});
app.use((err, _req, res, _next) => res.status(err.status ?? 500).send(err.code));
const first = await request(app).get('/write');
const cookie = first.headers['set-cookie'][0].split(';')[0];
const statuses = [first.status];
statuses.push((await request(app).get('/write?flag=1').set('Cookie', cookie)).status);
statuses.push((await request(app).get('/write?flag=1')).status);
console.log(JSON.stringify({ ids, statuses }));
`;

describe('NODE_DEBUG=sessionkit with a store refusing writes', () => {
  it('traces the failed writes by handle, with no ID, secret or data', async () => {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      ['--no-warnings', '--import', 'tsx', '--input-type=module', '-e', SCRIPT],
      { env: { ...process.env, NODE_DEBUG: 'sessionkit' }, timeout: 30_000 },
    );
    const { ids, statuses } = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
      ids: string[];
      statuses: number[];
    };
    expect(statuses).toEqual([200, 500, 500]);
    expectClean('the debug trace', stderr, ids);
    // The trace did run: the refused update and create are in it.
    expect(stderr).toMatch(/SESSIONKIT \d+: \S+ write update: /);
    expect(stderr).toMatch(/SESSIONKIT \d+: \S+ write create: /);
  });
});
