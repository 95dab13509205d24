/**
 * Session binding (C33), the engine's side: what a request's bound properties are, what a loaded
 * session's stored fingerprint says about them, the signal a change raises, and the fingerprint a write
 * stores. Nothing here runs unless the `binding` option is set.
 */
import {
  BINDING_KEY,
  type BindingAction,
  type BindingProperty,
  compareFingerprints,
  type Fingerprint,
  fingerprint,
  storedFingerprint,
} from '../core/binding.js';
import { publishBinding } from '../core/diagnostics.js';
import { storageKey } from '../core/id.js';
import type { SessionRecord } from '../core/types.js';
import type { Engine } from './context.js';
import type { ResolvedBinding, SessionRequestLike } from './options.js';

/** The manager's `binding` event. */
export interface BindingEvent {
  /** The session's handle (SHA-256 of its ID), never the ID. */
  handle: string;
  /** The bound properties whose values changed. */
  changed: BindingProperty[];
  /** `'report'`: the session was kept and bound to the new values; `'end'`: it was ended. */
  action: BindingAction;
  /** The user bound to the session, or `null`. */
  userId: string | null;
}

/**
 * What the engine reads a client's properties from: every adapter's carrier. Express's `req.ip`,
 * Fastify's `request.ip` and Koa's `ctx.ip` follow the framework's own proxy trust; the fetch-based
 * adapters set `ip` from what their framework offers. A bare Node request has only its socket.
 */
interface ClientLike {
  headers: Record<string, string | string[] | undefined>;
  ip?: unknown;
  socket?: { remoteAddress?: unknown } | null;
}

/** One bound property's value on this request; `''` when the request has none. */
function clientValue(engine: Engine<never>, req: unknown, property: BindingProperty): string {
  const client = req as ClientLike;
  if (property === 'userAgent') {
    const agent = client.headers['user-agent'];
    return typeof agent === 'string' ? agent : Array.isArray(agent) ? agent.join(', ') : '';
  }
  if (typeof client.ip === 'string' && client.ip !== '') return client.ip;
  const remote = client.socket?.remoteAddress;
  if (typeof remote === 'string' && remote !== '') return remote;
  // Every request would then look alike, and the IP binding would never fire: said once, not silently.
  engine.warnOnce(
    'binding.ip: a request came with no client address (the framework gave none), so its IP cannot be compared',
  );
  return '';
}

/** The fingerprint of this request's bound properties, for the session `id`. */
export function requestFingerprint(
  engine: Engine<never>,
  binding: ResolvedBinding,
  req: unknown,
  id: string,
): Fingerprint {
  return fingerprint(id, binding.properties, (property) => clientValue(engine, req, property));
}

/**
 * Judges a loaded session against this request (the option is set). `'bound'`: the stored fingerprint
 * matches. `'rebind'`: it is missing or covers other properties (a session from before the option, or
 * before a property was added), or it changed under `onChange: 'report'` (signalled): the next write
 * records this request's. `'end'`: it changed under `onChange: 'end'` (signalled): the caller ends it.
 */
export function judgeBinding<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  binding: ResolvedBinding,
  req: Req,
  id: string,
  record: SessionRecord,
): 'bound' | 'rebind' | 'end' {
  const stored = storedFingerprint(record.data);
  if (stored === null) return 'rebind';
  const current = requestFingerprint(engine as Engine<never>, binding, req, id);
  const { changed, complete } = compareFingerprints(stored, current, binding.properties);
  if (changed.length === 0) return complete ? 'bound' : 'rebind';
  signalBinding(engine, id, record.userId, changed, binding.onChange);
  return binding.onChange === 'end' ? 'end' : 'rebind';
}

/** The `binding` event, its diagnostics_channel message and its debug trace line. */
function signalBinding<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  id: string,
  userId: string | null,
  changed: BindingProperty[],
  action: BindingAction,
): void {
  if (engine.listenerCount('binding') > 0) {
    const event: BindingEvent = { handle: storageKey(id), changed, action, userId };
    engine.emit('binding', event);
  }
  publishBinding(engine.access.kind, id, changed, action, userId);
  engine.trace?.binding(id, changed, action);
}

/**
 * `data` with the fingerprint of the request `req` for the session `id` beside it, when the option is
 * set; `data` itself otherwise.
 */
export function withFingerprint(
  engine: Engine<never>,
  req: unknown,
  id: string,
  data: Record<string, unknown>,
): Record<string, unknown> {
  const { binding } = engine.options;
  if (binding === undefined) return data;
  return { ...data, [BINDING_KEY]: requestFingerprint(engine, binding, req, id) };
}
