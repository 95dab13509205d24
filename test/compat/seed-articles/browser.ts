/**
 * A cookie-keeping client on fetch whose every response comes back as what a browser's user observes
 * of it (status, body, redirect, which cookies were set or cleared with which attributes), normalized
 * so that two implementations' answers compare with toEqual.
 */

/** What a browser observes of one response, normalized. */
export interface Step {
  step: string;
  status: number;
  body: string;
  location: string | null;
  cookies: string[];
  headers?: Record<string, string | null>;
}

export class Browser {
  jar = new Map<string, string>();
  constructor(
    public base: string,
    /** Sent as Origin, for the cross-origin app (article 004). */
    public origin?: string,
    /**
     * Awaited after each response, before the next request: express-session answers before its store
     * has finished what the request started (a `destroy()` the route does not wait for).
     */
    public settle?: () => Promise<void>,
  ) {}

  /** The Cookie header the jar sends. */
  cookieHeader(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** Requests each `[step, path, init]` in turn; `keepHeaders` as in `req`. */
  async walk(requests: Array<[step: string, path: string, init?: RequestInit]>, keepHeaders: string[] = []) {
    const steps: Step[] = [];
    for (const [step, path, init] of requests) steps.push(await this.req(step, path, init, keepHeaders));
    return steps;
  }

  /** Requests `path`; `keepHeaders` are response headers the comparison includes. */
  async req(step: string, path: string, init: RequestInit = {}, keepHeaders: string[] = []): Promise<Step> {
    const headers = new Headers(init.headers);
    if (this.jar.size && init.credentials !== 'omit') headers.set('cookie', this.cookieHeader());
    if (this.origin) headers.set('origin', this.origin);
    const res = await fetch(this.base + path, {
      signal: AbortSignal.timeout(4000),
      ...init,
      headers,
      redirect: 'manual',
    });
    const cookies: string[] = [];
    for (const c of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1);
      const cleared = attrs.some((a) => /expires=Thu, 01 Jan 1970/i.test(a)) || value === '';
      if (cleared) this.jar.delete(name);
      else this.jar.set(name, value);
      // SameSite and Expires are left out: the two implementations word them differently (Expires is
      // a date that moves with the clock); Max-Age is kept, rounded to the ten seconds a run may take.
      const attrNames = attrs
        .map((a) => a.trim().split('=')[0]!.toLowerCase())
        .filter((a) => a !== 'samesite' && a !== 'expires')
        .sort();
      const maxAge = /max-age=(\d+)/i.exec(c)?.[1];
      cookies.push(
        `${name}:${cleared ? 'clear' : 'set'}[${attrNames.join(',')}]${maxAge ? `max-age~${Math.round(Number(maxAge) / 10)}` : ''}`,
      );
    }
    // Article 003 prints the seconds left, which differ by the time between the two runs.
    const body = (await res.text()).replace(
      /expires in: ([\d.]+)s/g,
      (_m, n) => `expires in: ~${Math.round(Number(n))}s`,
    );
    await this.settle?.();
    const kept: Record<string, string | null> = {};
    for (const h of keepHeaders) kept[h] = res.headers.get(h);
    return {
      step,
      status: res.status,
      body,
      location: res.headers.get('location'),
      cookies,
      ...(keepHeaders.length ? { headers: kept } : {}),
    };
  }
}

/**
 * sessionkit's steps less its documented difference: an expiring cookie on destroy where
 * express-session sends none (README row "destroy() sends no cookie").
 */
export function filterDocumented(es: Step[], sk: Step[]): Step[] {
  return sk.map((s, i) => {
    const e = es[i];
    if (!e) return s;
    const cookies = s.cookies.filter((c) => {
      if (!c.includes(':clear')) return true;
      const name = c.split(':')[0];
      return e.cookies.some((x) => x.startsWith(`${name}:`));
    });
    return { ...s, cookies };
  });
}

/**
 * Counts the store calls in flight on an express-session store (its callback API), so that a test can
 * wait until the store has finished what a request started. `idle()` resolves once none is in flight.
 */
export function trackStoreCalls(store: unknown): { idle(): Promise<void> } {
  let inFlight = 0;
  let waiters: Array<() => void> = [];
  if (typeof store !== 'object' || store === null) return { idle: () => Promise.resolve() };
  const methods = store as Record<string, unknown>;
  for (const name of ['get', 'set', 'destroy', 'touch']) {
    const method = methods[name];
    if (typeof method !== 'function') continue;
    methods[name] = function (this: unknown, ...args: unknown[]) {
      const callback = args.at(-1);
      if (typeof callback !== 'function') return method.apply(this, args);
      inFlight++;
      let settled = false;
      args[args.length - 1] = (...results: unknown[]) => {
        if (!settled) {
          settled = true;
          inFlight--;
          if (inFlight === 0) {
            const ready = waiters;
            waiters = [];
            for (const resolve of ready) resolve();
          }
        }
        return callback(...results);
      };
      return method.apply(this, args);
    };
  }
  return {
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
  };
}

/** Collects process warnings (sessionkit warns through process.emitWarning without a logger). */
export function collectWarnings() {
  const warnings: string[] = [];
  const on = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', on);
  return { warnings, stop: () => process.off('warning', on) };
}
