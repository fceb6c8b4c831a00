// Rate limits per caller (RATE_LIMIT_MAX, or a route's own): counted by who the token names, after
// authentication, across REST and GraphQL; shared by replicas through a real redis-server.
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { bearer } from '../../plugins/clerk-auth/test/support/tokens.js'
import { callerKey } from '../../plugins/rate-limit.js'
import { buildApp } from '../support/app.js'
import { freePort } from '../support/loopback.js'
import { startRedis } from '../support/redis.js'

const rest = async (app: FastifyInstance, token?: string, headers: Record<string, string> = {}) =>
  await app.inject({ url: '/rest-endpoints/1', headers: { ...(token === undefined ? {} : bearer(token)), ...headers } })
const graphql = async (app: FastifyInstance, token: string) =>
  await app.inject({ method: 'POST', url: '/graphql', headers: bearer(token), payload: { query: '{ pingOne(id: "1") }' } })

t.test('off by default: no limit and no RateLimit headers', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const token = issuer.sessionToken()
  for (let i = 0; i < 20; i++) {
    const res = await rest(app, token)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['ratelimit-limit'], undefined)
  }
})

t.test('RATE_LIMIT_MAX: each user has their own budget, REST and GraphQL alike; a 429 says when to come back', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, RATE_LIMIT_MAX: 3, RATE_LIMIT_WINDOW_MS: 60_000, CORS_ORIGINS: 'https://app.example.com', METRICS_PORT: await freePort() })
  const alice = issuer.sessionToken({ sub: 'user_alice', sid: 'sess_alice_1' })
  const aliceElsewhere = issuer.sessionToken({ sub: 'user_alice', sid: 'sess_alice_2' })
  const bob = issuer.sessionToken({ sub: 'user_bob', sid: 'sess_bob' })

  const first = await rest(app, alice)
  t.equal(first.statusCode, 200)
  t.match(first.headers, { 'ratelimit-limit': '3', 'ratelimit-remaining': '2', 'ratelimit-reset': /^\d+$/ })
  const counted = await graphql(app, alice)
  t.equal(counted.statusCode, 200, 'GraphQL counts too')
  t.same(counted.json(), { data: { pingOne: 'GraphQL Ping #1!' } }, 'and runs while under the limit')
  // anonymous and refused requests spend nobody's budget
  for (let i = 0; i < 5; i++) t.equal((await rest(app)).statusCode, 401)
  t.equal((await rest(app, aliceElsewhere)).statusCode, 200, 'another session of the same user shares the budget')

  const refused = await rest(app, alice, { origin: 'https://app.example.com' })
  t.equal(refused.statusCode, 429)
  t.same(refused.json(), { statusCode: 429, error: 'Too Many Requests', code: 'rate_limited', message: `Too many requests from this caller (at most 3 in its window): retry in ${String(refused.headers['retry-after'])} s.` })
  t.match(refused.headers, { 'retry-after': /^\d+$/, 'ratelimit-limit': '3', 'ratelimit-remaining': '0', 'access-control-allow-origin': 'https://app.example.com' })
  t.match(refused.headers['access-control-expose-headers'], /retry-after.*ratelimit-limit.*ratelimit-remaining.*ratelimit-reset/, 'a page can read them')
  const refusedOperation = await graphql(app, alice)
  t.equal(refusedOperation.statusCode, 429, 'GraphQL too')
  t.match(refusedOperation.json(), { errors: [{ extensions: { code: 'RATE_LIMITED', reason: 'rate_limited' } }] })
  t.match(refusedOperation.headers, { 'retry-after': /^\d+$/, 'ratelimit-remaining': '0' })
  t.equal((await rest(app, bob)).statusCode, 200, 'another user is not affected')
  for (let i = 0; i < 5; i++) t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'public routes are not counted')
  t.match((await app.metrics?.read())?.body, /http_requests_rate_limited_total 2/)
  t.match((await graphql(app, bob)).headers, { 'ratelimit-limit': '3', 'ratelimit-remaining': '1' }, 'an operation that passes says what is left')
})

t.test('machine callers are counted by the subject their token names', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_SECRET_KEY: issuer.secretKey, CLERK_API_URL: issuer.url, RATE_LIMIT_MAX: 2 })
  const keys = [issuer.apiKey({ subject: 'org_acme' }), issuer.apiKey({ subject: 'org_acme' })]
  const statuses = []
  for (const key of [...keys, ...keys]) statuses.push((await app.inject({ url: '/machine-pings/1', headers: bearer(key) })).statusCode)
  t.same(statuses, [200, 200, 429, 429], 'two keys of one organization share its budget')
  t.equal((await app.inject({ url: '/machine-pings/1', headers: bearer(issuer.apiKey({ subject: 'org_other' })) })).statusCode, 200)
  t.equal(callerKey(null), '')
})

t.test('a route can set its own limit, by plan or anything else the caller carries, with the global limit off', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url }, {
    extend: (app) => {
      app.get('/reports', {
        config: { rateLimit: { max: async (request) => request.auth?.tokenType === 'session_token' && request.auth.orgId === 'org_big' ? 3 : 1, timeWindow: 60_000 } }
      }, async () => 'report')
    }
  })
  const small = issuer.sessionToken({ sub: 'user_s', sid: 'sess_s', org: { id: 'org_small', role: 'member' } })
  const big = issuer.sessionToken({ sub: 'user_b', sid: 'sess_b', org: { id: 'org_big', role: 'member' } })
  const get = async (token: string) => (await app.inject({ url: '/reports', headers: bearer(token) })).statusCode
  t.same([await get(small), await get(small)], [200, 429])
  t.same([await get(big), await get(big), await get(big), await get(big)], [200, 200, 200, 429])
  t.equal((await rest(app, small)).statusCode, 200, 'other routes have no limit')
})

t.test('replicas with REDIS_URL share each caller\'s count; with the store down, requests go through', async (t) => {
  const issuer = await startIssuer(t)
  const redis = await startRedis(t)
  const env = { CLERK_ISSUER_URL: issuer.url, RATE_LIMIT_MAX: 3, REDIS_URL: redis.url }
  const a = await buildApp(t, env)
  const b = await buildApp(t, env)
  const token = issuer.sessionToken({ sub: 'user_fleet' })
  t.same([(await rest(a, token)).statusCode, (await rest(b, token)).statusCode, (await rest(a, token)).statusCode, (await rest(b, token)).statusCode], [200, 200, 200, 429])

  await redis.kill()
  const other = issuer.sessionToken({ sub: 'user_during_outage' })
  const statuses = []
  for (let i = 0; i < 6; i++) statuses.push((await rest(i % 2 === 0 ? a : b, other)).statusCode)
  t.same(statuses, [200, 200, 200, 200, 200, 200], 'a limit that cannot be counted does not refuse')
})
