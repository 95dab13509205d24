import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS } from '../../src/core/diagnostics.js';
import { generateId, sessionHandle } from '../../src/internals.js';
import { MemoryStore } from '../../src/stores/memory.js';
import {
  Client,
  cookieFor,
  FlakyStore,
  type ObservedApp,
  observedApp,
  type Recorded,
  recordChannels,
  SECRET,
  textOf,
} from '../support/observability.js';

let app: ObservedApp | null = null;
let recorder: ReturnType<typeof recordChannels> | null = null;

afterEach(async () => {
  recorder?.stop();
  recorder = null;
  await app?.close();
  app = null;
});

const on = (records: Recorded[], channel: string, event = 'publish') =>
  records.filter((r) => r.channel === channel && r.event === event).map((r) => r.message);

/** The finished store calls: `asyncEnd` for asynchronous calls, `end` with an outcome for synchronous ones. */
const calls = (records: Recorded[]) =>
  records
    .filter(
      (r) =>
        r.channel.startsWith('sessionkit:store:') &&
        (r.event === 'asyncEnd' || (r.event === 'end' && r.message.outcome !== undefined)),
    )
    .map((r) => r.message);

/** No raw session ID and no secret in anything any channel published. */
function expectNoLeak(records: Recorded[], ids: Iterable<string>): void {
  const text = textOf(records);
  const list = [...ids];
  expect(list.length).toBeGreaterThan(0);
  for (const id of list) expect(text).not.toContain(id);
  expect(text).not.toContain(SECRET);
}

describe('diagnostics_channel: a scripted sequence of requests on an asynchronous store', () => {
  it('traces each store call with kind, handle and outcome, and publishes each lifecycle step', async () => {
    const store = new FlakyStore();
    app = await observedApp(store);
    recorder = recordChannels();
    const { records } = recorder;
    const client = new Client(app.url);
    const unknownId = generateId();

    // 1. A new session, stored.
    const first = await client.get('/set/a/1');
    const h1 = sessionHandle(first.body.id as string);
    expect(calls(records)).toEqual([
      { operation: 'create', store: 'memory', handle: h1, outcome: 'ok', result: true },
    ]);
    expect(on(records, CHANNELS.created)).toEqual([{ handle: h1, store: 'memory' }]);
    // Each asynchronous call goes start → end → asyncStart → asyncEnd, on one message.
    expect(records.filter((r) => r.channel === CHANNELS.store.create).map((r) => r.event)).toEqual([
      'start',
      'end',
      'asyncStart',
      'asyncEnd',
    ]);
    records.length = 0;

    // 2. It loads.
    await client.get('/read');
    expect(calls(records)).toEqual([
      { operation: 'get', store: 'memory', handle: h1, outcome: 'ok', result: true },
    ]);
    records.length = 0;

    // 3. Forged cookies: a bad signature, and a correctly signed ID of the wrong shape.
    await client.get('/read', 'sid=s%3Aforged.c2lnbmF0dXJl');
    await client.get('/read', cookieFor('not an id!'));
    expect(on(records, CHANNELS.invalid)).toEqual([
      { reason: 'bad-signature', store: 'memory' },
      { reason: 'malformed-id', store: 'memory' },
    ]);
    expect(calls(records)).toEqual([]);
    records.length = 0;

    // 4. A correctly signed ID the store does not have.
    await client.get('/read', cookieFor(unknownId));
    const hUnknown = sessionHandle(unknownId);
    expect(calls(records)).toEqual([
      { operation: 'get', store: 'memory', handle: hUnknown, outcome: 'miss', result: false },
    ]);
    expect(on(records, CHANNELS.unknown)).toEqual([{ handle: hUnknown, store: 'memory' }]);
    records.length = 0;

    // 5. Login: the old record read again (a session ended meanwhile gives no data to the login),
    // destroyed, a new ID, the user bound, the new session stored.
    const login = await client.get('/login/alice');
    const h2 = sessionHandle(login.body.id as string);
    expect(h2).not.toBe(h1);
    expect(calls(records).map((m) => [m.operation, m.handle, m.outcome])).toEqual([
      ['get', h1, 'ok'],
      ['get', h1, 'ok'],
      ['destroy', h1, 'ok'],
      ['create', h2, 'ok'],
    ]);
    expect(on(records, CHANNELS.destroyed)).toEqual([{ handle: h1, store: 'memory' }]);
    expect(on(records, CHANNELS.regenerated)).toEqual([{ handle: h2, store: 'memory' }]);
    expect(on(records, CHANNELS.login)).toEqual([
      { handle: h2, previousHandle: h1, userId: 'alice', store: 'memory' },
    ]);
    expect(on(records, CHANNELS.created)).toEqual([{ handle: h2, store: 'memory' }]);
    records.length = 0;

    // 6. "Log out everywhere", called by the application on the store.
    const revoked = await client.get('/revoke/alice');
    expect(revoked.body.count).toBe(1);
    expect(calls(records).filter((m) => m.operation === 'destroyByUser')).toEqual([
      { operation: 'destroyByUser', store: 'memory', handle: null, outcome: 'ok', result: 1 },
    ]);
    expect(on(records, CHANNELS.revoked)).toEqual([
      { store: 'memory', scope: 'user', count: 1, userId: 'alice', handle: null },
    ]);
    records.length = 0;

    // 7. Logout of a fresh login.
    const bob = await client.get('/login/bob');
    const h3 = sessionHandle(bob.body.id as string);
    records.length = 0;
    const out = await client.get('/logout');
    expect(on(records, CHANNELS.logout)).toEqual([
      { handle: sessionHandle(out.body.id as string), previousHandle: h3, userId: 'bob', store: 'memory' },
    ]);
    records.length = 0;

    // 8. The store goes down: the call fails as unavailable and the request gets a 503.
    await client.get('/login/carol');
    const cookie = client.cookie;
    const hCarol = sessionHandle([...client.ids].at(-1) as string);
    records.length = 0;
    store.mode = 'refuse';
    expect((await client.get('/read', cookie)).status).toBe(503);
    const refused = calls(records);
    expect(refused.map((m) => [m.operation, m.handle, m.outcome])).toEqual([['get', hCarol, 'unavailable']]);
    expect((refused[0]?.error as { code?: string } | undefined)?.code).toBe('ERR_STORE_UNAVAILABLE');
    expect(records.filter((r) => r.channel === CHANNELS.store.get).map((r) => r.event)).toEqual([
      'start',
      'end',
      'error',
      'asyncStart',
      'asyncEnd',
    ]);
    records.length = 0;

    // 9. The store hangs: the call times out at storeTimeout.
    store.mode = 'hang';
    expect((await client.get('/read', cookie)).status).toBe(503);
    expect(calls(records).map((m) => [m.operation, m.outcome])).toEqual([['get', 'timeout']]);
    records.length = 0;

    // 10. The store announced a disconnect: no call is made, and the refusal is traced the same way.
    store.mode = 'up';
    store.emit('disconnect');
    expect((await client.get('/read', cookie)).status).toBe(503);
    expect(calls(records).map((m) => [m.operation, m.handle, m.outcome])).toEqual([
      ['get', hCarol, 'unavailable'],
    ]);
    store.emit('connect');
    expect((await client.get('/read', cookie)).status).toBe(200);

    client.ids.add(unknownId);
    expectNoLeak(recorder.records, client.ids);
  });
});

describe('diagnostics_channel: the in-process MemoryStore (synchronous calls)', () => {
  it('traces synchronous calls with start and end, the outcome set by end', async () => {
    const store = new MemoryStore();
    app = await observedApp(store);
    recorder = recordChannels();
    const { records } = recorder;
    const client = new Client(app.url);
    const first = await client.get('/set/a/1');
    await client.get('/read');
    const beforeLogin = records.length;
    await client.get('/login/dora');
    const h1 = sessionHandle(first.body.id as string);
    const h2 = sessionHandle([...client.ids].at(-1) as string);
    expect(calls(records).map((m) => [m.operation, m.handle, m.outcome, m.store])).toEqual([
      ['create', h1, 'ok', 'memory'],
      ['get', h1, 'ok', 'memory'],
      ['get', h1, 'ok', 'memory'],
      ['get', h1, 'ok', 'memory'],
      ['destroy', h1, 'ok', 'memory'],
      ['create', h2, 'ok', 'memory'],
    ]);
    // No asynchronous events for calls that settled in the same tick. A destroy always goes through a
    // promise, and so does the login's second read of the old record (a check, off the request's hot path).
    const syncEvents = records
      .filter(
        (r, i) =>
          r.channel === CHANNELS.store.create || (r.channel === CHANNELS.store.get && i < beforeLogin),
      )
      .map((r) => r.event);
    expect(new Set(syncEvents)).toEqual(new Set(['start', 'end']));
    expectNoLeak(records, client.ids);
  });

  it('publishes nothing, and still works, once every subscriber is gone', async () => {
    const store = new MemoryStore();
    app = await observedApp(store);
    recorder = recordChannels();
    recorder.stop();
    const client = new Client(app.url);
    await client.get('/set/a/1');
    await client.get('/login/erin');
    expect((await client.get('/read')).status).toBe(200);
    expect(recorder.records).toEqual([]);
  });

  // Why: dashboards and traces group by the store's kind, and sessionkit picks express-session's shorter
  // IDs only for express-session's stores: `encryption` wraps the store it is given, and that must not
  // make a MemoryStore (or any store of ours) report, or be treated, as an express-session store.
  it('an encrypted MemoryStore is still reported as memory, and its IDs are 43 characters', async () => {
    app = await observedApp(new MemoryStore(), {
      encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] },
    });
    recorder = recordChannels();
    const client = new Client(app.url);
    const first = await client.get('/set/a/1');
    const id = first.body.id as string;
    expect(id).toHaveLength(43);
    expect(on(recorder.records, CHANNELS.created)).toEqual([{ handle: sessionHandle(id), store: 'memory' }]);
  });
});
