import { serviceSkipReason } from './services.js';

/**
 * Why the Redis at `url` cannot be used, or false once it answered a PING (see serviceSkipReason). ioredis
 * is loaded only when probing, so a test file that never reaches Redis does not load it.
 */
export function redisSkipReason(url: string): Promise<string | false> {
  return serviceSkipReason(`Redis at ${url}`, async () => {
    const { Redis } = await import('ioredis');
    const probe = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
    } finally {
      probe.disconnect();
    }
  });
}
