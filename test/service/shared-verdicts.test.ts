// Replicas sharing a real redis-server ask Clerk's Backend API (the test issuer on 127.0.0.1, which
// counts every call) once per opaque token per cache period, whichever replica is asked and however
// many at once, keep one calls-per-second bound for the fleet, and each decide alone while the store
// is down.
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { testClock, waitFor } from '../../plugins/clerk-auth/test/support/observe.js'
import { bearer } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp, type Env } from '../support/app.js'
import { startRedis } from '../support/redis.js'

const CACHE_MS = 10_000

async function setUp (t: Test) {
  const clock = testClock()
  const redis = await startRedis(t)
  const issuer = await startIssuer(t, { now: clock.now })
  // every request here comes from one address: the per-client budget is out of the way
  const replica = async (env: Env = {}) => await buildApp(t, {
    CLERK_ISSUER_URL: issuer.url,
    CLERK_SECRET_KEY: issuer.secretKey,
    CLERK_API_URL: issuer.url,
    CLERK_API_MAX_CALLS_PER_CLIENT_PER_SECOND: 1000,
    CLERK_MACHINE_TOKEN_CACHE_MS: CACHE_MS,
    REDIS_URL: redis.url,
    ...env
  }, { now: clock.now })
  return { clock, redis, issuer, replica }
}

const ping = async (app: FastifyInstance, token: string): Promise<string> => {
  const res = await app.inject({ url: '/machine-pings/1', headers: bearer(token) })
  return res.statusCode === 200 ? res.body : `${res.statusCode} ${String(res.json().code)}`
}

t.test('an opaque token asked of two replicas costs one call to Clerk per cache period; the period runs from Clerk\'s answer', async (t) => {
  const { clock, issuer, replica } = await setUp(t)
  const a = await replica()
  const b = await replica()
  const key = issuer.apiKey({ subject: 'user_shared' })
  t.equal(await ping(a, key), 'Machine Ping #1 for user_shared!')
  t.equal(await ping(b, key), 'Machine Ping #1 for user_shared!', 'B took A\'s answer')
  t.equal(issuer.backendApiCalls().length, 1)
  t.equal(b.clerkAuth.stats().machineApiSharedVerdicts, 1)
  t.equal(b.clerkAuth.stats().machineApiCalls, 0)

  const revoked = issuer.apiKey({ revoked: true })
  t.equal(await ping(a, revoked), '401 token_revoked')
  t.equal(await ping(b, revoked), '401 token_revoked', 'Clerk\'s no is shared too')
  const unknown = `ak_${'z'.repeat(40)}`
  t.equal(await ping(a, unknown), '401 token_unknown')
  t.equal(await ping(b, unknown), '401 token_unknown')
  t.equal(issuer.backendApiCalls().length, 3)

  clock.advance(CACHE_MS - 1)
  t.equal(await ping(b, key), 'Machine Ping #1 for user_shared!', 'within the period of A\'s answer')
  clock.advance(1)
  t.equal(await ping(b, key), 'Machine Ping #1 for user_shared!')
  t.equal(issuer.backendApiCalls().length, 4, 'B\'s copy ended with A\'s period, not a period after B read it')
  t.equal(await ping(a, key), 'Machine Ping #1 for user_shared!')
  t.equal(issuer.backendApiCalls().length, 4, 'and A takes B\'s new answer')
  t.notMatch(JSON.stringify(await keysAndValues(t, a)), key, 'the store holds no token')
})

async function keysAndValues (t: Test, app: FastifyInstance): Promise<Record<string, string | null>> {
  const raw = new Redis(app.config.REDIS_URL as string)
  t.teardown(() => raw.disconnect())
  const keys = await raw.keys('*')
  const out: Record<string, string | null> = {}
  for (const key of keys) out[key] = await raw.type(key) === 'string' ? await raw.get(key) : null
  return out
}

t.test('many replicas asked about one new token at once make one call: the others wait for its answer', async (t) => {
  const { issuer, replica } = await setUp(t)
  const replicas = [await replica(), await replica(), await replica()]
  const key = issuer.apiKey({ subject: 'user_concurrent' })
  issuer.backendApiFault = 'held'
  const answers = Promise.all(replicas.flatMap((app) => [ping(app, key), ping(app, key)]))
  await waitFor(() => issuer.backendApiCalls().length === 1)
  issuer.backendApiFault = undefined
  issuer.releaseHeldBackendApi()
  t.same(await answers, Array(6).fill('Machine Ping #1 for user_concurrent!'))
  t.equal(issuer.backendApiCalls().length, 1)
})

t.test('a replica whose call to Clerk never ends holds the others back by the API timeout at most', async (t) => {
  const { issuer, replica } = await setUp(t)
  const a = await replica({ CLERK_API_TIMEOUT_MS: 300 })
  const b = await replica({ CLERK_API_TIMEOUT_MS: 300 })
  const key = issuer.apiKey({ subject: 'user_hung' })
  issuer.backendApiFault = 'hang'
  const first = ping(a, key)
  await waitFor(() => issuer.backendApiCalls().length === 1)
  t.same(await Promise.all([first, ping(b, key)]), ['503 clerk_api_unavailable', '503 clerk_api_unavailable'])
  t.equal(issuer.backendApiCalls().length, 2, 'B gave up waiting for A\'s claim and asked itself')
  issuer.backendApiFault = undefined
  t.equal(await ping(b, key), 'Machine Ping #1 for user_hung!', 'failures are not shared: the next request asks again')
})

t.test('CLERK_API_MAX_CALLS_PER_SECOND holds for the fleet, with its share for re-checks kept', async (t) => {
  const { clock, issuer, replica, redis } = await setUp(t)
  // 4 a second; new tokens may take 3 of them
  const a = await replica({ CLERK_API_MAX_CALLS_PER_SECOND: 4 })
  const b = await replica({ CLERK_API_MAX_CALLS_PER_SECOND: 4 })
  const keys = Array.from({ length: 6 }, (_, i) => issuer.apiKey({ subject: `user_${i}` }))
  const said = []
  for (const [i, key] of keys.entries()) said.push(await ping(i % 2 === 0 ? a : b, key))
  t.same(said, ['Machine Ping #1 for user_0!', 'Machine Ping #1 for user_1!', 'Machine Ping #1 for user_2!', '503 clerk_api_unavailable', '503 clerk_api_unavailable', '503 clerk_api_unavailable'],
    'each replica alone would have let all six through')
  t.equal(issuer.backendApiCalls().length, 3)
  t.equal(a.clerkAuth.stats().machineApiBudgetRefusals.fleet + b.clerkAuth.stats().machineApiBudgetRefusals.fleet, 3)
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  t.equal((await raw.keys('clerk-auth:machine-claim:*')).length, 3, 'a replica refused by the budget gives its claim up: no other waits for a call that will not come')

  // a cache period later, in a second whose new-token share the fleet spends again
  clock.advance(CACHE_MS)
  const more = Array.from({ length: 3 }, (_, i) => issuer.apiKey({ subject: `user_more_${i}` }))
  for (const [i, key] of more.entries()) t.equal(await ping(i % 2 === 0 ? a : b, key), `Machine Ping #1 for user_more_${i}!`)
  t.equal(await ping(b, keys[1] as string), 'Machine Ping #1 for user_1!', 'a re-check takes the kept share')
  t.equal(await ping(b, keys[3] as string), '503 clerk_api_unavailable', 'a new token does not')
  t.equal(issuer.backendApiCalls().length, 7)
  clock.advance(1000)
  t.equal(await ping(b, keys[3] as string), 'Machine Ping #1 for user_3!', 'the next second')
})

t.test('while the store is down each replica asks Clerk on its own, and sharing resumes when it returns', async (t) => {
  const { issuer, replica, redis } = await setUp(t)
  const a = await replica()
  const b = await replica()
  await redis.kill()
  await waitFor(() => a.sharedStore?.isUp() === false && b.sharedStore?.isUp() === false)
  const key = issuer.apiKey({ subject: 'user_alone' })
  t.equal(await ping(a, key), 'Machine Ping #1 for user_alone!')
  t.equal(await ping(b, key), 'Machine Ping #1 for user_alone!')
  t.equal(issuer.backendApiCalls().length, 2, 'one call each')
  t.ok(a.clerkAuth.stats().machineApiSharedFailures > 0, 'the failures are counted')

  await redis.restart()
  await Promise.all([a.sharedStore?.whenUp(), b.sharedStore?.whenUp()])
  const after = issuer.apiKey({ subject: 'user_together' })
  t.equal(await ping(a, after), 'Machine Ping #1 for user_together!')
  t.equal(await ping(b, after), 'Machine Ping #1 for user_together!')
  t.equal(issuer.backendApiCalls().length, 3)
})

t.test('what the store says is checked as strictly as Clerk\'s answer: anything else means asking Clerk', async (t) => {
  const { clock, issuer, replica, redis } = await setUp(t)
  const a = await replica()
  const b = await replica()
  const key = issuer.apiKey({ subject: 'user_real' })
  t.equal(await ping(a, key), 'Machine Ping #1 for user_real!')
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  const [stored] = await raw.keys('clerk-auth:machine-answer:*')
  const genuine = JSON.parse(await raw.get(stored as string) as string)
  t.match(genuine, { at: Number, result: { verification: { object: 'api_key', subject: 'user_real' } } })
  const forgeries = [
    'not json',
    'null',
    JSON.stringify({ at: genuine.at, result: { verification: { ...genuine.result.verification, object: 'machine_to_machine_token' } } }),
    JSON.stringify({ at: genuine.at, result: { verification: { ...genuine.result.verification, revoked: 'no' } } }),
    JSON.stringify({ at: 'now', result: genuine.result }),
    JSON.stringify({ at: genuine.at, result: { refusal: 'session_revoked' } }),
    JSON.stringify({ at: genuine.at, result: { ...genuine.result, refusal: 'token_unknown' } }),
    JSON.stringify({ at: genuine.at, result: genuine.result, padding: 'x'.repeat(70_000) })
  ]
  let calls = issuer.backendApiCalls().length
  for (const forged of forgeries) {
    await raw.set(stored as string, forged)
    const fresh = await replica()
    t.equal(await ping(fresh, key), 'Machine Ping #1 for user_real!', forged.slice(0, 60))
    t.equal(issuer.backendApiCalls().length, ++calls, 'asked Clerk')
  }
  // a count of calls that cannot be counted: the replica keeps its own budget
  await raw.set(`clerk-auth:machine-calls:${Math.floor(clock.now() / 1000)}`, 'not a number')
  t.equal(await ping(await replica(), issuer.apiKey({ subject: 'user_uncounted' })), 'Machine Ping #1 for user_uncounted!')
  calls++
  await raw.set(stored as string, JSON.stringify({ ...genuine, at: genuine.at + 3_600_000 }))
  t.equal(await ping(b, key), 'Machine Ping #1 for user_real!')
  t.equal(issuer.backendApiCalls().length, calls, 'an answer dated in the future is taken as given now')
})
