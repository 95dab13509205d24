import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import type {
  Attributes,
  Counter,
  Histogram,
  MeterProvider,
  ObservableResult,
  Span,
  Tracer,
  TracerProvider,
} from '@opentelemetry/api';
import {
  type BindingMessage,
  CHANNELS,
  type InvalidCookieMessage,
  type RevokedMessage,
  type SessionMessage,
  type StoreCallMessage,
  type StoreKind,
  type StoreOperation,
  storeKindOf,
} from './core/diagnostics.js';
import { SessionError } from './core/errors.js';
import { isNativeStore } from './stores/contract.js';

export type {
  InvalidCookieMessage,
  LoginMessage,
  LogoutMessage,
  RevokedMessage,
  SessionMessage,
  StoreCallMessage,
  StoreKind,
  StoreOperation,
  StoreOutcome,
} from './core/diagnostics.js';
export { CHANNELS } from './core/diagnostics.js';

export interface OpenTelemetryOptions {
  /** Where metrics go. Default: the global one (`metrics.getMeterProvider()`). */
  meterProvider?: MeterProvider;
  /** Where spans go. Default: the global one; spans are no-ops until a tracer provider is registered. */
  tracerProvider?: TracerProvider;
  /** A span per store call (default `true`). */
  spans?: boolean;
  /**
   * Stores whose live sessions are counted, at each collection, into `sessionkit.session.active`
   * (one `length()` call per store per collection).
   */
  stores?: readonly object[];
}

export interface OpenTelemetryInstrumentation {
  /** `false` when `@opentelemetry/api` is not installed: nothing is recorded. */
  readonly enabled: boolean;
  /** Unsubscribes from every channel. */
  disable(): void;
}

/** OpenTelemetry's `db.system.name` for each store kind (its well-known names where it has one). */
const DB_SYSTEM: Record<StoreKind, string> = {
  memory: 'memory',
  sqlite: 'sqlite',
  postgres: 'postgresql',
  mysql: 'mysql',
  redis: 'redis',
  mongodb: 'mongodb',
  'express-session': 'express-session',
  custom: 'other',
};

/** OpenTelemetry's recommended boundaries for `db.client.operation.duration` (seconds). */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

const OPERATIONS = Object.keys(CHANNELS.store) as StoreOperation[];

/** SpanKind.CLIENT and SpanStatusCode.ERROR, as numbers: the API's enums need not be loaded for them. */
const SPAN_KIND_CLIENT = 2;
const SPAN_STATUS_ERROR = 2;

interface Pending {
  start: number;
  span: Span | null;
}

type Api = typeof import('@opentelemetry/api');

/**
 * Records sessionkit's diagnostics_channel signals as OpenTelemetry metrics and spans. `@opentelemetry/api`
 * is an optional peer, loaded here on first use: without it this resolves to a disabled instrumentation
 * and sessionkit runs uninstrumented. Call once per process; every middleware and store in it is covered.
 */
export async function instrumentOpenTelemetry(
  options: OpenTelemetryOptions = {},
): Promise<OpenTelemetryInstrumentation> {
  let api: Api;
  try {
    api = await import('@opentelemetry/api');
  } catch {
    return { enabled: false, disable() {} };
  }
  return instrumentWith(api, options);
}

function instrumentWith(api: Api, options: OpenTelemetryOptions): OpenTelemetryInstrumentation {
  const meter = (options.meterProvider ?? api.metrics.getMeterProvider()).getMeter('sessionkit');
  const tracer: Tracer | null =
    options.spans === false
      ? null
      : (options.tracerProvider ?? api.trace.getTracerProvider()).getTracer('sessionkit');

  const duration: Histogram = meter.createHistogram('db.client.operation.duration', {
    description: 'Duration of session store operations',
    unit: 's',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const counter = (name: string, unit: string, description: string): Counter =>
    meter.createCounter(name, { unit, description });
  const created = counter('sessionkit.session.created', '{session}', 'Sessions stored for the first time');
  const destroyed = counter('sessionkit.session.destroyed', '{session}', 'Sessions destroyed by a request');
  const revoked = counter('sessionkit.session.revoked', '{session}', 'Sessions revoked by user or by handle');
  const logins = counter('sessionkit.session.login', '{login}', 'Calls of login(req.session, userId)');
  const logouts = counter('sessionkit.session.logout', '{logout}', 'Calls of logout(req.session)');
  const invalid = counter(
    'sessionkit.cookie.invalid',
    '{cookie}',
    'Session cookies with a bad signature or ID',
  );
  const unknown = counter(
    'sessionkit.cookie.unknown',
    '{cookie}',
    'Signed session IDs the store did not have',
  );
  const bindings = counter(
    'sessionkit.session.binding',
    '{session}',
    'Loaded sessions whose User-Agent or IP differed from the one they were bound to',
  );
  const timeouts = counter('sessionkit.store.timeouts', '{call}', 'Store calls that did not answer in time');
  const unavailable = counter(
    'sessionkit.store.unavailable',
    '{call}',
    'Store calls that failed because the store was unreachable or timed out',
  );

  const pending = new WeakMap<object, Pending>();
  const storeAttributes = (message: StoreCallMessage): Attributes => ({
    'db.system.name': DB_SYSTEM[message.store] ?? 'other',
    'db.operation.name': message.operation,
  });

  const finish = (message: StoreCallMessage): void => {
    const entry = pending.get(message);
    if (entry === undefined) return;
    pending.delete(message);
    const attributes = storeAttributes(message);
    const failed =
      message.outcome === 'timeout' || message.outcome === 'unavailable' || message.outcome === 'error';
    if (failed) attributes['error.type'] = errorType(message);
    duration.record((performance.now() - entry.start) / 1000, attributes);
    if (message.outcome === 'timeout') timeouts.add(1, storeAttributes(message));
    if (message.outcome === 'timeout' || message.outcome === 'unavailable')
      unavailable.add(1, storeAttributes(message));
    const { span } = entry;
    if (span === null) return;
    if (failed) {
      span.setAttribute('error.type', attributes['error.type'] as string);
      // The code only: a driver's message is not ours to export.
      span.setStatus({ code: SPAN_STATUS_ERROR, message: attributes['error.type'] as string });
    }
    span.end();
  };

  const storeHandlers = {
    start(message: unknown) {
      const call = message as StoreCallMessage;
      let span: Span | null = null;
      if (tracer !== null) {
        const attributes = storeAttributes(call);
        if (call.handle !== null) attributes['sessionkit.session.handle'] = call.handle;
        span = tracer.startSpan(`${call.operation} ${attributes['db.system.name']}`, {
          kind: SPAN_KIND_CLIENT,
          attributes,
        });
      }
      pending.set(call, { start: performance.now(), span });
    },
    // A synchronous call (the in-process MemoryStore) has its outcome by `end`; an asynchronous one at `asyncEnd`.
    end(message: unknown) {
      if ((message as StoreCallMessage).outcome !== undefined) finish(message as StoreCallMessage);
    },
    asyncEnd(message: unknown) {
      finish(message as StoreCallMessage);
    },
    // The outcome and error are on the message by `end`/`asyncEnd`.
    asyncStart() {},
    error() {},
  };
  const channels = OPERATIONS.map((operation) => tracingChannel(CHANNELS.store[operation]));
  for (const channel of channels) channel.subscribe(storeHandlers);

  const kindOf = (message: { store: StoreKind }): Attributes => ({ 'sessionkit.store': message.store });
  const lifecycle: [string, (message: unknown) => void][] = [
    [CHANNELS.created, (m) => created.add(1, kindOf(m as SessionMessage))],
    [CHANNELS.destroyed, (m) => destroyed.add(1, kindOf(m as SessionMessage))],
    [CHANNELS.login, (m) => logins.add(1, kindOf(m as SessionMessage))],
    [CHANNELS.logout, (m) => logouts.add(1, kindOf(m as SessionMessage))],
    [CHANNELS.unknown, (m) => unknown.add(1, kindOf(m as SessionMessage))],
    [
      CHANNELS.invalid,
      (m) => {
        const message = m as InvalidCookieMessage;
        invalid.add(1, { ...kindOf(message), 'sessionkit.cookie.reason': message.reason });
      },
    ],
    [
      CHANNELS.binding,
      (m) => {
        const message = m as BindingMessage;
        bindings.add(1, {
          ...kindOf(message),
          'sessionkit.binding.changed': message.changed.join(','),
          'sessionkit.binding.action': message.action,
        });
      },
    ],
    [
      CHANNELS.revoked,
      (m) => {
        const message = m as RevokedMessage;
        revoked.add(message.count, { ...kindOf(message), 'sessionkit.revoke.scope': message.scope });
      },
    ],
  ];
  for (const [name, handler] of lifecycle) subscribe(name, handler);

  const stores = options.stores ?? [];
  const active = meter.createObservableGauge('sessionkit.session.active', {
    unit: '{session}',
    description: 'Live sessions in each observed store',
  });
  const observeStores = async (result: ObservableResult): Promise<void> => {
    await Promise.all(
      stores.map(async (store) => {
        const length = (store as { length?: unknown }).length;
        if (typeof length !== 'function') return;
        try {
          const count: unknown = await length.call(store);
          const kind = storeKindOf(store, isNativeStore(store));
          if (typeof count === 'number') result.observe(count, { 'sessionkit.store': kind });
        } catch {
          // A store that cannot count now is left out of this collection; its calls' failures are recorded.
        }
      }),
    );
  };
  if (stores.length > 0) active.addCallback(observeStores);

  let enabled = true;
  return {
    get enabled() {
      return enabled;
    },
    disable() {
      if (!enabled) return;
      enabled = false;
      for (const channel of channels) channel.unsubscribe(storeHandlers);
      for (const [name, handler] of lifecycle) unsubscribe(name, handler);
      if (stores.length > 0) active.removeCallback(observeStores);
    },
  };
}

/** `error.type`: `timeout`, a sessionkit error's code, or the error's name. */
function errorType(message: StoreCallMessage): string {
  if (message.outcome === 'timeout') return 'timeout';
  const { error } = message;
  if (error instanceof SessionError) return error.code;
  return error instanceof Error ? error.name : '_OTHER';
}
