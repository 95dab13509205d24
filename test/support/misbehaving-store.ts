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
