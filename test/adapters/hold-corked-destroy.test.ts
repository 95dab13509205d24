/**
 * A destroy while the application has the response corked (`res.cork()`) in a later tick than its first
 * write: the header and the bytes of earlier ticks reach the client, as without a hold and with
 * express-session; only what was still corked is dropped. The mark of a tick's corked writes lasts that
 * tick, and the release uncorks the connection before the deferred destroy.
 */
import type { Request, Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { appFor, type Flavor, flavors, rawExchange, type Served, serve } from '../support/hold-harness.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const open: Served[] = [];
afterEach(async () => {
  for (const served of open.splice(0)) await served.close();
});

type Route = (req: Request, res: Response) => void;

/** What the client receives, without the Set-Cookie and Date lines (they differ run to run). */
async function received(flavor: Flavor, route: Route): Promise<string> {
  const app = appFor(flavor, new SlowMemoryStore(40), (routes) => {
    routes.get('/stream', (req, res) => {
      (req.session as unknown as Record<string, unknown>).streamed = true;
      route(req, res);
    });
  });
  const served = await serve(app);
  open.push(served);
  const { text } = await rawExchange(served.port, 'GET /stream HTTP/1.1\r\nHost: x\r\n\r\n', 2_000);
  return text.replace(/^(Set-Cookie|Date): .*\r\n/gim, '');
}

async function beside(route: Route): Promise<Record<Flavor, string>> {
  const outcome = {} as Record<Flavor, string>;
  for (const flavor of flavors) outcome[flavor] = await received(flavor, route);
  return outcome;
}

describe('a corked destroy under a held response', () => {
  it('cork, write and destroy in a later tick: the earlier chunk still goes out', async () => {
    const outcome = await beside((_req, res) => {
      res.write('earlier-tick-');
      setTimeout(() => {
        res.cork();
        res.write('same-tick-');
        res.destroy();
      }, 2);
    });
    expect(outcome['express-session']).toContain('earlier-tick-');
    expect(outcome['express-session']).not.toContain('same-tick-');
    expect(outcome.sessionkit).toBe(outcome['express-session']);
  });

  it('cork and destroy in a later tick, nothing written then: the earlier chunk still goes out', async () => {
    const outcome = await beside((_req, res) => {
      res.write('earlier-tick-');
      setTimeout(() => {
        res.cork();
        res.destroy();
      }, 2);
    });
    expect(outcome['express-session']).toContain('earlier-tick-');
    expect(outcome.sessionkit).toBe(outcome['express-session']);
  });
});
