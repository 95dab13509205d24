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

/** What deletePrefixed uses of a node-redis client (its generics differ with how it was created). */
interface PrefixedKeys {
  scanIterator(options: { MATCH: string }): AsyncIterable<string[]>;
  del(keys: string[]): Promise<unknown>;
}

/** Deletes every key under `prefix`, the namespace a test wrote under (see runNamespace). */
export async function deletePrefixed(client: PrefixedKeys, prefix: string): Promise<void> {
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*` }))
    if (keys.length) await client.del(keys);
}
