/**
 * The per-request state of the engine, and the engine's shape as its modules see it (load.ts,
 * commit.ts and cookie-policy.ts are functions over it, so that none of them imports the manager).
 */
import type { CookieOptions, CookieShape } from '../core/cookie.js';
import type { RequestTrace } from '../core/debug.js';
import { SessionError } from '../core/errors.js';
import type { Session, SessionClass, SessionController } from '../core/session.js';
import type { Secret } from '../core/signature.js';
import type { ResolvedOptions, SessionRequestLike } from './options.js';
import type { SessionStore, StoreAccess, StoreInput } from './store-access.js';

/**
 * Where an adapter whose response cannot always carry a cookie (a Next.js Server Component) puts a check
 * on its carrier. The engine calls it before store work that only a new Set-Cookie can hand to the
 * browser (a session created, its ID moved, the session ended), so that such a request is refused before
 * it leaves a session no browser can reach, or ends the one the browser holds.
 */
export const BEFORE_COOKIE_CHANGE: unique symbol = Symbol('sessionkit.beforeCookieChange');

/** What the middleware puts on the request, as express-session does. */
export interface SessionCarrier {
  session?: Session | null;
  sessionID?: string;
  sessionStore?: StoreInput;
  [BEFORE_COOKIE_CHANGE]?(): void;
}

/** Runs the carrier's BEFORE_COOKIE_CHANGE check, if its adapter set one: throws to refuse. */
export function beforeCookieChange(req: unknown): void {
  (req as SessionCarrier)[BEFORE_COOKIE_CHANGE]?.();
}

/**
 * Which IDs a session's end reaches beside its own: those a renewal (`'renewed'`) or also a kept
 * regenerate (`'all'`) of it moves a session to, or none (an ID never stored).
 */
export type Successors = 'all' | 'renewed' | 'none';

export interface RequestContext {
  session: Session;
  cookieOptions: CookieOptions;
  /** The ID the request's cookie carried, verified and well-formed (whether or not the store had it). */
  presentedId: string | null;
  /** The cookie was verified by an older secret: the response re-signs it with the newest (C35). */
  resign: boolean;
  /** The store failed and `onStoreError: 'anonymous'`: nothing is stored, no cookie is sent. */
  ephemeral: boolean;
  /** This request destroyed or replaced the session its cookie named. */
  ended: boolean;
  /**
   * The Path and Domain of the cookie the browser holds for the session loaded, as stored: the cookie that
   * clears it must have them, or the browser takes it for another cookie and keeps the old one (C15).
   */
  heldScope: Pick<CookieShape, 'path' | 'domain'> | null;
  /**
   * The ID a `regenerate({ keep: true })` of this request moved the session to: stored at once, its cookie
   * not sent yet, so it is ended if the application then removes `req.session` (see SessionManager.endUnset).
   */
  moved: string | null;
  /**
   * The session another request moved while this one waited (see SessionManager.afterOtherMove): the
   * response writes nothing of it and sends no cookie for it.
   */
  superseded: Session | null;
  /**
   * A destroy() of that session failed in the store: the session may still be there, so the browser keeps
   * its cookie (to retry the logout) instead of being told to forget a session that lives on.
   */
  endFailed: boolean;
  secure: boolean | null;
  /** Session operations still running (a destroy() whose callback the app did not wait for). */
  pending: Set<Promise<unknown>> | null;
  /** The commit's store write while it runs: a save() called meanwhile waits for it instead of racing it. */
  writing: Promise<unknown> | null;
  /** The last save() of this request while it runs: the next one waits for it instead of racing it. */
  saving: Promise<void> | null;
  /** The commit has run (the response's first byte): a later write can no longer send a cookie. */
  committed: boolean;
  /** What this request signs and verifies with: the `secret` option, or the request's `req.secret`. */
  secrets: readonly Secret[];
  /** The store as this request talks to it (see `StoreAccess.channel`). */
  store: SessionStore;
  /** The commit's write carries nothing the application changed (a touch, a resave, an empty new session). */
  quiet: boolean;
  /** An error of such a write, reported to `next(err)` once the response is out (see `reportLate`). */
  late: unknown;
}

/** The request type the engine's functions work on. */
export type EngineRequest<Req extends SessionRequestLike> = Req & SessionCarrier;

/** What the engine's modules need of the SessionManager (which implements it). */
export interface Engine<Req extends SessionRequestLike = SessionRequestLike> extends SessionController {
  readonly options: ResolvedOptions<Req>;
  readonly access: StoreAccess;
  readonly trace: RequestTrace | null;
  /** Where each request's RequestContext is kept on the request (see SessionManager). */
  readonly contextKey: symbol;
  /** `false` while the store reports its backend disconnected. */
  readonly storeReady: boolean;
  secureOf(req: Req): boolean;
  /** What sessions are made as: Session, or an adapter's subclass (see SessionManager). */
  readonly sessionClass: SessionClass;
  emitFor(event: string, id: string): void;
  report(error: unknown): void;
  warnOnce(message: string): void;
  listenerCount(event: string): number;
  emit(event: string, ...args: unknown[]): boolean;
  destroyStored(store: SessionStore, id: string): Promise<void>;
  endStored(store: SessionStore, id: string, successors?: Successors): Promise<void>;
  unsetEnds(context: RequestContext): boolean;
  endUnset(context: RequestContext): Promise<void>;
  renewalSecret(): Secret;
  renewedIdOf(oldId: string): string;
}

/** The request's bookkeeping, put on the request with `req.sessionStore` as express-session does. */
export function newContext<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
  cookieOptions: CookieOptions,
  secrets: readonly Secret[],
): RequestContext {
  const context: RequestContext = {
    session: undefined as unknown as Session,
    cookieOptions,
    presentedId: null,
    resign: false,
    ephemeral: false,
    ended: false,
    heldScope: null,
    moved: null,
    superseded: null,
    endFailed: false,
    secure: null,
    pending: null,
    writing: null,
    saving: null,
    committed: false,
    secrets,
    store: engine.access.channel(),
    quiet: false,
    late: undefined,
  };
  (req as unknown as Record<symbol, RequestContext>)[engine.contextKey] = context;
  req.sessionStore = engine.access.given;
  return context;
}

export function contextFor(engine: Engine<never>, req: SessionCarrier): RequestContext | undefined {
  return (req as unknown as Record<symbol, RequestContext | undefined>)[engine.contextKey];
}

export function contextOf(engine: Engine<never>, req: SessionCarrier): RequestContext {
  const context = contextFor(engine, req);
  if (!context) throw new SessionError('ERR_NO_SESSION', 'sessionkit: this request has no session context');
  return context;
}
