// fastify-clerk-auth/testing, in process: every token createTestIssuer mints goes through the real
// plugin on a bare Fastify app, and gets the answer Clerk's own tokens would get.
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import clerkAuth, { TOKEN_TYPES, type ClerkAuthOptions } from '../index.js'
import { createTestIssuer, generateSigningKey, type TestIssuer } from '../testing/index.js'
import { waitFor } from './support/observe.js'
import { bearer } from './support/tokens.js'

async function appFor (t: Test, options: ClerkAuthOptions): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(async () => await app.close())
  await app.register(clerkAuth, options)
  app.get('/me', { config: { acceptsToken: TOKEN_TYPES.filter(app.clerkAuth.canVerify) } }, async (request) => request.auth)
  app.get('/org', { config: { auth: { permission: 'org:invoices:read' } } }, async () => 'ok')
  await app.ready()
  return app
}

async function issuerFor (t: Test, ...options: Parameters<typeof createTestIssuer>): Promise<TestIssuer> {
  const issuer = await createTestIssuer(...options)
  t.teardown(issuer.close)
  return issuer
}

t.test('session tokens, with an organization, features and plans as Clerk writes them', async (t) => {
  const issuer = await issuerFor(t)
  const app = await appFor(t, { issuer: issuer.url })
  const member = issuer.sessionToken({ sub: 'user_42', org: { id: 'org_acme', slug: 'acme', role: 'admin', permissions: ['org:invoices:read', 'org:invoices:write', 'org:reports:read'] }, features: ['u:dashboard'], plans: ['o:pro'] })
  const me = await app.inject({ url: '/me', headers: bearer(member) })
  t.equal(me.statusCode, 200)
  t.match(me.json(), { tokenType: 'session_token', userId: 'user_42', orgId: 'org_acme', orgSlug: 'acme', orgRole: 'org:admin', orgPermissions: ['org:invoices:read', 'org:invoices:write', 'org:reports:read'], claims: { azp: 'http://localhost:3000', fea: 'u:dashboard,o:invoices,o:reports', pla: 'o:pro' } })
  t.equal((await app.inject({ url: '/org', headers: bearer(member) })).statusCode, 200)
  const other = issuer.sessionToken({ org: { id: 'org_acme', permissions: ['org:reports:read'] } })
  t.equal((await app.inject({ url: '/org', headers: bearer(other) })).statusCode, 403)
  t.match((await app.inject({ url: '/me', headers: bearer(issuer.sessionToken()) })).json(), { userId: 'user_test', orgId: null })
  t.throws(() => issuer.sessionToken({ org: { id: 'org_1', permissions: ['invoices:read'] } }), /not a permission key/)
  t.throws(() => issuer.sessionToken({ features: ['dashboard'] }), /features are scoped/)
  t.throws(() => issuer.sessionToken({ plans: ['u:pro', 'pro'] }), /plans are scoped/)
  t.match((await app.inject({ url: '/me', headers: bearer(issuer.sessionToken({ org: { id: 'org_acme', permissions: ['org:invoices:read'] }, features: ['uo:invoices'] })) })).json(), { orgPermissions: ['org:invoices:read'], claims: { fea: 'uo:invoices' } }, 'a feature of both scopes carries the organization mask')
  t.equal(issuer.jwksRequests(), 1, 'the plugin fetched its keys once')
})

t.test('M2M and OAuth JWTs, API keys and opaque tokens, verified as Clerk\'s are', async (t) => {
  const issuer = await issuerFor(t)
  // inject comes from one address: more than the default 5 new opaque tokens a second from one client
  const app = await appFor(t, { issuer: issuer.url, secretKey: issuer.secretKey, apiUrl: issuer.url, apiMaxCallsPerClientPerSecond: 100 })
  const me = async (token: string): Promise<Record<string, unknown>> => (await app.inject({ url: '/me', headers: bearer(token) })).json()
  t.match(await me(issuer.m2mToken({ machineId: 'mch_worker' })), { tokenType: 'm2m_token', machineId: 'mch_worker' })
  t.match(await me(issuer.m2mToken()), { tokenType: 'm2m_token', machineId: 'mch_test' })
  t.match(await me(issuer.oauthToken({ userId: 'user_7', clientId: 'client_app', scopes: ['read'] })), { tokenType: 'oauth_token', userId: 'user_7', clientId: 'client_app', scopes: ['read'] })
  t.match(await me(issuer.oauthToken()), { tokenType: 'oauth_token', userId: 'user_test', clientId: 'client_test' })
  t.match(await me(issuer.apiKey({ subject: 'org_acme', scopes: ['pings:read'], name: 'ci' })), { tokenType: 'api_key', orgId: 'org_acme', name: 'ci', scopes: ['pings:read'] })
  t.match(await me(issuer.apiKey()), { tokenType: 'api_key', userId: 'user_test', name: 'test-key' })
  t.match(await me(issuer.opaqueM2mToken({ subject: 'mch_batch' })), { tokenType: 'm2m_token', machineId: 'mch_batch' })
  t.match(await me(issuer.opaqueOAuthToken({ clientId: 'client_cli' })), { tokenType: 'oauth_token', userId: 'user_test', clientId: 'client_cli' })
  t.match(await me(issuer.apiKey({ revoked: true })), { code: 'token_revoked' })
  t.match(await me(issuer.apiKey({ expiration: Date.now() - 1000 })), { code: 'token_expired' })
  t.equal(issuer.backendApiCalls().length, 6, 'one Backend API call per opaque token')
  const unknownPath = await fetch(`${issuer.url}/nowhere`)
  t.equal(unknownPath.status, 404)
  const tooLarge = await fetch(`${issuer.url}/api_keys/verify`, { method: 'POST', headers: bearer(issuer.secretKey), body: 'x'.repeat(20_000) })
  t.equal(tooLarge.status, 413, 'a verify request is a short token, not a large body')
})

t.test('broken tokens, each refused with its code', async (t) => {
  const issuer = await issuerFor(t, { authorizedParty: 'https://app.example.com' })
  const app = await appFor(t, { issuer: issuer.url, authorizedParties: ['https://app.example.com'] })
  const broken = issuer.brokenTokens()
  const expected = { expired: 'token_expired', notYetValid: 'token_not_yet_valid', wrongIssuer: 'token_issuer_invalid', wrongKey: 'token_signature_invalid', wrongAuthorizedParty: 'token_unauthorized_party', badSignature: 'token_signature_invalid' }
  t.same(Object.keys(broken).sort(), Object.keys(expected).sort())
  for (const [name, code] of Object.entries(expected)) {
    const res = await app.inject({ url: '/me', headers: bearer(broken[name as keyof typeof broken]) })
    t.equal(res.json().code, code, name)
  }
  t.equal((await app.inject({ url: '/me', headers: bearer(issuer.sessionToken()) })).statusCode, 200, 'a good one passes')
})

t.test('a given key, port and clock; the public key for networkless mode', async (t) => {
  const key = generateSigningKey()
  const now = (): number => Date.UTC(2030, 0, 1)
  const issuer = await issuerFor(t, { key, now })
  t.equal(issuer.kid, key.publicJwk.kid)
  const payload = JSON.parse(Buffer.from(issuer.sessionToken().split('.')[1] as string, 'base64url').toString()) as { iat: number }
  t.equal(payload.iat, Date.UTC(2030, 0, 1) / 1000, 'dated by the given clock')
  const networkless = await appFor(t, { issuer: issuer.url, jwtKey: issuer.publicKeyPem, now })
  t.equal((await networkless.inject({ url: '/me', headers: bearer(issuer.sessionToken()) })).statusCode, 200)
  t.equal(issuer.jwksRequests(), 0, 'networkless: no JWKS request')

  const taken = Number(new URL(issuer.url).port)
  await t.rejects(createTestIssuer({ port: taken }), { code: 'EADDRINUSE' }, 'a port in use is an error, not another port')
})

t.test('machine secret keys, any payload signed, keys rotated', async (t) => {
  const issuer = await issuerFor(t)
  const app = await appFor(t, { issuer: issuer.url, secretKey: issuer.secretKey, machineSecretKey: issuer.machineSecretKey, apiUrl: issuer.url, jwksUnknownKidCooldownMs: 0 })
  const me = async (token: string): Promise<Record<string, unknown>> => (await app.inject({ url: '/me', headers: bearer(token) })).json()
  t.match(await me(issuer.opaqueM2mToken({ subject: 'mch_batch' })), { tokenType: 'm2m_token', machineId: 'mch_batch' })
  t.match(issuer.backendApiCalls().at(-1), { path: '/m2m_tokens/verify', authorization: `Bearer ${issuer.machineSecretKey}`, clerkApiVersion: '2026-05-12', contentType: 'application/json', body: { token: /^mt_/ } }, 'opaque M2M tokens verified as the machine')
  t.match(await me(issuer.apiKey()), { tokenType: 'api_key' })
  t.equal(issuer.backendApiCalls().at(-1)?.authorization, `Bearer ${issuer.secretKey}`, 'API keys with the instance key')

  t.match(await me(issuer.sign(issuer.sessionClaims({ sub: 'user_7', azp: undefined }))), { userId: 'user_7', sessionId: 'sess_test', claims: { azp: undefined } }, 'a claim removed')
  t.match(await me(issuer.sign(issuer.sessionClaims(), { header: { kid: 'ins_nobody' } })), { code: 'token_key_unknown' })

  const first = issuer.kid
  const next = generateSigningKey()
  issuer.publishKeys([next])
  t.equal(issuer.kid, next.publicJwk.kid, 'the first published key signs')
  t.not(issuer.kid, first)
  t.match(await me(issuer.sessionToken()), { userId: 'user_test' }, 'a token of the new key: fetched and accepted')
  t.throws(() => issuer.publishKeys([]), /at least one key/)
})

t.test('faults: Clerk unreachable, broken or slow, and back again', async (t) => {
  const testKey = generateSigningKey()
  const issuer = await issuerFor(t, { key: testKey })
  const app = await appFor(t, { issuer: issuer.url, secretKey: issuer.secretKey, apiUrl: issuer.url, apiMaxCallsPerClientPerSecond: 100, jwksTimeoutMs: 200, apiTimeoutMs: 200, jwksUnknownKidCooldownMs: 0 })
  const me = async (token: string) => await app.inject({ url: '/me', headers: bearer(token) })
  t.equal((await me(issuer.sessionToken())).statusCode, 200)

  // a key published after the plugin loaded the set: it has to ask, and the issuer misbehaves
  const later = generateSigningKey()
  issuer.publishKeys([testKey, later])
  const token = issuer.sign(undefined, { key: later })
  for (const fault of ['error', 'garbage', 'not-array', 'oversized', 'oversized-chunked', 'reset'] as const) {
    issuer.jwksFault = fault
    const asked = issuer.jwksRequests()
    t.equal((await me(token)).json().code, 'token_key_unknown', `${fault}: the new key stays unknown`)
    t.equal(issuer.jwksRequests(), asked + 1)
  }
  issuer.jwksFault = 'hang'
  const abandoned = issuer.abandonedJwksRequests()
  t.equal((await me(token)).json().code, 'token_key_unknown')
  await waitFor(() => issuer.abandonedJwksRequests() === abandoned + 1)
  t.pass('the plugin gave up on the hung request')
  issuer.jwksFault = 'held'
  const arrived = issuer.nextJwksRequest()
  const waiting = me(token)
  await arrived
  issuer.releaseHeldJwks()
  t.equal((await waiting).statusCode, 200, 'answered with the new key once released')
  issuer.jwksFault = undefined

  for (const fault of ['error', 'garbage', 'hang', 'reset', 'huge', 'drip', { status: 200, body: { object: 'api_key' } }, { status: 502, raw: '<html>' }] as const) {
    issuer.backendApiFault = fault
    const res = await me(issuer.apiKey())
    t.equal(res.statusCode, 503, JSON.stringify(fault))
    t.equal(res.json().code, 'clerk_api_unavailable')
  }
  t.ok(issuer.hugeAnswerBytesSent() > 0, 'the huge answer was being written')
  issuer.backendApiFault = undefined
  t.equal((await me(issuer.apiKey())).statusCode, 200, 'back again')
})
