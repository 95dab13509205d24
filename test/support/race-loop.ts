import { urlVia } from './services.js';
import { WireProxy } from './wire-proxy.js';

/**
 * Races an operation against a second party (a logout, a revoke) started at a random offset, many times.
 * The operation takes several delayed round trips, longer on a busy machine, so the offsets are drawn
 * from twice the median of five timed runs of it alone, here and now: the second party lands before,
 * during and after it. Halfway through, a tally still one-sided means the machine's pace changed, and
 * the offsets widen or narrow.
 */
export interface RaceLoop {
  trials: number;
  /** Races in flight at once; each must use its own user or session. */
  lanes: number;
  /** One run of the operation alone; resolves to how long the timed part took, in ms. */
  timeOne(): Promise<number>;
  /** One race, the second party starting within `spreadMs`; resolves to whether the operation won. */
  race(spreadMs: number): Promise<boolean>;
}

/** How many races the operation won and lost. The caller checks both happened: a one-sided run proves nothing. */
export async function runRaces({
  trials,
  lanes,
  timeOne,
  race,
}: RaceLoop): Promise<{ won: number; lost: number }> {
  const took: number[] = [];
  for (let i = 0; i < 5; i++) took.push(await timeOne());
  let spreadMs = 2 * (took.sort((a, b) => a - b)[2] as number);
  let won = 0;
  let lost = 0;
  const oneRace = async (): Promise<void> => {
    if (await race(spreadMs)) won++;
    else lost++;
  };
  for (let done = 0; done < trials; done += lanes) {
    await Promise.all(Array.from({ length: Math.min(lanes, trials - done) }, oneRace));
    if (done >= trials / 2 && won === 0) spreadMs *= 1.5;
    if (done >= trials / 2 && lost === 0) spreadMs /= 1.5;
  }
  return { won, lost };
}

/**
 * A `via` for store factories: starts a proxy to `url`'s host delaying each chunk by up to `maxDelayMs`,
 * records it in `proxies` (to stop afterwards), and gives the URL that goes through it.
 */
export function delayingVia(proxies: WireProxy[], maxDelayMs: number): (url: string) => Promise<string> {
  return async (url) => {
    const { hostname, port } = new URL(url);
    const proxy = new WireProxy(hostname, Number(port));
    proxy.maxDelayMs = maxDelayMs;
    await proxy.start();
    proxies.push(proxy);
    return urlVia(url, '127.0.0.1', proxy.port);
  };
}
