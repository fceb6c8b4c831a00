// clerk-auth as another team would use it: a bare Fastify() with nothing but the plugin's options
// (no @fastify/env, no development issuer, no autoload), against a real issuer on 127.0.0.1.
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import t, { type Test } from 'tap'
import clerkAuth, { createVerifier, InvalidOptionError, type ClerkAuthOptions } from '../index.js'
import { generateSigningKey } from '../testing/index.js'
import { startIssuer, testKeys } from './support/issuer.js'
import { logLines, waitFor } from './support/observe.js'
import { publicPem } from './support/tokens.js'

const testPem = publicPem(testKeys()[0])

async function bareApp (t: Test, options: ClerkAuthOptions): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(clerkAuth, options)
  app.get('/ping', async () => 'pong')
  app.get('/open', { config: { public: true } }, async () => 'open')
  app.get('/admin', { config: { auth: { role: 'admin' } } }, async () => 'admin')
  t.teardown(async () => await app.close())
  await app.ready()
  return app
}

t.test('registered in a bare Fastify with { issuer } only: 200, 401, 403 and 503', async (t) => {
  const issuer = await startIssuer(t)
  const app = await bareApp(t, { issuer: issuer.url })

  const ok = await app.inject({ url: '/ping', headers: { authorization: `Bearer ${issuer.sign()}` } })
  t.equal(ok.statusCode, 200)
  t.equal(ok.body, 'pong')

  const missing = await app.inject({ url: '/ping' })
  t.equal(missing.statusCode, 401)
  t.equal(missing.json().code, 'token_missing')
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="api"')
  t.equal((await app.inject({ url: '/open' })).statusCode, 200, 'a public route needs no token')

  const member = issuer.sign(issuer.sessionClaims({ o: { id: 'org_1', rol: 'member', slg: 'acme' } }))
  const forbidden = await app.inject({ url: '/admin', headers: { authorization: `Bearer ${member}` } })
  t.equal(forbidden.statusCode, 403)
  t.same(forbidden.json().missing, { role: 'admin' })
  const admin = issuer.sign(issuer.sessionClaims({ o: { id: 'org_1', rol: 'admin', slg: 'acme' } }))
  t.equal((await app.inject({ url: '/admin', headers: { authorization: `Bearer ${admin}` } })).statusCode, 200)
})

t.test('with no reachable issuer, a token gets 503 with Retry-After', async (t) => {
  const issuer = await startIssuer(t)
  const token = issuer.sign()
  await issuer.close()
  const app = await bareApp(t, { issuer: issuer.url, retryAfterSeconds: 7, realm: 'ledger' })
  const res = await app.inject({ url: '/ping', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '7')
  t.equal(res.json().code, 'issuer_unavailable')
  t.equal((await app.inject({ url: '/ping' })).headers['www-authenticate'], 'Bearer realm="ledger"')
  t.notOk(app.clerkAuth.isReady())
})

t.test('the plugin uses the logger it is given, else the app\'s', async (t) => {
  const issuer = await startIssuer(t)
  const lines: string[] = []
  const log = { error: () => {}, warn: () => {}, debug: () => {}, info: (_obj: object, msg: string) => { lines.push(msg) } }
  const app = await bareApp(t, { issuer: issuer.url, log })
  await waitFor(() => app.clerkAuth.isReady())
  t.same(lines, ['Issuer signing keys loaded'])
})

t.test('invalid options stop registration with FST_CLERK_AUTH_INVALID_OPTION naming the option', async (t) => {
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['no options', undefined, 'issuer', /required property/],
    ['no issuer', {}, 'issuer', /issuer/],
    ['an issuer that is not a URL', { issuer: 'clerk' }, 'issuer', /absolute URL/],
    ['a plain-http remote issuer', { issuer: 'http://clerk.example.com' }, 'issuer', /https/],
    ['an issuer with a query', { issuer: 'https://clerk.example.com/?a=1' }, 'issuer', /query/],
    ['a misspelt option', { issuer: 'http://127.0.0.1:1', clockSkew: 5 }, 'clockSkew', /not an option/],
    ['a negative skew', { issuer: 'http://127.0.0.1:1', clockSkewMs: -1 }, 'clockSkewMs', />= 0/],
    ['a fractional cache size', { issuer: 'http://127.0.0.1:1', verificationCacheSize: 1.5 }, 'verificationCacheSize', /integer/],
    ['a timeout of 0', { issuer: 'http://127.0.0.1:1', jwksTimeoutMs: 0 }, 'jwksTimeoutMs', />= 1/],
    ['a party that is not an origin', { issuer: 'http://127.0.0.1:1', authorizedParties: ['https://app.example.com/path'] }, 'authorizedParties', /origins/],
    ['parties as a string', { issuer: 'http://127.0.0.1:1', authorizedParties: 'https://app.example.com' }, 'authorizedParties', /array/],
    ['a jwtKey that is no PEM', { issuer: 'http://127.0.0.1:1', jwtKey: 'abc' }, 'jwtKey', /PEM/],
    ['a realm that would break the header', { issuer: 'http://127.0.0.1:1', realm: 'a"b' }, 'realm', /pattern/],
    ['a clock that is not a function', { issuer: 'http://127.0.0.1:1', now: 5 }, 'now', /function/],
    ['a logger without methods', { issuer: 'http://127.0.0.1:1', log: {} }, 'log', /methods/]
  ]
  for (const [name, options, option, message] of cases) {
    const app = Fastify()
    t.teardown(async () => await app.close())
    const err = await app.register(clerkAuth, options as ClerkAuthOptions).ready().then(() => undefined, (e: unknown) => e)
    t.type(err, InvalidOptionError, name)
    t.match(err, { code: 'FST_CLERK_AUTH_INVALID_OPTION', option, message }, name)
  }
})

t.test('the defaults and ranges the plugin README documents', async (t) => {
  const issuer = 'https://clerk.example.com'
  const verifier = createVerifier({ issuer, jwtKey: testPem })
  verifier.close()
  const { now, log, jwtKey, ...options } = verifier.options
  t.same(options, {
    issuer,
    authorizedParties: undefined,
    clockSkewMs: 5000,
    acceptPendingSessions: false,
    verificationCacheSize: 10_000,
    revocationRetentionMs: 3_600_000,
    maxRevocations: 100_000,
    jwksTimeoutMs: 5000,
    jwksRefreshIntervalMs: 300_000,
    jwksUnknownKidCooldownMs: 30_000,
    jwksMaxStaleMs: 86_400_000,
    realm: 'api',
    retryAfterSeconds: 5,
    apiUrl: 'https://api.clerk.com',
    apiTimeoutMs: 3000,
    apiMaxCallsPerSecond: 20,
    apiMaxCallsPerClientPerSecond: 5,
    machineTokenCacheMs: 10_000
  })
  t.equal(now, Date.now)
  t.ok(jwtKey !== undefined)
  t.doesNotThrow(() => log.error({}, 'the default logger is silent'))
  const ranges: Array<[keyof ClerkAuthOptions, number, number]> = [
    ['clockSkewMs', 0, 300_000],
    ['verificationCacheSize', 1, 1_000_000],
    ['jwksTimeoutMs', 1, 60_000],
    ['jwksRefreshIntervalMs', 100, 86_400_000],
    ['jwksUnknownKidCooldownMs', 0, 3_600_000],
    // at least the refresh interval (300000 by default), at most a week
    ['jwksMaxStaleMs', 300_000, 604_800_000],
    ['retryAfterSeconds', 1, 3600],
    ['apiTimeoutMs', 1, 60_000],
    ['apiMaxCallsPerSecond', 1, 10_000],
    ['machineTokenCacheMs', 0, 300_000]
  ]
  for (const [option, min, max] of ranges) {
    for (const value of [min, max]) createVerifier({ issuer, jwtKey: testPem, [option]: value }).close()
    for (const value of [min - 1, max + 1]) {
      t.throws(() => createVerifier({ issuer, jwtKey: testPem, [option]: value }), { message: new RegExp(`option ${option} `) }, `${option} ${value}`)
    }
  }
  for (const option of ['acceptPendingSessions', 'realm', 'issuer', 'jwtKey'] as const) {
    t.throws(() => createVerifier({ issuer, jwtKey: testPem, [option]: 7 } as unknown as ClerkAuthOptions), { message: new RegExp(`option ${option} `) }, `${option} of the wrong type`)
  }
})

t.test('the adapter: who reaches a handler, what request.auth holds, on both paths', async (t) => {
  const [firstKey] = testKeys()
  const laterKey = generateSigningKey()
  const issuer = await startIssuer(t, { keys: [firstKey] })
  const { lines, stream } = logLines()
  const app = Fastify({ logger: { level: 'debug', stream } })
  await app.register(clerkAuth, { issuer: issuer.url, jwksUnknownKidCooldownMs: 0 })
  let reached = 0
  const seen = async (request: FastifyRequest): Promise<unknown> => { reached++; return { auth: request.auth } }
  app.get('/who', seen)
  app.get('/open', { config: { public: true } }, seen)
  app.get('/admin', { config: { auth: { role: 'admin' } } }, seen)
  t.teardown(async () => await app.close())
  await app.ready()
  t.ok(app.hasPlugin('clerk-auth'), 'registered under its name, for plugins that depend on it')
  await waitFor(() => app.clerkAuth.isReady())
  const call = async (url: string, token?: string) =>
    await app.inject({ url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })

  t.same((await call('/open')).json(), { auth: null }, 'a public route: auth is null, not missing')
  t.equal(reached, 1)

  // refused and forbidden requests never run the handler, whether the verdict was at hand or awaited a key fetch
  t.equal((await call('/who')).statusCode, 401)
  t.equal((await call('/who', issuer.sign(issuer.sessionClaims({ exp: 1 })))).statusCode, 401)
  t.equal((await call('/who', issuer.sign(undefined, { header: { kid: 'ins_nobody' } }))).json().code, 'token_key_unknown', 'refused after a fetch')
  t.equal((await call('/admin', issuer.sign())).statusCode, 403)
  issuer.publishKeys([firstKey, laterKey])
  t.equal((await call('/admin', issuer.sign(undefined, { key: laterKey }))).statusCode, 403, 'forbidden after a fetch')
  t.equal(reached, 1, 'no refused request reached a handler')

  // the caller is on request.auth, whether verified at once or after fetching its key
  const atOnce = await call('/who', issuer.sign(issuer.sessionClaims({ sub: 'user_later', sid: 'sess_later' }), { key: laterKey }))
  t.match(atOnce.json(), { auth: { userId: 'user_later', sessionId: 'sess_later' } })
  const newest = generateSigningKey()
  issuer.publishKeys([firstKey, laterKey, newest])
  const awaited = await call('/who', issuer.sign(issuer.sessionClaims({ sub: 'user_newest' }), { key: newest }))
  t.match(awaited.json(), { auth: { userId: 'user_newest' } }, 'verified after fetching its key')
  t.equal(reached, 3)

  const debug = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.level === 20)
  t.match(debug.filter((line) => line.msg === 'request refused').map((line) => line.code), ['token_missing', 'token_expired', 'token_key_unknown'])
  t.match(debug.filter((line) => line.msg === 'request forbidden'), [{ code: 'forbidden', unmet: ['role'] }, { code: 'forbidden', unmet: ['role'] }])
})

t.test('closing the app stops the key store: no fetch after close', async (t) => {
  const issuer = await startIssuer(t)
  const app = Fastify()
  await app.register(clerkAuth, { issuer: issuer.url, jwksUnknownKidCooldownMs: 0 })
  await app.ready()
  await waitFor(() => app.clerkAuth.isReady())
  const { verifier } = app.clerkAuth
  await app.close()
  const before = issuer.jwksRequests()
  t.equal(await verifier.verify(issuer.sign(undefined, { header: { kid: 'ins_unknown' } })), 'token_key_unknown')
  t.equal(issuer.jwksRequests(), before, 'an unknown kid after close fetches nothing')
})
