import { afterAll, describe, expect, it } from 'vitest';
import { type SessionCarrier, SessionManager } from '../../src/engine/manager.js';
import type { SessionRequestLike } from '../../src/engine/options.js';
import { MemoryStore } from '../../src/stores/memory.js';

type Req = SessionRequestLike & SessionCarrier;
type Data = Record<string, unknown> & { user?: { name: string; roles: string[] } };

const secret = 'merge-test-secret-0123456789abcdef0123';

/**
 * The MemoryStore merges a request's first write into the record it gave at load while it still holds
 * exactly that record: these check that what it stores is always what merging into its current entry
 * gives, whatever happened in between.
 */
describe('MemoryStore merges through the manager', () => {
  const store = new MemoryStore({ sweepInterval: 0 });
  const manager = new SessionManager<Req>({
    secret,
    store,
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 60_000 },
  });
  afterAll(() => store.close());

  async function seeded(): Promise<string> {
    const req: Req = { headers: {} };
    await manager.open(req);
    Object.assign(req.session as object, { views: 1, user: { name: 'ada', roles: ['reader'] }, keep: 'k' });
    const [cookie] = await manager.commit(req);
    return (cookie as string).split(';')[0] as string;
  }

  async function open(cookie: string): Promise<Req & { session: Data }> {
    const req: Req = { headers: { cookie } };
    await manager.open(req);
    return req as Req & { session: Data };
  }

  async function stored(req: Req): Promise<Record<string, unknown>> {
    return ((await store.get(req.sessionID as string))?.data ?? {}) as Record<string, unknown>;
  }

  it('stores a nested change made in place, beside the untouched keys', async () => {
    const req = await open(await seeded());
    req.session.user?.roles.push('writer');
    (req.session.views as number)++;
    await manager.commit(req);
    expect(await stored(req)).toEqual({
      views: 2,
      user: { name: 'ada', roles: ['reader', 'writer'] },
      keep: 'k',
    });
  });

  it("keeps a concurrent request's write, made after this one loaded", async () => {
    const cookie = await seeded();
    const first = await open(cookie);
    const second = await open(cookie);
    second.session.other = 'from second';
    if (second.session.user) second.session.user.name = 'grace';
    await manager.commit(second);
    first.session.views = 5;
    delete first.session.keep;
    await manager.commit(first);
    expect(await stored(first)).toEqual({
      views: 5,
      user: { name: 'grace', roles: ['reader'] },
      other: 'from second',
    });
  });

  it('merges a write after save() with what other requests wrote since', async () => {
    const cookie = await seeded();
    const first = await open(cookie);
    first.session.saved = true;
    await (first.session as unknown as { save(): Promise<void> }).save();
    const second = await open(cookie);
    second.session.other = 'from second';
    await manager.commit(second);
    first.session.views = 7;
    await manager.commit(first);
    expect(await stored(first)).toEqual({
      views: 7,
      user: { name: 'ada', roles: ['reader'] },
      keep: 'k',
      saved: true,
      other: 'from second',
    });
  });

  it('merges a write after reload() with what other requests wrote since', async () => {
    const cookie = await seeded();
    const first = await open(cookie);
    await (first.session as unknown as { reload(): Promise<void> }).reload();
    const second = await open(cookie);
    second.session.other = 'from second';
    await manager.commit(second);
    first.session.views = 9;
    await manager.commit(first);
    expect(await stored(first)).toMatchObject({ views: 9, other: 'from second', keep: 'k' });
  });

  it('finds the session gone when another request destroyed it', async () => {
    const cookie = await seeded();
    const first = await open(cookie);
    const second = await open(cookie);
    await (second.session as unknown as { destroy(): Promise<void> }).destroy();
    await manager.commit(second);
    first.session.views = 3;
    await manager.commit(first);
    expect(await store.get(first.sessionID as string)).toBeNull();
  });
});
