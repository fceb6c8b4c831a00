// Replicas that share a real redis-server (REDIS_URL): a revocation heard by one replica is enforced by
// the others, a replica started later loads it, and an outage of the store loses no request (each
// replica keeps what it hears and publishes it when the store returns).
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { freePort } from '../support/loopback.js'
import type { Revocation } from '../../plugins/clerk-auth/index.js'
import { startIssuer, type TestIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { logLines, testClock, waitFor } from '../../plugins/clerk-auth/test/support/observe.js'
import { bearer } from '../../plugins/clerk-auth/test/support/tokens.js'
import { sharedStoreProblem } from '../../plugins/shared-store/index.js'
import { buildApp, type BuildOptions, type Env } from '../support/app.js'
import { startRedis } from '../support/redis.js'

/** What REST, GraphQL and the gateway answer a token with. */
async function answers (app: FastifyInstance, token: string): Promise<string[]> {
  const requests = [
    { method: 'GET', url: '/rest-endpoints/1' },
    { method: 'POST', url: '/graphql', payload: { query: '{ pingOne(id: "1") }' } },
    { method: 'GET', url: '/auth/verify' }
  ] as const
  const said: string[] = []
  for (const request of requests) {
    const res = await app.inject({ ...request, headers: bearer(token) })
    said.push(res.statusCode === 200 ? '200' : `${res.statusCode} ${String(res.json().code ?? res.json().errors?.[0]?.extensions?.reason)}`)
  }
  return said
}
const everywhere = (answer: string): string[] => [answer, answer, answer]

/** Resolves with the next revocation the replica learns (from its webhook or from the store). */
const nextRevocation = async (app: FastifyInstance): Promise<Revocation> => await new Promise((resolve) => {
  const stop = app.clerkAuth.verifier.onRevocation((revocation) => { stop(); resolve(revocation) })
})

const postWebhook = async (app: FastifyInstance, issuer: TestIssuer, type: string, data: Record<string, unknown>) => {
  const delivery = issuer.webhook(type, data)
  return await app.inject({ method: 'POST', url: '/webhooks/clerk', headers: delivery.headers, payload: delivery.body })
}

async function setUp (t: Test) {
  const clock = testClock()
  const redis = await startRedis(t)
  const issuer = await startIssuer(t, { now: clock.now })
  const replica = async (env: Env = {}, logger?: BuildOptions['logger']) => await buildApp(t, {
    CLERK_ISSUER_URL: issuer.url,
    CLERK_WEBHOOK_SIGNING_SECRET: issuer.webhookSigningSecret,
    REDIS_URL: redis.url,
    ...env
  }, { now: clock.now, logger })
  return { clock, redis, issuer, replica }
}

t.test('a sign-out heard by one replica is enforced by the other at once, and loaded by a replica started later', async (t) => {
  const { issuer, replica } = await setUp(t)
  const a = await replica()
  const b = await replica()
  t.ok(a.sharedStore?.isUp() === true && b.sharedStore?.isUp() === true, 'both replicas reached the store before serving')
  const token = issuer.sessionToken({ sid: 'sess_shared' })
  t.same(await answers(b, token), everywhere('200'), 'accepted by B, and now in its cache')

  const heardByB = nextRevocation(b)
  const res = await postWebhook(a, issuer, 'session.revoked', { sessionId: 'sess_shared' })
  t.same(res.json(), { received: true, duplicate: false, revoked: 'session' }, 'the webhook reached A only')
  t.same(await heardByB, { kind: 'session', sessionId: 'sess_shared' }, 'B learned it from the store')
  t.same(await answers(b, token), everywhere('401 session_revoked'), 'B refuses the token, its cached verdict included')
  t.same(await answers(a, token), everywhere('401 session_revoked'))

  const c = await replica()
  t.same(await answers(c, token), everywhere('401 session_revoked'), 'a replica started afterwards loaded it before serving')
  t.same(a.sharedStore?.stats(), { up: true, outages: 0, published: 1, received: 0 })
  t.same(b.sharedStore?.stats(), { up: true, outages: 0, published: 0, received: 1 }, 'B did not publish back what it learned')
  t.same(c.sharedStore?.stats(), { up: true, outages: 0, published: 0, received: 1 })
  t.equal(b.clerkAuth.stats().revocations, 1)
})

t.test('every kind of revocation travels, and a newer membership role is not undone by an older one', async (t) => {
  const { issuer, replica, clock } = await setUp(t)
  const a = await replica()
  const b = await replica()
  const member = issuer.sessionToken({ sub: 'user_m', sid: 'sess_m', org: { id: 'org_1', role: 'admin' } })
  const banned = issuer.sessionToken({ sub: 'user_b', sid: 'sess_b' })
  const inDeletedOrg = issuer.sessionToken({ sub: 'user_o', sid: 'sess_o', org: { id: 'org_gone', role: 'member' } })
  for (const token of [member, banned, inDeletedOrg]) t.same(await answers(b, token), everywhere('200'))

  clock.advance(1000)
  for (const [type, data] of [
    ['user.updated', { userId: 'user_b', banned: true }],
    ['organizationMembership.updated', { userId: 'user_m', orgId: 'org_1', role: 'org:member' }],
    ['organization.deleted', { orgId: 'org_gone' }]
  ] as const) {
    const heard = nextRevocation(b)
    t.equal((await postWebhook(a, issuer, type, data)).statusCode, 200, type)
    await heard
  }
  for (const token of [member, banned, inDeletedOrg]) t.same(await answers(b, token), everywhere('401 session_revoked'))
  t.same(await answers(b, issuer.sessionToken({ sub: 'user_m', sid: 'sess_m2', org: { id: 'org_1', role: 'member' } })), everywhere('200'), 'the new role is accepted')
})

t.test('the store going down loses no request; what is heard meanwhile stays local and is shared when it returns', async (t) => {
  const { issuer, replica, redis } = await setUp(t)
  const log = logLines()
  const a = await replica({}, { level: 'info', stream: log.stream })
  const b = await replica({ METRICS_PORT: await freePort() })
  const token = issuer.sessionToken({ sid: 'sess_outage' })
  const other = issuer.sessionToken({ sid: 'sess_other' })
  const url = await b.listen({ host: '127.0.0.1', port: 0 })

  // requests over real sockets, all through the store's crash
  const stopRequests = new AbortController()
  const statuses: number[] = []
  const requests = (async () => {
    for (let i = 0; i < 2000 && !stopRequests.signal.aborted; i++) {
      const res = await fetch(`${url}/rest-endpoints/${i}`, { headers: bearer(other) })
      statuses.push(res.status)
      await res.arrayBuffer()
    }
  })()
  await waitFor(() => statuses.length >= 10)
  await redis.kill()
  await waitFor(() => a.sharedStore?.isUp() === false && b.sharedStore?.isUp() === false)
  t.match(await b.metrics?.read(), { body: /shared_store_up 0/ }, 'the metric says the store is down')
  const during = statuses.length
  await waitFor(() => statuses.length >= during + 10)

  t.same(await answers(b, token), everywhere('200'))
  t.equal((await postWebhook(a, issuer, 'session.revoked', { sessionId: 'sess_outage' })).statusCode, 200, 'webhooks are still taken')
  t.same(await answers(a, token), everywhere('401 session_revoked'), 'A enforces it at once')
  t.same(await answers(b, token), everywhere('200'), 'B cannot know while the store is down')

  const heardByB = nextRevocation(b)
  await redis.restart()
  await Promise.all([a.sharedStore?.whenUp(), b.sharedStore?.whenUp()])
  t.same(await heardByB, { kind: 'session', sessionId: 'sess_outage' }, 'A published what it held when the store returned')
  t.same(await answers(b, token), everywhere('401 session_revoked'))
  stopRequests.abort()
  await requests
  t.ok(statuses.length > during + 10, `${statuses.length} requests across the outage`)
  t.same([...new Set(statuses)], [200], 'every one answered 200')

  t.equal(a.sharedStore?.stats().outages, 1)
  const metrics = (await b.metrics?.read())?.body ?? ''
  t.match(metrics, /shared_store_up 1/)
  t.match(metrics, /shared_store_outages_total 1/)
  t.match(metrics, /shared_store_revocations_total\{direction="received"\} 1/)
  const said = log.lines.map((line) => JSON.parse(line).msg as string)
  t.equal(said.filter((msg) => msg.startsWith('Shared store unreachable')).length, 1, 'one line for the outage')
  t.equal(said.filter((msg) => msg.startsWith('Shared store reachable')).length, 2, 'one at start, one when it returned')
  t.notMatch(log.lines.join(''), redis.url.slice('redis://'.length), 'the store\'s address is not logged')
})

t.test('a store that hangs is noticed without a closed connection; what is heard meanwhile is published when it answers again', async (t) => {
  const { issuer, replica, redis } = await setUp(t)
  const a = await replica({ REDIS_TIMEOUT_MS: 200 })
  const b = await replica({ REDIS_TIMEOUT_MS: 200 })
  const token = issuer.sessionToken({ sid: 'sess_hung' })
  redis.pause()
  t.teardown(redis.resume)
  t.equal((await postWebhook(a, issuer, 'session.revoked', { sessionId: 'sess_hung' })).statusCode, 200, 'the webhook does not wait for the store')
  t.same(await answers(a, token), everywhere('401 session_revoked'))
  // A finds out when its publish times out, B when its heartbeat does
  await waitFor(() => a.sharedStore?.isUp() === false && b.sharedStore?.isUp() === false, 10_000)
  t.same(await answers(b, token), everywhere('200'), 'requests are served meanwhile')

  const heardByB = nextRevocation(b)
  redis.resume()
  await Promise.all([a.sharedStore?.whenUp(), b.sharedStore?.whenUp()])
  t.same(await heardByB, { kind: 'session', sessionId: 'sess_hung' })
  t.same(await answers(b, token), everywhere('401 session_revoked'))
  t.same(a.sharedStore?.stats(), { up: true, outages: 1, published: 1, received: 0 })
})

t.test('a store that does not answer at start delays start-up by REDIS_TIMEOUT_MS at most, and requests are served', async (t) => {
  const { issuer, replica } = await setUp(t)
  const log = logLines()
  const app = await replica({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_TIMEOUT_MS: 100 }, { level: 'info', stream: log.stream })
  t.equal(app.sharedStore?.isUp(), false)
  t.same(await answers(app, issuer.sessionToken()), everywhere('200'))
  t.match(log.lines.join(''), /Shared store unreachable at start/)
})

t.test('what the store holds is read with suspicion: junk on the channel or in the list is ignored', async (t) => {
  const { issuer, replica, redis } = await setUp(t)
  const b = await replica()
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  const junkMessages = [
    'not json',
    '{"kind":"session"}',
    JSON.stringify({ kind: 'session', sessionId: 'x'.repeat(5000) }),
    '{"kind":"user","userId":"user_1","at":"soon"}',
    // valid, but longer than any revocation: not even parsed
    JSON.stringify({ kind: 'session', sessionId: 'sess_padded' }) + ' '.repeat(5000)
  ]
  for (const junk of junkMessages) {
    await raw.publish('clerk-auth:revocations', junk)
  }
  await raw.zadd('clerk-auth:revocations', Date.now() + 60_000, '[]')
  const heard = nextRevocation(b)
  await raw.publish('clerk-auth:revocations', JSON.stringify({ kind: 'session', sessionId: 'sess_real' }))
  t.same(await heard, { kind: 'session', sessionId: 'sess_real' }, 'the valid message after the junk is applied')
  t.equal(b.sharedStore?.stats().received, 1, 'only that one')
  const later = await replica()
  t.same(await answers(later, issuer.sessionToken({ sid: 'sess_real' })), everywhere('200'), 'nothing was stored by a raw publish, and junk in the list is skipped')
})

t.test('REDIS_KEY_PREFIX keeps deployments sharing one server apart', async (t) => {
  const { issuer, replica } = await setUp(t)
  const staging = await replica({ REDIS_KEY_PREFIX: 'staging:' })
  const production = await replica({ REDIS_KEY_PREFIX: 'production:' })
  const token = issuer.sessionToken({ sid: 'sess_apart' })
  const heard = nextRevocation(staging)
  await postWebhook(staging, issuer, 'session.revoked', { sessionId: 'sess_apart' })
  await heard
  t.same(await answers(production, token), everywhere('200'))
  t.same(await answers(await replica({ REDIS_KEY_PREFIX: 'production:' }), token), everywhere('200'))
  t.same(await answers(await replica({ REDIS_KEY_PREFIX: 'staging:' }), token), everywhere('401 session_revoked'))
})

t.test('settings and options that cannot work stop start-up with their name', async (t) => {
  for (const [env, message] of [
    [{ REDIS_URL: 'http://127.0.0.1:6379' }, /REDIS_URL must be a Valkey or Redis URL/],
    [{ REDIS_KEY_PREFIX: 'has space' }, /REDIS_KEY_PREFIX must be at most 64/],
    [{ REDIS_TIMEOUT_MS: 5 }, /REDIS_TIMEOUT_MS must be a whole number of milliseconds from 10 to 60000/]
  ] as const) {
    await t.rejects(buildApp(t, env), { message }, JSON.stringify(env))
  }
  t.equal(sharedStoreProblem({ url: 'redis://h', keyPrefix: 'a:', timeoutMs: 10, heartbeatMs: 60_000 }), undefined)
  t.equal(sharedStoreProblem({ url: 'valkey://h' }), 'url must start with redis:// or rediss://')
  t.equal(sharedStoreProblem({ keyPrefix: 'x'.repeat(65) }), 'keyPrefix must be at most 64 letters, digits, _ : . or -')
  t.equal(sharedStoreProblem({ timeoutMs: 9 }), 'timeoutMs must be an integer from 10 to 60000')
  t.equal(sharedStoreProblem({ heartbeatMs: 1.5 }), 'heartbeatMs must be an integer from 10 to 60000')
  t.equal(sharedStoreProblem({ heartbeatMs: 60_001 }), 'heartbeatMs must be an integer from 10 to 60000')
})
