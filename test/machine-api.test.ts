// Opaque machine tokens and API keys (issue 12), verified by Clerk's Backend API: a loopback server
// that speaks its documented requests and answers (src/dev-issuer/backend-api.ts) counts every call.
import t from 'tap'
import { m2mClaims, m2mHeader } from '../src/dev-issuer/machine-claims.js'
import { bearer, buildApp, logLines, startBackendApi, startIssuer, testClock, type TestBackendApi, type TestIssuer } from './helper.js'

async function machineApp (t: Parameters<typeof buildApp>[0], issuer: TestIssuer, api: TestBackendApi, env: Record<string, unknown> = {}, now?: () => number) {
  const { lines, stream } = logLines()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_SECRET_KEY: api.secretKey, CLERK_API_URL: api.url, ...env }, { now, logger: { level: 'info', stream } })
  const get = async (url: string, token: string) => await app.inject({ url, headers: bearer(token) })
  return { app, get, lines }
}

t.test('each opaque kind, verified by Clerk as Clerk\'s SDK asks, with Clerk\'s fields on request.auth', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startBackendApi(t)
  const { get } = await machineApp(t, issuer, api)
  const apiKey = api.add({ type: 'api_key', subject: 'org_acme', name: 'reporting', scopes: ['pings:read'], claims: { team: 'data' } })
  const m2m = api.add({ type: 'm2m_token', subject: 'mch_worker', scopes: ['mch_api'] })
  const oauth = api.add({ type: 'oauth_token', subject: 'user_7', clientId: 'client_cli', scopes: ['pings:read'] })
  t.equal((await get('/machine-pings/7', apiKey)).body, 'Machine Ping #7 for org_acme!')
  t.equal((await get('/machine-pings/7', m2m)).body, 'Machine Ping #7 for mch_worker!')
  t.equal((await get('/machine-pings/7', oauth)).body, 'Machine Ping #7 for user_7!')
  t.same(api.calls.map(({ path, authorization, version, contentType, body }) => ({ path, authorization, version, contentType, body })), [
    { path: '/api_keys/verify', authorization: `Bearer ${api.secretKey}`, version: '2026-05-12', contentType: 'application/json', body: { secret: apiKey } },
    { path: '/m2m_tokens/verify', authorization: `Bearer ${api.secretKey}`, version: '2026-05-12', contentType: 'application/json', body: { token: m2m } },
    { path: '/oauth_applications/access_tokens/verify', authorization: `Bearer ${api.secretKey}`, version: '2026-05-12', contentType: 'application/json', body: { access_token: oauth } }
  ], 'paths without /v1, the secret key as bearer, snake_case bodies')
  const me = (await get('/me', apiKey)).json()
  t.same(me, { tokenType: 'api_key', id: me.id, subject: 'org_acme', scopes: ['pings:read'], claims: { team: 'data' }, name: 'reporting', userId: null, orgId: 'org_acme' })
  t.match((await get('/me', m2m)).json(), { tokenType: 'm2m_token', subject: 'mch_worker', machineId: 'mch_worker', scopes: ['mch_api'], claims: null })
  t.match((await get('/me', oauth)).json(), { tokenType: 'oauth_token', subject: 'user_7', userId: 'user_7', clientId: 'client_cli' })
  t.match((await get('/me', api.add({ type: 'api_key', subject: 'user_9' }))).json(), { userId: 'user_9', orgId: null })
  t.equal(api.calls.length, 4, '/me answered three of them from the cache')
})

t.test('Clerk\'s no, and a 200 that still says no: revoked, expired, past expiration, unknown', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startBackendApi(t)
  const { get } = await machineApp(t, issuer, api)
  const cases: Array<[string, string, string]> = [
    ['revoked', api.add({ type: 'api_key', revoked: true }), 'token_revoked'],
    ['expired by Clerk', api.add({ type: 'm2m_token', expiration: Date.now() - 1000 }), 'token_expired'],
    ['past its expiration', api.add({ type: 'oauth_token', expiration: Date.now() - 1 }), 'token_expired'],
    ['unknown to Clerk', 'ak_LCWGdaM8mv8K4PC/57IICZQXAeWfCgF30DZaFXHoGn9=', 'token_unknown'],
    ['far too long', `ak_${'x'.repeat(600)}`, 'token_malformed']
  ]
  for (const [name, token, code] of cases) {
    const res = await get('/machine-pings/1', token)
    t.equal(res.statusCode, 401, name)
    t.equal(res.json().code, code, name)
  }
  const before = api.calls.length
  t.equal((await get('/rest-endpoints/1', api.add({ type: 'api_key' }))).json().code, 'token_type_not_accepted')
  t.equal((await get('/rest-endpoints/1', 'mt_whatever')).json().code, 'token_type_not_accepted')
  t.equal(api.calls.length, before, 'a kind the route does not take costs no call')
})

t.test('cost: one call per token per cache period, one for concurrent requests, and a bound per second', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startBackendApi(t)
  const clock = testClock()
  const { app, get, lines } = await machineApp(t, issuer, api, { CLERK_MACHINE_TOKEN_CACHE_MS: 10_000, CLERK_API_MAX_CALLS_PER_SECOND: 5 }, clock.now)
  const token = api.add({ type: 'api_key' })
  for (let i = 0; i < 1000; i++) if ((await get('/machine-pings/1', token)).statusCode !== 200) t.fail('refused')
  t.equal(api.calls.length, 1, '1,000 requests with one token: one call')
  clock.advance(10_000)
  t.equal((await get('/machine-pings/1', token)).statusCode, 200)
  t.equal(api.calls.length, 2, 'asked again once the cache period is over: how long a revocation can go unseen')
  clock.advance(1000)

  const fresh = api.add({ type: 'm2m_token' })
  const together = await Promise.all(Array.from({ length: 50 }, async () => await get('/machine-pings/1', fresh)))
  t.ok(together.every((res) => res.statusCode === 200))
  t.equal(api.calls.length, 3, '50 concurrent requests with a new token: one call')

  clock.advance(1000)
  const random = Array.from({ length: 1000 }, (_, i) => `ak_random_${i}`)
  const answers = await Promise.all(random.map(async (key) => (await get('/machine-pings/1', key)).statusCode))
  t.equal(api.calls.length - 3, 5, '1,000 random API keys within one second: 5 calls, the bound')
  t.equal(answers.filter((status) => status === 503).length, 995, 'the others are told to retry, not blamed')
  t.equal(answers.filter((status) => status === 401).length, 5)
  const shed = await get('/machine-pings/1', 'ak_one_more')
  t.equal(shed.headers['retry-after'], '5')
  t.equal(shed.json().code, 'clerk_api_unavailable')
  t.equal((await get('/machine-pings/1', token)).statusCode, 200, 'a cached key is served all along')
  t.equal(lines.filter((line) => line.includes('Too many unknown machine tokens')).length, 1, 'said once, not per request')
  clock.advance(1000)
  t.equal((await get('/machine-pings/1', api.add({ type: 'api_key' }))).statusCode, 200, 'the budget comes back with time')
  t.equal(app.clerkAuth.stats().machineApiCalls, api.calls.length)
})

t.test('Clerk\'s API down, slow, broken or refusing our key: 503 with Retry-After, and JWTs still pass', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startBackendApi(t)
  const { get, lines } = await machineApp(t, issuer, api, { CLERK_API_TIMEOUT_MS: 100 })
  const jwt = issuer.sign(m2mClaims({ issuer: issuer.url, machineId: 'mch_1' }), { header: m2mHeader })
  for (const mode of ['error', 'garbage', 'hang', 'reset'] as const) {
    api.mode = mode
    const res = await get('/machine-pings/1', api.add({ type: 'api_key' }))
    t.equal(res.statusCode, 503, mode)
    t.equal(res.headers['retry-after'], '5')
    t.equal(res.json().code, 'clerk_api_unavailable', mode)
    t.equal((await get('/machine-pings/1', jwt)).statusCode, 200, `${mode}: an M2M JWT needs no call`)
  }
  t.ok(lines.some((line) => line.includes('"reason":"no answer within 100 ms"')), 'the timeout is named in the log')
  api.mode = 'ok'
  const key = api.add({ type: 'api_key' })
  const wrongKey = await machineApp(t, issuer, { ...api, secretKey: 'sk_test_wrong' })
  t.equal((await wrongKey.get('/machine-pings/1', key)).json().code, 'clerk_api_unavailable', 'a rejected secret key is our problem, not the caller\'s')
  t.equal((await wrongKey.get('/machine-pings/1', api.add({ type: 'api_key' }))).statusCode, 503)
  t.equal(wrongKey.lines.filter((line) => line.includes('refused the secret key')).length, 1, 'logged once')
  t.equal((await get('/machine-pings/1', key)).statusCode, 200, 'failures are not cached: the next request asks again')
  for (const line of [...lines, ...wrongKey.lines]) {
    if (line.includes(api.secretKey) || line.includes(key)) t.fail(`a secret in the log: ${line}`)
  }
})

t.test('opaque M2M tokens: the machine secret key when set, else this service\'s machine id in their scopes', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startBackendApi(t)
  const withSecret = await machineApp(t, issuer, api, { CLERK_MACHINE_SECRET_KEY: api.machineSecretKey, CLERK_MACHINE_ID: 'mch_api' })
  t.equal((await withSecret.get('/machine-pings/1', api.add({ type: 'm2m_token', scopes: [] }))).statusCode, 200, 'Clerk checked the target for that machine')
  t.equal(api.calls.at(-1)?.authorization, `Bearer ${api.machineSecretKey}`)
  t.equal((await withSecret.get('/machine-pings/1', api.add({ type: 'api_key' }))).statusCode, 200)
  t.equal(api.calls.at(-1)?.authorization, `Bearer ${api.secretKey}`, 'API keys with the instance key')
  const withId = await machineApp(t, issuer, api, { CLERK_MACHINE_ID: 'mch_api' })
  t.equal((await withId.get('/machine-pings/1', api.add({ type: 'm2m_token', scopes: ['mch_api'] }))).statusCode, 200)
  t.equal((await withId.get('/machine-pings/1', api.add({ type: 'm2m_token', scopes: ['mch_other'] }))).json().code, 'token_audience_invalid')
})

t.test('API keys need the secret key: declared without one, start-up stops and says why', async (t) => {
  const issuer = await startIssuer(t)
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url }, {
    extend: (app) => app.get('/keys', { config: { acceptsToken: ['api_key'] } }, async () => 'x')
  }), /Route GET \/keys: config.acceptsToken names api_key, which only Clerk's Backend API can verify: set the secretKey option \(CLERK_SECRET_KEY\)/)
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url, GRAPHQL_ACCEPTS_TOKEN: 'api_key' }), /GRAPHQL_ACCEPTS_TOKEN names api_key/)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const res = await app.inject({ url: '/machine-pings/1', headers: bearer('ak_some_key') })
  t.equal(res.json().code, 'token_type_not_accepted', 'without it, the demo route takes JWT machine tokens only')
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_SECRET_KEY: 'pk_test_abc' }), /CLERK_SECRET_KEY must be your instance's secret key/)
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_SECRET_KEY: 'sk_test_abc', CLERK_API_URL: 'http://api.clerk.com' }), /CLERK_API_URL must be Clerk's Backend API URL/)
})

t.test('a 200 Clerk could send but should not: odd bodies are Clerk\'s fault (503), not the caller\'s', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startBackendApi(t)
  const { get } = await machineApp(t, issuer, api)
  const good = { object: 'api_key', id: 'ak_1', subject: 'user_1', scopes: ['a'], claims: null, revoked: false, expired: false, expiration: null }
  const odd: Array<[string, unknown]> = [
    ['another object', { ...good, object: 'machine_to_machine_token' }],
    ['no id', { ...good, id: undefined }],
    ['an empty subject', { ...good, subject: '' }],
    ['a subject that is not a string', { ...good, subject: 7 }],
    ['scopes not a list', { ...good, scopes: 'a b' }],
    ['a scope that is not a string', { ...good, scopes: ['a', 1] }],
    ['an expiration that is not a time', { ...good, expiration: 'soon' }],
    ['no body', null]
  ]
  for (const [name, body] of odd) {
    api.override = { status: 200, body }
    t.equal((await get('/machine-pings/1', `ak_odd_${name.replaceAll(' ', '_')}`)).json().code, 'clerk_api_unavailable', name)
  }
  api.override = { status: 200, body: { ...good, scopes: undefined } }
  t.match((await get('/me', 'ak_no_scopes')).json(), { scopes: [] }, 'no scopes: none')
  api.override = { status: 200, body: { active: false } }
  t.equal((await get('/machine-pings/1', 'oat_inactive')).json().code, 'token_expired', 'an OAuth token Clerk calls inactive')
  for (const [status, code] of [[400, 'token_unknown'], [422, 'token_unknown'], [403, 'clerk_api_unavailable'], [429, 'clerk_api_unavailable']] as const) {
    api.override = { status, body: { errors: [{ message: 'no', code: 'x' }] } }
    t.equal((await get('/machine-pings/1', `ak_status_${status}`)).json().code, code, `HTTP ${status}`)
  }
})

t.test('refusals are cached for the cache period too; expiration is exact to the millisecond', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startBackendApi(t)
  const clock = testClock()
  api.now = clock.now
  const { get } = await machineApp(t, issuer, api, { CLERK_MACHINE_TOKEN_CACHE_MS: 10_000 }, clock.now)
  for (const record of [{ type: 'api_key', revoked: true }, { type: 'm2m_token', expiration: clock.now() }, { type: 'api_key', expiration: clock.now() - 1 }] as const) {
    const token = api.add(record)
    const calls = api.calls.length
    const first = (await get('/machine-pings/1', token)).json().code
    t.equal((await get('/machine-pings/1', token)).json().code, first, JSON.stringify(record))
    t.equal(api.calls.length, calls + 1, 'one call for both')
  }
  t.equal((await get('/machine-pings/1', api.add({ type: 'api_key', expiration: clock.now() + 1 }))).statusCode, 200, 'a millisecond left is enough')
  const short = api.add({ type: 'api_key', expiration: clock.now() + 2000 })
  t.equal((await get('/machine-pings/1', short)).statusCode, 200)
  clock.advance(2000)
  t.equal((await get('/machine-pings/1', short)).json().code, 'token_expired', 'the cache never outlives the expiration')
  const unknown = 'ak_unknown_for_long'
  t.equal((await get('/machine-pings/1', unknown)).json().code, 'token_unknown')
  const calls = api.calls.length
  clock.advance(9999)
  t.equal((await get('/machine-pings/1', unknown)).json().code, 'token_unknown')
  t.equal(api.calls.length, calls, 'still cached')
  clock.advance(1)
  await get('/machine-pings/1', unknown)
  t.equal(api.calls.length, calls + 1, 'asked again after the cache period')
  t.equal((await get('/machine-pings/1', `ak_${'x'.repeat(509)}`)).json().code, 'token_unknown', '512 characters is still a token')
})
