// Opaque machine tokens and API keys, verified by Clerk's Backend API: a loopback server
// that speaks its documented requests and answers (plugins/clerk-auth/testing/backend-api.ts) counts every call.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { clientKey } from '../../plugins/clerk-auth/client-key.js'
import { CallBudget } from '../../plugins/clerk-auth/machine-api.js'
import { m2mClaims, m2mHeader } from '../../plugins/clerk-auth/testing/index.js'
import { startIssuer, type TestIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { logLines, testClock } from '../../plugins/clerk-auth/test/support/observe.js'
import { bearer } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp } from '../support/app.js'

async function machineApp (t: Parameters<typeof buildApp>[0], issuer: TestIssuer, api: TestIssuer, env: Record<string, unknown> = {}, now?: () => number) {
  const { lines, stream } = logLines()
  // Budgets out of the way unless a test is about them: every request here comes from one address.
  const budgets = { CLERK_API_MAX_CALLS_PER_SECOND: 1000, CLERK_API_MAX_CALLS_PER_CLIENT_PER_SECOND: 1000 }
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_SECRET_KEY: api.secretKey, CLERK_API_URL: api.url, ...budgets, ...env }, { now, logger: { level: 'info', stream } })
  const get = async (url: string, token: string) => await app.inject({ url, headers: bearer(token) })
  return { app, get, lines }
}

t.test('each opaque kind, verified by Clerk as Clerk\'s SDK asks, with Clerk\'s fields on request.auth', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startIssuer(t)
  const { get } = await machineApp(t, issuer, api)
  const apiKey = api.apiKey({ subject: 'org_acme', name: 'reporting', scopes: ['pings:read'], claims: { team: 'data' } })
  const m2m = api.opaqueM2mToken({ subject: 'mch_worker', scopes: ['mch_api'] })
  const oauth = api.opaqueOAuthToken({ subject: 'user_7', clientId: 'client_cli', scopes: ['pings:read'] })
  t.equal((await get('/machine-pings/7', apiKey)).body, 'Machine Ping #7 for org_acme!')
  t.equal((await get('/machine-pings/7', m2m)).body, 'Machine Ping #7 for mch_worker!')
  t.equal((await get('/machine-pings/7', oauth)).body, 'Machine Ping #7 for user_7!')
  t.same(api.backendApiCalls().map(({ path, authorization, clerkApiVersion, contentType, body }) => ({ path, authorization, clerkApiVersion, contentType, body })), [
    { path: '/api_keys/verify', authorization: `Bearer ${api.secretKey}`, clerkApiVersion: '2026-05-12', contentType: 'application/json', body: { secret: apiKey } },
    { path: '/m2m_tokens/verify', authorization: `Bearer ${api.secretKey}`, clerkApiVersion: '2026-05-12', contentType: 'application/json', body: { token: m2m } },
    { path: '/oauth_applications/access_tokens/verify', authorization: `Bearer ${api.secretKey}`, clerkApiVersion: '2026-05-12', contentType: 'application/json', body: { access_token: oauth } }
  ], 'paths without /v1, the secret key as bearer, snake_case bodies')
  const me = (await get('/me', apiKey)).json()
  t.same(me, { tokenType: 'api_key', id: me.id, subject: 'org_acme', scopes: ['pings:read'], claims: { team: 'data' }, name: 'reporting', userId: null, orgId: 'org_acme' })
  t.match((await get('/me', m2m)).json(), { tokenType: 'm2m_token', subject: 'mch_worker', machineId: 'mch_worker', scopes: ['mch_api'], claims: null })
  t.match((await get('/me', oauth)).json(), { tokenType: 'oauth_token', subject: 'user_7', userId: 'user_7', clientId: 'client_cli' })
  t.match((await get('/me', api.apiKey({ subject: 'user_9' }))).json(), { userId: 'user_9', orgId: null })
  t.equal(api.backendApiCalls().length, 4, '/me answered three of them from the cache')
})

t.test('Clerk\'s no, and a 200 that still says no: revoked, expired, past expiration, unknown', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startIssuer(t)
  const { get } = await machineApp(t, issuer, api)
  const cases: Array<[string, string, string]> = [
    ['revoked', api.apiKey({ revoked: true }), 'token_revoked'],
    ['expired by Clerk', api.opaqueM2mToken({ expiration: Date.now() - 1000 }), 'token_expired'],
    ['past its expiration', api.opaqueOAuthToken({ expiration: Date.now() - 1 }), 'token_expired'],
    ['unknown to Clerk', 'ak_LCWGdaM8mv8K4PC/57IICZQXAeWfCgF30DZaFXHoGn9=', 'token_unknown'],
    ['far too long', `ak_${'x'.repeat(600)}`, 'token_malformed']
  ]
  for (const [name, token, code] of cases) {
    const res = await get('/machine-pings/1', token)
    t.equal(res.statusCode, 401, name)
    t.equal(res.json().code, code, name)
  }
  const before = api.backendApiCalls().length
  t.equal((await get('/rest-endpoints/1', api.apiKey())).json().code, 'token_type_not_accepted')
  t.equal((await get('/rest-endpoints/1', 'mt_whatever')).json().code, 'token_type_not_accepted')
  t.equal(api.backendApiCalls().length, before, 'a kind the route does not take costs no call')
})

t.test('cost: one call per token per cache period, one for concurrent requests, and a bound per second', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startIssuer(t)
  const clock = testClock()
  const { app, get, lines } = await machineApp(t, issuer, api, { CLERK_MACHINE_TOKEN_CACHE_MS: 10_000, CLERK_API_MAX_CALLS_PER_SECOND: 5, CLERK_API_MAX_CALLS_PER_CLIENT_PER_SECOND: 100 }, clock.now)
  const token = api.apiKey()
  for (let i = 0; i < 1000; i++) if ((await get('/machine-pings/1', token)).statusCode !== 200) t.fail('refused')
  t.equal(api.backendApiCalls().length, 1, '1,000 requests with one token: one call')
  clock.advance(10_000)
  t.equal((await get('/machine-pings/1', token)).statusCode, 200)
  t.equal(api.backendApiCalls().length, 2, 'asked again once the cache period is over: how long a revocation can go unseen')
  clock.advance(1000)

  const fresh = api.opaqueM2mToken()
  const together = await Promise.all(Array.from({ length: 50 }, async () => await get('/machine-pings/1', fresh)))
  t.ok(together.every((res) => res.statusCode === 200))
  t.equal(api.backendApiCalls().length, 3, '50 concurrent requests with a new token: one call')

  clock.advance(1000)
  const random = Array.from({ length: 1000 }, (_, i) => `ak_random_${i}`)
  const answers = await Promise.all(random.map(async (key) => (await get('/machine-pings/1', key)).statusCode))
  t.equal(api.backendApiCalls().length - 3, 4, '1,000 random API keys within one second: 4 calls, the bound less the share kept for re-checks')
  t.equal(answers.filter((status) => status === 503).length, 996, 'the others are told to retry, not blamed')
  t.equal(answers.filter((status) => status === 401).length, 4)
  const shed = await get('/machine-pings/1', 'ak_one_more')
  t.equal(shed.headers['retry-after'], '5')
  t.equal(shed.json().code, 'clerk_api_unavailable')
  t.equal((await get('/machine-pings/1', token)).statusCode, 200, 'a cached key is served all along')
  t.equal(lines.filter((line) => line.includes('Too many new machine tokens')).length, 1, 'said once, not per request')
  clock.advance(1000)
  t.equal((await get('/machine-pings/1', api.apiKey())).statusCode, 200, 'the budget comes back with time')
  t.equal(app.clerkAuth.stats().machineApiCalls, api.backendApiCalls().length)
})

t.test('Clerk\'s API down, slow, broken or refusing our key: 503 with Retry-After, and JWTs still pass', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startIssuer(t)
  const { get, lines } = await machineApp(t, issuer, api, { CLERK_API_TIMEOUT_MS: 100 })
  const jwt = issuer.sign(m2mClaims({ issuer: issuer.url, machineId: 'mch_1' }), { header: m2mHeader })
  for (const mode of ['error', 'garbage', 'hang', 'reset'] as const) {
    api.backendApiFault = mode
    const res = await get('/machine-pings/1', api.apiKey())
    t.equal(res.statusCode, 503, mode)
    t.equal(res.headers['retry-after'], '5')
    t.equal(res.json().code, 'clerk_api_unavailable', mode)
    t.equal((await get('/machine-pings/1', jwt)).statusCode, 200, `${mode}: an M2M JWT needs no call`)
  }
  t.ok(lines.some((line) => line.includes('"reason":"no answer within 100 ms"')), 'the timeout is named in the log')
  api.backendApiFault = undefined
  const key = api.apiKey()
  const wrongKey = await machineApp(t, issuer, { ...api, secretKey: 'sk_test_wrong' })
  t.equal((await wrongKey.get('/machine-pings/1', key)).json().code, 'clerk_api_unavailable', 'a rejected secret key is our problem, not the caller\'s')
  t.equal((await wrongKey.get('/machine-pings/1', api.apiKey())).statusCode, 503)
  t.equal(wrongKey.lines.filter((line) => line.includes('refused the secret key')).length, 1, 'logged once')
  // The same app, the same token: failed while Clerk was down, verified once it is back.
  api.backendApiFault = 'error'
  const again = api.apiKey()
  t.equal((await get('/machine-pings/1', again)).statusCode, 503)
  api.backendApiFault = undefined
  const callsBefore = api.backendApiCalls().length
  t.equal((await get('/machine-pings/1', again)).statusCode, 200, 'failures are not cached: the next request asks again')
  t.equal(api.backendApiCalls().length, callsBefore + 1)
  for (const line of [...lines, ...wrongKey.lines]) {
    if (line.includes(api.secretKey) || line.includes(key)) t.fail(`a secret in the log: ${line}`)
  }
})

t.test('opaque M2M tokens: the machine secret key when set, else this service\'s machine id in their scopes', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startIssuer(t)
  const withSecret = await machineApp(t, issuer, api, { CLERK_MACHINE_SECRET_KEY: api.machineSecretKey, CLERK_MACHINE_ID: 'mch_api' })
  t.equal((await withSecret.get('/machine-pings/1', api.opaqueM2mToken({ scopes: [] }))).statusCode, 200, 'Clerk checked the target for that machine')
  t.equal(api.backendApiCalls().at(-1)?.authorization, `Bearer ${api.machineSecretKey}`)
  t.equal((await withSecret.get('/machine-pings/1', api.apiKey())).statusCode, 200)
  t.equal(api.backendApiCalls().at(-1)?.authorization, `Bearer ${api.secretKey}`, 'API keys with the instance key')
  const withId = await machineApp(t, issuer, api, { CLERK_MACHINE_ID: 'mch_api' })
  t.equal((await withId.get('/machine-pings/1', api.opaqueM2mToken({ scopes: ['mch_api'] }))).statusCode, 200)
  t.equal((await withId.get('/machine-pings/1', api.opaqueM2mToken({ scopes: ['mch_other'] }))).json().code, 'token_audience_invalid')
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
  const api = await startIssuer(t)
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
    api.backendApiFault = { status: 200, body }
    t.equal((await get('/machine-pings/1', `ak_odd_${name.replaceAll(' ', '_')}`)).json().code, 'clerk_api_unavailable', name)
  }
  api.backendApiFault = { status: 200, body: { ...good, scopes: undefined } }
  t.match((await get('/me', 'ak_no_scopes')).json(), { scopes: [] }, 'no scopes: none')
  api.backendApiFault = { status: 200, body: { active: false } }
  t.equal((await get('/machine-pings/1', 'oat_inactive')).json().code, 'token_expired', 'an OAuth token Clerk calls inactive')
  // Clerk's flag and the expiration are each enough: neither stands in for the other
  api.backendApiFault = { status: 200, body: { ...good, expired: true, expiration: null } }
  t.equal((await get('/machine-pings/1', 'ak_flagged_expired')).json().code, 'token_expired', 'expired says Clerk, with no expiration')
  api.backendApiFault = { status: 200, body: { ...good, expired: false, expiration: Date.now() - 1000 } }
  t.equal((await get('/machine-pings/1', 'ak_past_expiration')).json().code, 'token_expired', 'not expired says Clerk, but its expiration has passed')
  api.backendApiFault = { status: 200, body: { ...good, expired: false, expiration: Date.now() + 60_000 } }
  t.equal((await get('/machine-pings/1', 'ak_expires_later')).statusCode, 200, 'an expiration still ahead')
  for (const [status, code] of [[400, 'token_unknown'], [422, 'token_unknown'], [403, 'clerk_api_unavailable'], [429, 'clerk_api_unavailable']] as const) {
    api.backendApiFault = { status, body: { errors: [{ message: 'no', code: 'x' }] } }
    t.equal((await get('/machine-pings/1', `ak_status_${status}`)).json().code, code, `HTTP ${status}`)
  }
})

t.test('refusals are cached for the cache period too; expiration is exact to the millisecond', async (t) => {
  const issuer = await startIssuer(t)
  const clock = testClock()
  const api = await startIssuer(t, { now: clock.now })
  const { get } = await machineApp(t, issuer, api, { CLERK_MACHINE_TOKEN_CACHE_MS: 10_000 }, clock.now)
  const tokens = { 'a revoked API key': api.apiKey({ revoked: true }), 'an M2M token expiring now': api.opaqueM2mToken({ expiration: clock.now() }), 'an API key expired a millisecond ago': api.apiKey({ expiration: clock.now() - 1 }) }
  for (const [record, token] of Object.entries(tokens)) {
    const calls = api.backendApiCalls().length
    const first = (await get('/machine-pings/1', token)).json().code
    t.equal((await get('/machine-pings/1', token)).json().code, first, record)
    t.equal(api.backendApiCalls().length, calls + 1, 'one call for both')
  }
  t.equal((await get('/machine-pings/1', api.apiKey({ expiration: clock.now() + 1 }))).statusCode, 200, 'a millisecond left is enough')
  const short = api.apiKey({ expiration: clock.now() + 2000 })
  t.equal((await get('/machine-pings/1', short)).statusCode, 200)
  clock.advance(2000)
  t.equal((await get('/machine-pings/1', short)).json().code, 'token_expired', 'the cache never outlives the expiration')
  const unknown = 'ak_unknown_for_long'
  t.equal((await get('/machine-pings/1', unknown)).json().code, 'token_unknown')
  const calls = api.backendApiCalls().length
  clock.advance(9999)
  t.equal((await get('/machine-pings/1', unknown)).json().code, 'token_unknown')
  t.equal(api.backendApiCalls().length, calls, 'still cached')
  clock.advance(1)
  await get('/machine-pings/1', unknown)
  t.equal(api.backendApiCalls().length, calls + 1, 'asked again after the cache period')
  t.equal((await get('/machine-pings/1', `ak_${'x'.repeat(509)}`)).json().code, 'token_unknown', '512 characters is still a token')
})

t.test('hostile answers from Clerk\'s Backend API: 503 on every path, bounded memory, counted', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startIssuer(t)
  const { app, get } = await machineApp(t, issuer, api, { CLERK_API_TIMEOUT_MS: 500, CLERK_API_MAX_CALLS_PER_SECOND: 1000, CLERK_MACHINE_TOKEN_CACHE_MS: 0 })
  const good = { object: 'api_key', id: 'ak_1', subject: 'user_1', scopes: [], claims: null, revoked: false, expired: false, expiration: null }
  const deep = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
  const answers: Array<[string, { body: unknown } | { raw: string }]> = [
    ['claims nested 20,000 deep', { raw: JSON.stringify({ ...good, claims: 'x' }).replace('"x"', deep(20_000)) }],
    ['claims nested 17 deep', { raw: JSON.stringify({ ...good, claims: 'x' }).replace('"x"', deep(17)) }],
    ['claims a string and a name a number', { body: { ...good, claims: 'str', name: 42 } }],
    ['claims a list', { body: { ...good, claims: [1, 2] } }],
    ['no revoked flag', { body: { ...good, revoked: undefined } }],
    ['no expired flag', { body: { ...good, expired: undefined } }],
    ['a revoked flag that is a string', { body: { ...good, revoked: 'false' } }],
    ['an expiration that is not whole milliseconds', { body: { ...good, expiration: 1.5 } }],
    ['a negative expiration', { body: { ...good, expiration: -1 } }],
    ['an id over a kilobyte', { body: { ...good, id: 'x'.repeat(1025) } }],
    ['an answer over 64 KiB', { body: { ...good, claims: { padding: 'x'.repeat(70_000) } } }]
  ]
  const paths = ['/machine-pings/1', '/me', '/auth/verify?acceptsToken=api_key']
  let n = 0
  for (const [name, answer] of answers) {
    api.backendApiFault = { status: 200, ...answer }
    for (const path of paths) {
      const res = await get(path, `ak_hostile${n++}`)
      t.equal(res.statusCode, 503, `${name}: ${path}`)
      t.equal(res.json().code, 'clerk_api_unavailable', `${name}: ${path}`)
    }
  }
  t.equal(app.clerkAuth.stats().machineApiFailures.answer, answers.length * paths.length, 'each counted as an unusable answer')
  api.backendApiFault = { status: 200, raw: JSON.stringify({ ...good, claims: 'x' }).replace('"x"', deep(16)) }
  t.equal((await get('/me', 'ak_deep_enough')).statusCode, 200, '16 levels of claims are still claims')

  // 1 GiB answers, four at once: refused at the cap, read no further, memory back where it was.
  api.backendApiFault = undefined
  api.backendApiFault = 'huge'
  const rssBefore = process.memoryUsage().rss
  const huge = await Promise.all(paths.concat('/machine-pings/2').map(async (path, i) => await get(path, `ak_huge${i}`)))
  t.same(huge.map((res) => res.json().code), Array(4).fill('clerk_api_unavailable'))
  const grownMiB = (process.memoryUsage().rss - rssBefore) / 1024 / 1024
  t.ok(grownMiB < 50, `RSS grew ${grownMiB.toFixed(1)} MiB (under 50)`)
  t.ok(api.hugeAnswerBytesSent() < 64 * 1024 * 1024, `the stand-in wrote ${(api.hugeAnswerBytesSent() / 1024 / 1024).toFixed(1)} MiB of its 4 GiB before the service stopped reading`)

  // A body that never ends: the timeout covers it.
  api.backendApiFault = 'drip'
  const dripped = await get('/machine-pings/1', 'ak_dripped')
  t.equal(dripped.json().code, 'clerk_api_unavailable')
  t.equal(app.clerkAuth.stats().machineApiFailures.timeout, 1, 'counted as a timeout')
})

t.test('a call budget: full at first, refilled by the clock at its rate, a fraction buys nothing', async (t) => {
  const budget = new CallBudget(3, 0)
  for (let i = 0; i < 3; i++) {
    t.ok(budget.available(0), `call ${i + 1} of 3`)
    budget.take()
  }
  t.notOk(budget.available(0), 'spent')
  t.notOk(budget.available(100), '0.3 of a call after 100 ms at 3 a second')
  t.notOk(budget.available(333), '0.999 of a call')
  t.ok(budget.available(334), 'a whole call after 334 ms')
  budget.take()
  t.notOk(budget.available(300), 'a clock that goes back refills nothing')
  t.ok(budget.available(10_000) && budget.available(10_000, 1) && !budget.available(10_000, 2.5), 'never more than its rate: 3 calls, 2 of them kept aside leaves 1')
  const reserve = new CallBudget(20, 0)
  for (let i = 0; i < 15; i++) reserve.take()
  t.notOk(reserve.available(0, 5), 'the last 5 kept: none for a new token')
  t.ok(reserve.available(0), 'one for a re-check')
})

t.test('whose budget: an address, an IPv6 address by its /64', async (t) => {
  t.equal(clientKey('203.0.113.7'), '203.0.113.7')
  t.equal(clientKey('::ffff:203.0.113.7'), '203.0.113.7', 'IPv4 mapped into IPv6')
  t.equal(clientKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
  t.equal(clientKey('2001:DB8:1:2::9'), '2001:db8:1:2::/64', 'the same /64, written short')
  t.equal(clientKey('2001:0db8:0001:0002:ffff::1%eth0'), '2001:db8:1:2::/64', 'leading zeros and a zone')
  t.equal(clientKey('2001:db8::'), '2001:db8:0:0::/64')
  t.equal(clientKey('::1'), '0:0:0:0::/64')
  t.not(clientKey('2001:db8:1:3::1'), clientKey('2001:db8:1:2::1'), 'another /64, another budget')
  t.equal(clientKey(undefined), 'unknown')
  t.equal(clientKey(''), 'unknown')
  t.equal(clientKey('2001:db8::1:2:3:4:5'), '2001:db8:0:1::/64', 'the groups after :: count where they land')
  t.equal(clientKey('::1:2:3:4:5:6:7'), '0:1:2:3::/64')
  t.equal(clientKey('2001:db8::ffff:1.2.3.4'), '2001:db8:0:0::/64', 'an IPv4 tail is no mapped address')
})

t.test('a flood of new tokens from one client spends its own share only: others and re-checks are served', async (t) => {
  const issuer = await startIssuer(t)
  const clock = testClock()
  const api = await startIssuer(t, { now: clock.now })
  const { app, lines } = await machineApp(t, issuer, api, { CLERK_API_MAX_CALLS_PER_SECOND: 20, CLERK_API_MAX_CALLS_PER_CLIENT_PER_SECOND: 5, CLERK_MACHINE_TOKEN_CACHE_MS: 10_000 }, clock.now)
  const from = async (address: string, token: string) => await app.inject({ url: '/machine-pings/1', headers: bearer(token), remoteAddress: address })
  const known = api.apiKey()
  t.equal((await from('198.51.100.9', known)).statusCode, 200, 'a key verified before the flood')
  clock.advance(1000)

  const flood = async (address: string, count: number): Promise<number[]> => await Promise.all(Array.from({ length: count }, async () =>
    (await from(address, `ak_${randomBytes(16).toString('hex')}`)).statusCode))
  const calls = api.backendApiCalls().length
  const first = await flood('203.0.113.1', 1000)
  t.equal(api.backendApiCalls().length - calls, 5, 'one client, 1,000 new strings in a second: 5 calls, its share')
  t.equal(first.filter((status) => status === 503).length, 995)
  for (let i = 0; i < 5; i++) t.equal((await from('198.51.100.20', api.apiKey())).statusCode, 200, `a valid new key from another address (${i + 1} of 5), in the same second`)
  t.equal(app.clerkAuth.stats().machineApiBudgetRefusals.client, 995)
  t.equal(lines.filter((line) => line.includes('its share of calls')).length, 1, 'said once')

  // Three flooding clients spend what new tokens may take of the process's 20 calls: the 5 kept for re-checks remain.
  clock.advance(10_000)
  for (const address of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) await flood(address, 100)
  t.equal((await from('198.51.100.30', api.apiKey())).json().code, 'clerk_api_unavailable', 'a new client now waits too')
  const beforeRecheck = api.backendApiCalls().length
  t.equal((await from('198.51.100.9', known)).statusCode, 200, 'the known key, due for its re-check, is checked from the reserve')
  t.equal(api.backendApiCalls().length, beforeRecheck + 1)
  t.ok(app.clerkAuth.stats().machineApiBudgetRefusals.process > 0, 'process-wide exhaustion counted')
  clock.advance(60_000)
  await flood('203.0.113.1', 10)
  t.equal(lines.filter((line) => line.includes('its share of calls')).length, 2, 'and said again a minute on')
})

t.test('a confirmed token whose re-check finds no budget is served one more cache period, never longer, never over Clerk\'s no', async (t) => {
  const issuer = await startIssuer(t)
  const clock = testClock()
  const api = await startIssuer(t, { now: clock.now })
  // One call a second, none kept aside: any new token spends it.
  const { app } = await machineApp(t, issuer, api, { CLERK_API_MAX_CALLS_PER_SECOND: 1, CLERK_API_MAX_CALLS_PER_CLIENT_PER_SECOND: 1, CLERK_MACHINE_TOKEN_CACHE_MS: 10_000 }, clock.now)
  const from = async (address: string, token: string) => await app.inject({ url: '/machine-pings/1', headers: bearer(token), remoteAddress: address })
  const known = api.apiKey()
  t.equal((await from('198.51.100.9', known)).statusCode, 200)
  const spend = async (): Promise<void> => { await from(`203.0.113.${Math.floor(Math.random() * 250)}`, api.apiKey()) }

  clock.advance(10_000)
  await spend()
  const calls = api.backendApiCalls().length
  t.equal((await from('198.51.100.9', known)).statusCode, 200, 'past its cache period, the budget spent: the confirmed verdict still serves')
  t.equal(api.backendApiCalls().length, calls, 'without a call')
  t.equal(app.clerkAuth.stats().machineApiStaleVerdicts, 1)
  clock.advance(9_999)
  await spend()
  t.equal((await from('198.51.100.9', known)).statusCode, 200, 'up to twice the cache period after Clerk confirmed it')
  clock.advance(1)
  await spend()
  t.equal((await from('198.51.100.9', known)).json().code, 'clerk_api_unavailable', 'and not a millisecond longer')

  const revoked = api.apiKey()
  clock.advance(1000)
  t.equal((await from('198.51.100.9', revoked)).statusCode, 200)
  clock.advance(10_000)
  api.backendApiFault = { status: 200, body: { object: 'api_key', id: 'ak_1', subject: 'user_1', scopes: [], claims: null, revoked: true, expired: false, expiration: null } }
  t.equal((await from('198.51.100.9', revoked)).json().code, 'token_revoked', 'a re-check that gets its call takes Clerk\'s no')
})

t.test('an expiration Clerk gives is kept to the millisecond by the clock passed in, whatever its expired flag says', async (t) => {
  const clock = testClock()
  const issuer = await startIssuer(t, { now: clock.now })
  const api = await startIssuer(t, { now: clock.now })
  const { get } = await machineApp(t, issuer, api, {}, clock.now)
  const good = { object: 'api_key', id: 'ak_1', subject: 'user_1', scopes: [], claims: null, revoked: false, expired: false }
  api.backendApiFault = { status: 200, body: { ...good, expiration: clock.now() } }
  t.equal((await get('/machine-pings/1', 'ak_expires_this_millisecond')).json().code, 'token_expired')
  api.backendApiFault = { status: 200, body: { ...good, expiration: clock.now() + 1 } }
  t.equal((await get('/machine-pings/1', 'ak_expires_next_millisecond')).statusCode, 200)
})

t.test('behind a trusted proxy, the budget is the forwarded client\'s; from anyone else X-Forwarded-For is ignored', async (t) => {
  const issuer = await startIssuer(t)
  const clock = testClock()
  const api = await startIssuer(t, { now: clock.now })
  const budgets = { CLERK_API_MAX_CALLS_PER_SECOND: 100, CLERK_API_MAX_CALLS_PER_CLIENT_PER_SECOND: 2 }
  const behind = await machineApp(t, issuer, api, { ...budgets, TRUST_PROXY: '10.0.0.1' }, clock.now)
  const via = async (proxy: string, client: string, token: string) =>
    await behind.app.inject({ url: '/machine-pings/1', headers: { ...bearer(token), 'x-forwarded-for': client }, remoteAddress: proxy })
  for (let i = 0; i < 5; i++) await via('10.0.0.1', '203.0.113.1', `ak_${randomBytes(16).toString('hex')}`)
  t.equal(behind.app.clerkAuth.stats().machineApiBudgetRefusals.client, 3, 'one forwarded client: its 2 calls, 3 refused')
  t.equal((await via('10.0.0.1', '203.0.113.2', api.apiKey())).statusCode, 200, 'another forwarded client has its own')
  t.equal((await via('10.0.0.1', '198.51.100.7, 203.0.113.1', api.apiKey())).json().code, 'clerk_api_unavailable', 'a spoofed leftmost entry changes nothing: the proxy saw 203.0.113.1')
  const direct = await machineApp(t, issuer, api, budgets, clock.now)
  const spoofed = async (client: string, token: string) =>
    await direct.app.inject({ url: '/machine-pings/1', headers: { ...bearer(token), 'x-forwarded-for': client }, remoteAddress: '203.0.113.9' })
  for (let i = 0; i < 3; i++) await spoofed(`198.51.100.${i}`, `ak_${randomBytes(16).toString('hex')}`)
  t.equal(direct.app.clerkAuth.stats().machineApiBudgetRefusals.client, 1, 'without TRUST_PROXY, rotating X-Forwarded-For buys no fresh budget')
  await t.rejects(buildApp(t, { TRUST_PROXY: 'everyone' }), { name: 'ConfigError', message: /^Invalid configuration: TRUST_PROXY must be false, true, a number of proxy hops/ })
})
