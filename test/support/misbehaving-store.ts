import type { EventEmitter } from 'node:events';
import expressSession from 'express-session';

type Callback = (err?: unknown, value?: unknown) => void;

/**
 * A plain express-session store over a Map of JSON strings, answering on a later turn as a networked
 * store does. Tests replace its methods on the instance to make it misbehave (late, lost or failed
 * callbacks, values it should not have stored).
 */
export class MisbehavingStore extends (expressSession.Store as unknown as new () => EventEmitter) {
  readonly data = new Map<string, string>();
  calls: string[] = [];

  get(sid: string, cb: Callback): unknown {
    this.calls.push(`get ${sid}`);
    const raw = this.data.get(sid);
    setImmediate(() => cb(null, raw === undefined ? null : JSON.parse(raw)));
    return undefined;
  }

  set(sid: string, sess: unknown, cb?: Callback): unknown {
    this.calls.push(`set ${sid}`);
    this.data.set(sid, JSON.stringify(sess));
    setImmediate(() => cb?.());
    return undefined;
  }

  destroy(sid: string, cb?: Callback): unknown {
    this.calls.push(`destroy ${sid}`);
    this.data.delete(sid);
    setImmediate(() => cb?.());
    return undefined;
  }

  touch(sid: string, _sess: unknown, cb?: Callback): unknown {
    this.calls.push(`touch ${sid}`);
    setImmediate(() => cb?.());
    return undefined;
  }
}

/** Ways an express-session store misbehaves, by name: each rewires a store's methods in place. */
export const misbehaviours = {
  'get calls back twice, the second time with an error': (s) => {
    const g = s.get.bind(s);
    s.get = (id, cb) =>
      g(id, (e, v) => {
        cb(e, v);
        cb(new Error('second'));
      });
  },
  'get calls back with an error, then with the session': (s) => {
    const g = s.get.bind(s);
    s.get = (id, cb) =>
      g(id, (e, v) => {
        cb(new Error('first'));
        cb(e, v);
      });
  },
  'get never calls back': (s) => {
    s.get = () => undefined;
  },
  'get throws synchronously': (s) => {
    s.get = () => {
      throw new Error('sync');
    };
  },
  'get throws a string': (s) => {
    s.get = () => {
      throw 'str';
    };
  },
  'get returns a promise and never calls back': (s) => {
    s.get = (() => new Promise(() => undefined)) as never;
  },
  'get returns a rejected promise': (s) => {
    s.get = (() => Promise.reject(new Error('rej'))) as never;
  },
  'get answers a number': (s) => {
    s.get = (_id, cb) => setImmediate(() => cb(null, 42));
  },
  'get answers an array': (s) => {
    s.get = (_id, cb) => setImmediate(() => cb(null, [1, 2]));
  },
  'get answers an unparsable string': (s) => {
    s.get = (_id, cb) => setImmediate(() => cb(null, '{"cookie":'));
  },
  'get answers an object without cookie': (s) => {
    s.get = (_id, cb) => setImmediate(() => cb(null, { views: 40 }));
  },
  'get answers an invalid expires': (s) => {
    s.get = (_id, cb) =>
      setImmediate(() => cb(null, { views: 5, cookie: { expires: 'x', originalMaxAge: 1 } }));
  },
  'get answers with a non-Error object': (s) => {
    s.get = (_id, cb) => setImmediate(() => cb({ message: 'obj' }));
  },
  'set calls back twice, the second time with an error': (s) => {
    const w = s.set.bind(s);
    s.set = (id, x, cb) =>
      w(id, x, (e) => {
        cb?.(e);
        cb?.(new Error('second'));
      });
  },
  'set throws synchronously': (s) => {
    s.set = () => {
      throw new Error('set-sync');
    };
  },
  'set never calls back': (s) => {
    s.set = () => undefined;
  },
  'set returns a rejected promise': (s) => {
    s.set = (() => Promise.reject(new Error('set-rej'))) as never;
  },
  'touch throws (an unchanged session)': (s) => {
    s.touch = () => {
      throw new Error('touch');
    };
  },
  'touch never calls back (an unchanged session)': (s) => {
    s.touch = () => undefined;
  },
} satisfies Record<string, (store: MisbehavingStore) => void>;

export type Misbehaviour = keyof typeof misbehaviours;
