import type { EventEmitter } from 'node:events';

/** What a store's connection events change in one middleware. */
export interface StoreEventTarget {
  storeReady: boolean;
  report(error: unknown): void;
}

type Targets = Set<WeakRef<StoreEventTarget>>;

/** The middlewares following each store, held weakly: the store must not keep a dropped middleware alive. */
const followers = new WeakMap<EventEmitter, Targets>();
const forgotten = new FinalizationRegistry<{ targets: Targets; ref: WeakRef<StoreEventTarget> }>(
  ({ targets, ref }) => targets.delete(ref),
);

/**
 * express-session's store contract: a store may announce that it lost (`disconnect`) or regained
 * (`connect`) its backend, and sessionkit's stores announce records they could not read (`corrupt`).
 * One listener per event per store, whatever the number of middlewares sharing it: a listener per
 * middleware (express-session's way) trips Node's MaxListenersExceededWarning once more than ten
 * middlewares share a store, and keeps every middleware ever made on it alive for as long as the store
 * lives, which leaks when an application makes middlewares on the fly.
 */
export function followStoreEvents(store: EventEmitter, target: StoreEventTarget): void {
  let targets = followers.get(store);
  if (targets === undefined) {
    const live = new Set<WeakRef<StoreEventTarget>>();
    const each = (action: (target: StoreEventTarget) => void) => {
      for (const ref of live) {
        const follower = ref.deref();
        if (follower !== undefined) action(follower);
      }
    };
    store.on('disconnect', () =>
      each((follower) => {
        follower.storeReady = false;
      }),
    );
    store.on('connect', () =>
      each((follower) => {
        follower.storeReady = true;
      }),
    );
    store.on('corrupt', (error: unknown) => each((follower) => follower.report(error)));
    followers.set(store, live);
    targets = live;
  }
  const ref = new WeakRef(target);
  targets.add(ref);
  forgotten.register(target, { targets, ref });
}
