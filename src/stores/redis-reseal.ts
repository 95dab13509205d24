import { createHash } from 'node:crypto';
import type { Script } from './redis-scripts.js';

/**
 * `resealByHandle` on Redis: KEYS[1] the session hash; ARGV `field, from, to` triples. Each field is set
 * to `to` only while it still holds `from`, all in one script, so an application write that reached a
 * field first is kept. HGET of an absent key is false, never equal: a deleted record is not recreated.
 * A value of another length voids the data's size bound (`_sz`, see UPDATE_LUA): the next write that
 * needs it measures the data again.
 */
const RESEAL_LUA = `
local n = 0
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    n = n + 1
  end
end
if n > 0 then redis.call('HDEL', KEYS[1], '_sz', '_sl') end
return n
`;

export const RESEAL_SCRIPT: Script = {
  source: RESEAL_LUA,
  sha: createHash('sha1').update(RESEAL_LUA).digest('hex'),
  keys: 1,
};
