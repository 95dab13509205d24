import { Redis } from 'ioredis';
import { serviceSkipReason } from './services.js';

/** Why the Redis at `url` cannot be used, or false once it answered a PING (see serviceSkipReason). */
export function redisSkipReason(url: string): Promise<string | false> {
  return serviceSkipReason(`Redis at ${url}`, async () => {
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
