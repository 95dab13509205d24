import { createHook } from 'node:async_hooks';
import type { EventEmitter } from 'node:events';
import { readdirSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Measuring tools for the resource-leak tests (test/security/resource-leaks.test.ts): what a server still
 * holds once every request is over. Each answers with something a test compares with nothing (or with a
 * baseline), and the canaries at the end of that file prove that each reports a leak put there on purpose.
 */

/**
 * A full garbage collection on demand. vitest does not start its workers with `--expose-gc`; V8 hands
 * `gc` to contexts created after the flag is set, so a fresh context gives it. The flag changes nothing
 * else, and only for contexts made afterwards.
 */
export function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  if (typeof gc !== 'function') throw new Error('cannot force a garbage collection in this runtime');
  return gc as () => void;
}

/** Two turns of the event loop: past one poll phase, where a socket's close or reset is read. */
export async function nextPoll(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

/** Counts tracked objects that are still reachable, by a FinalizationRegistry, after forced collections. */
export class Retention {
  private readonly alive = new Set<string>();
  tracked = 0;
  private readonly registry = new FinalizationRegistry<string>((label) => {
    this.alive.delete(label);
  });

  constructor(private readonly gc: () => void) {}

  /** `label` names the object in `survivors()`; unique per object. */
  track(target: object, label = `#${this.tracked}`): void {
    this.registry.register(target, label);
    this.alive.add(label);
    this.tracked++;
  }

  /**
   * Collects until the count stops falling, three rounds at least: finalizers run as tasks after a
   * collection, and what a callback still due held (an immediate, a tick) is free only after it ran.
   */
  async retained(): Promise<number> {
    let previous = -1;
    for (let round = 0; round < 12 && (round < 3 || this.alive.size !== previous); round++) {
      previous = this.alive.size;
      this.gc();
      await nextPoll();
    }
    // On a loaded machine a reset socket's close can be read a few polls later than that, and what it
    // held is free only then: a leak stays through this wait, a late close does not.
    for (let waited = 0; this.alive.size > 0 && waited < 300; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      this.gc();
      await nextPoll();
    }
    return this.alive.size;
  }

  /** The tracked objects not collected so far (read after `retained()`, or `collect()`). */
  get count(): number {
    return this.alive.size;
  }

  /** Some of the tracked objects still reachable, by label (for a failure's message). */
  survivors(max = 8): string[] {
    return [...this.alive].slice(0, max);
  }
}

/** `retained()` for several trackers at once: one series of collections serves them all. */
export async function collect(gc: () => void, trackers: readonly Retention[]): Promise<void> {
  const total = () => trackers.reduce((sum, tracker) => sum + tracker.count, 0);
  let previous = -1;
  for (let round = 0; round < 12 && (round < 3 || total() !== previous); round++) {
    previous = total();
    gc();
    await nextPoll();
  }
}

/**
 * Node's own timer that resets the cached `Date` header each second: one per process, made again by the
 * first response of each second, so whether it is alive says nothing about the code under test.
 */
function isDateCache(resource: object | undefined): boolean {
  return (resource as { _onTimeout?: { name?: string } } | undefined)?._onTimeout?.name === 'resetCache';
}

/** A timer's duration and callback name, so that a report says which timer stayed. */
function describeTimer(resource: object | undefined): string {
  const timer = resource as { _idleTimeout?: number; _onTimeout?: { name?: string } } | undefined;
  return `${timer?._idleTimeout ?? '?'} ms ${timer?._onTimeout?.name || 'anonymous'}`;
}

/**
 * The asynchronous resources created while it records and still alive: timers (unref'd ones too, which
 * `process.getActiveResourcesInfo()` leaves out), immediates, sockets, servers, file requests, async
 * resources of libraries. Promises are not counted (a settled promise has no destroy event), nor
 * crypto's random-bytes jobs (the pool refills on its own schedule).
 */
export class ResourceWatch {
  private readonly live = new Map<number, { type: string; resource: WeakRef<object> }>();
  private recording = false;
  private readonly hook = createHook({
    init: (asyncId, type, _trigger, resource) => {
      if (!this.recording || type === 'PROMISE' || type === 'RANDOMBYTESREQUEST') return;
      this.live.set(asyncId, { type, resource: new WeakRef(resource as object) });
    },
    destroy: (asyncId) => {
      this.live.delete(asyncId);
    },
  });

  start(): this {
    this.recording = true;
    this.hook.enable();
    return this;
  }

  /**
   * What is still alive, by type (`{ Timeout: 2, TCPWRAP: 1 }`; a timer with its duration and callback,
   * `Timeout 5000 ms onTimeout`), once the destroy events already due have been delivered (they come in
   * batches, after the turn that ended the resource). On a busy machine a batch, or a socket's close the
   * client sent last, can come a few turns later: it looks again over a few polls (about a quarter of a
   * second) while anything is left, so only what stays alive is reported. Resources made while it waits
   * are not recorded.
   */
  async settled(): Promise<Record<string, number>> {
    this.recording = false;
    let counts: Record<string, number> = {};
    for (let look = 0; look < 6; look++) {
      if (look > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      await nextPoll();
      counts = this.alive();
      if (Object.keys(counts).length === 0) break;
    }
    return counts;
  }

  private alive(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const { type, resource } of this.live.values()) {
      const target = resource.deref();
      if (type === 'Timeout' && isDateCache(target)) continue;
      const name = type === 'Timeout' ? `Timeout ${describeTimer(target)}` : type;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    return counts;
  }

  stop(): void {
    this.recording = false;
    this.hook.disable();
    this.live.clear();
  }
}

/** The process's open file descriptors (Linux `/proc/self/fd`), or `null` where that cannot be read. */
export function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

/** Every listener on each emitter, by name: `{ 'store.error': 1, 'server.request': 2, … }`. */
export function listeners(emitters: Record<string, EventEmitter>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [name, emitter] of Object.entries(emitters))
    for (const event of emitter.eventNames()) {
      const count = emitter.listenerCount(event);
      if (count > 0) counts[`${name}.${String(event)}`] = count;
    }
  return counts;
}

/** Resolves when `done()` holds, checked again at each `poke()`; rejects after `ms` with `describe()`. */
export class Quiescence {
  private readonly waiters = new Set<() => void>();

  poke(): void {
    for (const wake of this.waiters) wake();
  }

  /** Whether `done()` came to hold within `ms`. */
  async within(done: () => boolean, ms: number): Promise<boolean> {
    try {
      await this.until(done, ms, () => '');
      return true;
    } catch {
      return false;
    }
  }

  async until(done: () => boolean, ms: number, describe: () => string): Promise<void> {
    if (done()) return;
    let timer: NodeJS.Timeout | undefined;
    let wake: () => void = () => undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        wake = () => {
          if (done()) resolve();
        };
        this.waiters.add(wake);
        timer = setTimeout(() => reject(new Error(`still busy after ${ms} ms: ${describe()}`)), ms);
      });
    } finally {
      clearTimeout(timer);
      this.waiters.delete(wake);
    }
  }
}

/**
 * What an HTTP server is doing, whatever framework serves it: connections open, responses not closed yet,
 * and each request as it arrives (`seen`, e.g. for `Retention`).
 */
export class ServerTally {
  connections = 0;
  responses = 0;
  requests = 0;
  private readonly onConnection = (socket: Socket) => {
    this.connections++;
    socket.once('close', () => {
      this.connections--;
      this.quiet.poke();
    });
  };
  private readonly onRequest = (req: IncomingMessage, res: ServerResponse) => {
    this.requests++;
    this.responses++;
    this.seen?.(req, res);
    res.once('close', () => {
      this.responses--;
      this.quiet.poke();
    });
  };

  constructor(
    private readonly server: Server,
    readonly quiet: Quiescence,
    private readonly seen?: (req: IncomingMessage, res: ServerResponse) => void,
  ) {
    server.on('connection', this.onConnection);
    server.on('request', this.onRequest);
  }

  idle(): boolean {
    return this.connections === 0 && this.responses === 0;
  }

  describe(): string {
    return `${this.connections} connection(s) and ${this.responses} response(s) open`;
  }

  detach(): void {
    this.server.off('connection', this.onConnection);
    this.server.off('request', this.onRequest);
  }
}

/** How a client leaves: a FIN (`destroy()`) or a TCP reset (`resetAndDestroy()`). */
export type Leaving = 'fin' | 'rst';

export interface RawOutcome {
  /** The response's status, when its status line arrived before the connection closed. */
  status: number | null;
  /** Everything received (the head, and the body up to `keep` bytes). */
  text: string;
  bytes: number;
  /** The client cut the connection (else the server closed it). */
  aborted: boolean;
  ms: number;
}

/**
 * One GET on a fresh connection, cut by the client when `cut` settles (or at the first byte of the
 * response with `'first-byte'`, or as soon as the request is written with `'sent'`); with `null` the
 * client waits for the server to close. Resolves when the connection has closed.
 */
export function rawGet(
  port: number,
  path: string,
  options: {
    cookie?: string;
    cut: Promise<unknown> | 'first-byte' | 'sent' | null;
    leaving?: Leaving;
    /** How much of the response to keep in `text` (default 256 bytes; the rest is only counted). */
    keep?: number;
  },
): Promise<RawOutcome> {
  const started = performance.now();
  const keep = options.keep ?? 256;
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const kept: Buffer[] = [];
    let held = 0;
    let bytes = 0;
    let aborted = false;
    const leave = () => {
      if (socket.destroyed) return;
      aborted = true;
      if (options.leaving === 'rst') socket.resetAndDestroy();
      else socket.destroy();
    };
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (held < keep) {
        kept.push(chunk.subarray(0, keep - held));
        held += Math.min(chunk.length, keep - held);
      }
      if (options.cut === 'first-byte') leave();
    });
    socket.on('close', () => {
      const text = Buffer.concat(kept).toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({
        status: match ? Number(match[1]) : null,
        text,
        bytes,
        aborted,
        ms: performance.now() - started,
      });
    });
    socket.on('connect', () => {
      const cookie = options.cookie ? `Cookie: ${options.cookie}\r\n` : '';
      socket.write(`GET ${path} HTTP/1.1\r\nHost: leak.test\r\n${cookie}Connection: close\r\n\r\n`);
      if (options.cut === 'sent') leave();
    });
    if (options.cut !== null && typeof options.cut === 'object') void options.cut.then(leave, leave);
  });
}

export interface ParsedResponse {
  status: number;
  body: string;
}

/**
 * A keep-alive HTTP/1.1 connection: one request at a time, each response parsed whole (Content-Length or
 * chunked), and every byte that arrives outside a response kept in `stray` (a late write of an earlier
 * response would show there, or in the next response).
 */
export class KeepAlive {
  private readonly socket: Socket;
  private buffer = Buffer.alloc(0);
  private waiting: ((response: ParsedResponse) => void) | null = null;
  private failed: ((error: Error) => void) | null = null;
  stray = '';
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.parse();
    });
    socket.on('close', () => {
      this.closed = true;
      this.failed?.(new Error(`connection closed with ${this.buffer.length} unparsed byte(s)`));
    });
  }

  static async open(port: number): Promise<KeepAlive> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new KeepAlive(socket);
  }

  get(path: string, cookie?: string): Promise<ParsedResponse> {
    if (this.waiting !== null) throw new Error('one request at a time');
    const promise = new Promise<ParsedResponse>((resolve, reject) => {
      this.waiting = resolve;
      this.failed = reject;
    });
    const header = cookie ? `Cookie: ${cookie}\r\n` : '';
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: leak.test\r\n${header}\r\n`);
    return promise;
  }

  close(): void {
    this.socket.destroy();
  }

  private parse(): void {
    const text = this.buffer.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    if (this.waiting === null) {
      this.stray += text;
      this.buffer = Buffer.alloc(0);
      return;
    }
    if (end === -1) return;
    const head = text.slice(0, end);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    let body: string;
    let consumed: number;
    if (length) {
      const size = Number(length[1]);
      if (text.length < end + 4 + size) return;
      body = text.slice(end + 4, end + 4 + size);
      consumed = end + 4 + size;
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      let at = end + 4;
      body = '';
      for (;;) {
        const line = text.indexOf('\r\n', at);
        if (line === -1) return;
        const size = Number.parseInt(text.slice(at, line), 16);
        if (text.length < line + 2 + size + 2) return;
        body += text.slice(line + 2, line + 2 + size);
        at = line + 2 + size + 2;
        if (size === 0) break;
      }
      consumed = at;
    } else {
      body = '';
      consumed = end + 4;
    }
    this.buffer = this.buffer.subarray(consumed);
    const resolve = this.waiting;
    this.waiting = null;
    this.failed = null;
    resolve({ status, body });
    if (this.buffer.length > 0) this.parse();
  }
}
