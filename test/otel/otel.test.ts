import type { Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { generateId } from '../../src/internals.js';
import { instrumentOpenTelemetry, type OpenTelemetryInstrumentation } from '../../src/otel.js';
import { type AnyStore, createStore } from '../../src/stores/factory.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { TcpProxy } from '../../src/testing/proxy.js';
import { REDIS_URL } from '../support/interleave.js';
import {
  Client,
  cookieFor,
  FlakyStore,
  type ObservedApp,
  observedApp,
  SECRET,
  textOf,
} from '../support/observability.js';
import { redisSkipReason } from '../support/redis.js';
import { runNamespace } from '../support/services.js';

interface Harness {
  otel: OpenTelemetryInstrumentation;
  metrics(): Promise<Map<string, DataPoint<unknown>[]>>;
  spans(): ReadableSpan[];
  close(): Promise<void>;
}

/** A MeterProvider and a TracerProvider that keep everything in memory, with sessionkit instrumented into them. */
async function harness(stores: AnyStore[] = []): Promise<Harness> {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  const otel = await instrumentOpenTelemetry({ meterProvider, tracerProvider, stores });
  return {
    otel,
    async metrics() {
      exporter.reset();
      await reader.forceFlush();
      const byName = new Map<string, DataPoint<unknown>[]>();
      for (const resource of exporter.getMetrics())
        for (const scope of resource.scopeMetrics)
          for (const metric of scope.metrics)
            byName.set(metric.descriptor.name, metric.dataPoints as DataPoint<unknown>[]);
      return byName;
    },
    spans: () => spanExporter.getFinishedSpans(),
    async close() {
      otel.disable();
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    },
  };
}

/** The value of the data point whose attributes include `match`, or 0 when there is none. */
function pointValue(points: DataPoint<unknown>[] | undefined, match: Attributes): number {
  const point = points?.find((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
  if (point === undefined) return 0;
  return typeof point.value === 'number' ? point.value : (point.value as Histogram).count;
}

function sumOf(points: DataPoint<unknown>[] | undefined): number {
  return (points ?? []).reduce((sum, p) => sum + (p.value as number), 0);
}

let app: ObservedApp | null = null;
let otel: Harness | null = null;
afterEach(async () => {
  await app?.close();
  app = null;
  await otel?.close();
  otel = null;
});

/** No raw session ID and no secret in any metric or span (names, attributes, status, events). */
function expectNoLeak(
  metrics: Map<string, DataPoint<unknown>[]>,
  spans: ReadableSpan[],
  ids: Iterable<string>,
) {
  const text = textOf({
    metrics: [...metrics].map(([name, points]) => ({ name, points: points.map((p) => p.attributes) })),
    spans: spans.map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events })),
  });
  const list = [...ids];
  expect(list.length).toBeGreaterThan(0);
  for (const id of list) expect(text).not.toContain(id);
  expect(text).not.toContain(SECRET);
}

describe('OpenTelemetry: metrics and spans for a scripted sequence of requests', () => {
  it('counts binding changes by the properties that changed and what was done, naming no value', async () => {
    otel = await harness();
    for (const onChange of ['report', 'end'] as const) {
      const bound = await observedApp(new MemoryStore(), {
        binding: { userAgent: true, ip: true, onChange },
      });
      try {
        const get = async (path: string, agent: string, cookie?: string) => {
          const res = await fetch(bound.url + path, {
            headers: { 'user-agent': agent, ...(cookie ? { cookie } : {}) },
          });
          await res.arrayBuffer();
          return res.headers.getSetCookie()[0]?.split(';')[0];
        };
        const cookie = await get('/set/a/1', 'agent-one');
        expect(cookie).toBeDefined();
        await get('/read', 'agent-one', cookie);
        await get('/read', 'agent-two', cookie);
      } finally {
        await bound.close();
      }
    }
    const metrics = await otel.metrics();
    const points = metrics.get('sessionkit.session.binding');
    const changed = { 'sessionkit.store': 'memory', 'sessionkit.binding.changed': 'userAgent' };
    expect(pointValue(points, { ...changed, 'sessionkit.binding.action': 'report' })).toBe(1);
    expect(pointValue(points, { ...changed, 'sessionkit.binding.action': 'end' })).toBe(1);
    expect(sumOf(points)).toBe(2);
    expect(textOf(points?.map((p) => p.attributes))).not.toContain('agent-');
  });

  it('records store durations, lifecycle counters, an outage and a timeout, with no ID or secret', async () => {
    const store = new FlakyStore();
    otel = await harness([store]);
    app = await observedApp(store);
    const client = new Client(app.url);
    const memory = { 'db.system.name': 'memory' };

    await client.get('/set/a/1'); // create
    await client.get('/read'); // get
    await client.get('/read', 'sid=s%3Aforged.c2lnbmF0dXJl'); // invalid: bad signature
    await client.get('/read', cookieFor('not an id!')); // invalid: malformed ID
    const stranger = generateId();
    client.ids.add(stranger);
    await client.get('/read', cookieFor(stranger)); // unknown
    await client.get('/login/alice'); // get, get (is the session still live?), destroy, create
    await client.get('/logout'); // get, destroy, destroy (the ID a kept regenerate of it moves to)
    await client.get('/login/alice'); // create (the logged-out session was never stored)
    expect((await client.get('/revoke/alice')).body.count).toBe(1); // get, destroyByUser
    await client.get('/login/bob');
    const bob = client.cookie;
    store.mode = 'refuse';
    expect((await client.get('/read', bob)).status).toBe(503);
    store.mode = 'hang';
    expect((await client.get('/read', bob)).status).toBe(503);
    store.mode = 'up';

    const metrics = await otel.metrics();
    const duration = metrics.get('db.client.operation.duration');
    expect(pointValue(duration, { ...memory, 'db.operation.name': 'create', 'error.type': undefined })).toBe(
      4,
    );
    expect(pointValue(duration, { ...memory, 'db.operation.name': 'destroy' })).toBe(5);
    expect(pointValue(duration, { ...memory, 'db.operation.name': 'destroyByUser' })).toBe(1);
    expect(pointValue(duration, { ...memory, 'db.operation.name': 'get', 'error.type': undefined })).toBe(7);
    expect(
      pointValue(duration, { ...memory, 'db.operation.name': 'get', 'error.type': 'ERR_STORE_UNAVAILABLE' }),
    ).toBe(1);
    expect(pointValue(duration, { ...memory, 'db.operation.name': 'get', 'error.type': 'timeout' })).toBe(1);
    const timed = duration?.find((p) => p.attributes['error.type'] === 'timeout')?.value as Histogram;
    expect(timed.sum).toBeGreaterThanOrEqual(0.29); // seconds: storeTimeout is 300 ms

    const kind = { 'sessionkit.store': 'memory' };
    expect(pointValue(metrics.get('sessionkit.session.created'), kind)).toBe(4);
    // Each login and logout destroys the record it replaces (whether or not it was ever stored).
    expect(pointValue(metrics.get('sessionkit.session.destroyed'), kind)).toBe(4);
    expect(pointValue(metrics.get('sessionkit.session.login'), kind)).toBe(3);
    expect(pointValue(metrics.get('sessionkit.session.logout'), kind)).toBe(1);
    expect(
      pointValue(metrics.get('sessionkit.session.revoked'), { ...kind, 'sessionkit.revoke.scope': 'user' }),
    ).toBe(1);
    expect(
      pointValue(metrics.get('sessionkit.cookie.invalid'), { 'sessionkit.cookie.reason': 'bad-signature' }),
    ).toBe(1);
    expect(
      pointValue(metrics.get('sessionkit.cookie.invalid'), { 'sessionkit.cookie.reason': 'malformed-id' }),
    ).toBe(1);
    // The stranger's ID, and alice's cookie after "log out everywhere".
    expect(pointValue(metrics.get('sessionkit.cookie.unknown'), kind)).toBe(2);
    expect(sumOf(metrics.get('sessionkit.store.timeouts'))).toBe(1);
    expect(sumOf(metrics.get('sessionkit.store.unavailable'))).toBe(2);
    // bob's session is the one live session left.
    expect(pointValue(metrics.get('sessionkit.session.active'), kind)).toBe(1);

    const spans = otel.spans();
    expect(spans.filter((s) => s.name === 'create memory')).toHaveLength(4);
    const failed = spans.filter((s) => s.status.code === 2);
    expect(failed.map((s) => s.attributes['error.type']).sort()).toEqual([
      'ERR_STORE_UNAVAILABLE',
      'timeout',
    ]);
    for (const span of spans) {
      expect(span.kind).toBe(2); // CLIENT
      expect(span.attributes['db.system.name']).toBe('memory');
    }
    expectNoLeak(metrics, spans, client.ids);
  });

  it('the in-process MemoryStore: synchronous calls are measured and spanned too', async () => {
    const store = new MemoryStore();
    otel = await harness();
    app = await observedApp(store);
    const client = new Client(app.url);
    await client.get('/set/a/1');
    await client.get('/read');
    const metrics = await otel.metrics();
    const duration = metrics.get('db.client.operation.duration');
    expect(pointValue(duration, { 'db.system.name': 'memory', 'db.operation.name': 'create' })).toBe(1);
    expect(pointValue(duration, { 'db.system.name': 'memory', 'db.operation.name': 'get' })).toBe(1);
    expect(otel.spans().map((s) => s.name)).toEqual(['create memory', 'get memory']);
    expectNoLeak(metrics, otel.spans(), client.ids);
  });

  it('records nothing once disabled', async () => {
    const store = new MemoryStore();
    otel = await harness();
    otel.otel.disable();
    expect(otel.otel.enabled).toBe(false);
    app = await observedApp(store);
    await new Client(app.url).get('/set/a/1');
    const metrics = await otel.metrics();
    expect(pointValue(metrics.get('db.client.operation.duration'), {})).toBe(0);
    expect(otel.spans()).toEqual([]);
  });
});

const redisSkip = await redisSkipReason(REDIS_URL);

describe.skipIf(redisSkip)('OpenTelemetry: a real Redis outage (a loopback proxy cuts the link)', () => {
  it('counts the failed calls as unavailable under db.system.name redis', async () => {
    const target = new URL(REDIS_URL);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
    const port = await proxy.start();
    const prefix = `${runNamespace('skotel')}:`;
    let store: AnyStore | null = null;
    try {
      store = await createStore(
        `redis://127.0.0.1:${port}?prefix=${encodeURIComponent(prefix)}&timeout=2000`,
      );
      otel = await harness();
      // Generous bounds: on a loaded machine a healthy call must not time out before the cut.
      app = await observedApp(store, { storeTimeout: 5_000 });
      const client = new Client(app.url);
      await client.get('/set/a/1');
      expect((await client.get('/read')).status).toBe(200);
      proxy.cut();
      expect((await client.get('/read')).status).toBe(503);
      const metrics = await otel.metrics();
      const redis = { 'db.system.name': 'redis' };
      expect(
        pointValue(metrics.get('db.client.operation.duration'), { ...redis, 'db.operation.name': 'create' }),
      ).toBe(1);
      expect(
        pointValue(metrics.get('sessionkit.store.unavailable'), { ...redis, 'db.operation.name': 'get' }),
      ).toBe(1);
      const failed = metrics
        .get('db.client.operation.duration')
        ?.find((p) => p.attributes['error.type'] !== undefined)?.attributes['error.type'];
      expect(['ERR_STORE_UNAVAILABLE', 'timeout']).toContain(failed);
      expect(pointValue(metrics.get('sessionkit.session.created'), { 'sessionkit.store': 'redis' })).toBe(1);
      expectNoLeak(metrics, otel.spans(), client.ids);
    } finally {
      await proxy.stop();
      // The proxied client cannot reach Redis any more: its close is bounded, not awaited to the end.
      await Promise.race([store?.close?.(), new Promise((resolve) => setTimeout(resolve, 2_000))]);
      const direct = await createStore(`${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`);
      await direct.clear?.();
      await direct.close?.();
    }
  });
});
