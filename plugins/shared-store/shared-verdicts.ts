// clerk-auth's SharedVerdicts on Valkey or Redis: Clerk's answers on opaque tokens by the token's hash,
// the claim to ask Clerk about one, and the fleet's count of calls per second.
import type { Redis } from 'ioredis'
import type { SharedVerdicts } from '../clerk-auth/index.js'

// A second's count is kept a little past its second, for replicas whose clocks are a little behind.
const COUNT_KEPT_MS = 5000
// One round trip, and a count never left without its expiry.
const COUNT_CALL = 'local n = redis.call("INCR", KEYS[1]) redis.call("PEXPIRE", KEYS[1], ARGV[1]) return n'

export function redisVerdicts (client: Redis, keyPrefix: string): SharedVerdicts {
  const answer = (key: string): string => `${keyPrefix}machine-answer:${key}`
  const claimOf = (key: string): string => `${keyPrefix}machine-claim:${key}`
  return {
    get: async (key) => await client.get(answer(key)),
    set: async (key, value, ttlMs) => { await client.set(answer(key), value, 'PX', Math.max(1, Math.ceil(ttlMs))) },
    claim: async (key, ttlMs) => await client.set(claimOf(key), '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX') === 'OK',
    release: async (key) => { await client.del(claimOf(key)) },
    countCall: async (second) => await client.eval(COUNT_CALL, 1, `${keyPrefix}machine-calls:${second}`, COUNT_KEPT_MS) as number
  }
}
