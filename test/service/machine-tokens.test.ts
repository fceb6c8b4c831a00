// Machine callers with JWTs: M2M and OAuth access tokens, accepted per route, verified as
// strictly as sessions, against a real issuer on 127.0.0.1 and Clerk's own test vectors.
import { createPublicKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { createVerifier, type TokenType } from '../../plugins/clerk-auth/index.js'
import { generateSigningKey, m2mClaims, m2mHeader, oauthClaims, oauthHeader } from '../../plugins/clerk-auth/testing/index.js'
import { startIssuer, type TestIssuer, testKeys } from '../../plugins/clerk-auth/test/support/issuer.js'
import { bearer } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp } from '../support/app.js'

const vectors = JSON.parse(readFileSync(new URL('../fixtures/clerk-machine-vectors.json', import.meta.url), 'utf8'))

const m2m = (issuer: TestIssuer, input: Partial<Parameters<typeof m2mClaims>[0]> = {}, header: Record<string, unknown> = m2mHeader): string =>
  issuer.sign(m2mClaims({ issuer: issuer.url, machineId: 'mch_caller', ...input }), { header })
const oauth = (issuer: TestIssuer, input: Partial<Parameters<typeof oauthClaims>[0]> = {}, header: Record<string, unknown> = oauthHeader): string =>
  issuer.sign(oauthClaims({ issuer: issuer.url, userId: 'user_1', clientId: 'client_1', scopes: ['pings:read'], ...input }), { header })

t.test('each route takes the kinds it declares: machines on /machine-pings, sessions on /rest-endpoints', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const get = async (url: string, token: string) => await app.inject({ url, headers: bearer(token) })
  const tokens: Array<[string, string, string]> = [
    ['an M2M JWT', m2m(issuer), 'mch_caller'],
    ['an M2M JWT from before the category (sub mch_, no cat)', m2m(issuer, {}, { typ: 'JWT' }), 'mch_caller'],
    ['an OAuth JWT (typ at+jwt)', oauth(issuer), 'user_1'],
    ['an OAuth JWT (typ application/at+jwt)', oauth(issuer, {}, { typ: 'application/at+jwt' }), 'user_1']
  ]
  for (const [name, token, subject] of tokens) {
    const machine = await get('/machine-pings/7', token)
    t.equal(machine.statusCode, 200, name)
    t.equal(machine.body, `Machine Ping #7 for ${subject}!`)
    const rest = await get('/rest-endpoints/7', token)
    t.equal(rest.statusCode, 401, `${name} on a sessions-only route`)
    t.equal(rest.json().code, 'token_type_not_accepted')
    t.match(rest.headers['www-authenticate'], /error_description="token type not accepted"/)
  }
  const session = issuer.sign()
  t.equal((await get('/rest-endpoints/7', session)).statusCode, 200)
  const refused = await get('/machine-pings/7', session)
  t.equal(refused.statusCode, 401, 'a session token on a machine route')
  t.equal(refused.json().code, 'token_type_not_accepted')
  const template = issuer.sign(issuer.sessionClaims({ sid: undefined }), { header: { cat: 'cl_B7d4PD222AAA' } })
  for (const url of ['/machine-pings/7', '/rest-endpoints/7', '/me']) {
    t.equal((await get(url, template)).json().code, 'token_type_not_accepted', `a JWT template on ${url}`)
  }
})

t.test('machine JWTs are held to the same rules: issuer, times, signature first, their own header and claims', async (t) => {
  const issuer = await startIssuer(t)
  const nowS = Math.floor(Date.now() / 1000)
  const verifier = createVerifier({ issuer: issuer.url })
  t.teardown(verifier.close)
  const machines: TokenType[] = ['m2m_token', 'oauth_token']
  const verdict = async (token: string): Promise<unknown> => await verifier.verify(token, machines)
  const forger = { key: testKeys()[1], header: { kid: issuer.kid } }
  const cases: Array<[string, string, string]> = [
    ['M2M from another issuer', m2m(issuer, { issuer: 'https://other.clerk.accounts.dev' }), 'token_issuer_invalid'],
    ['M2M expired', m2m(issuer, { nowSeconds: nowS - 7200, ttlSeconds: 3600 }), 'token_expired'],
    ['M2M issued in the future', m2m(issuer, { nowSeconds: nowS + 3600 }), 'token_issued_in_future'],
    ['M2M forged, from another issuer', issuer.sign(m2mClaims({ issuer: 'https://other.example', machineId: 'mch_1' }), { ...forger, header: { ...forger.header, ...m2mHeader } }), 'token_signature_invalid'],
    ['M2M typed at+jwt', m2m(issuer, {}, { typ: 'at+jwt', cat: 'cl_B7d4PD333AAA' }), 'token_header_invalid'],
    ['M2M with the ignore category', m2m(issuer, {}, { typ: 'JWT', cat: 'cl_I7d4PD111III' }), 'token_header_invalid'],
    ['M2M category on a user', issuer.sign(m2mClaims({ issuer: issuer.url, machineId: 'user_1' }), { header: m2mHeader }), 'token_claims_invalid'],
    ['M2M with a numeric aud', issuer.sign({ ...m2mClaims({ issuer: issuer.url, machineId: 'mch_1' }), aud: 5 }, { header: m2mHeader }), 'token_claims_invalid'],
    ['M2M with scopes as a list', issuer.sign({ ...m2mClaims({ issuer: issuer.url, machineId: 'mch_1' }), scopes: ['mch_2'] }, { header: m2mHeader }), 'token_claims_invalid'],
    ['M2M without exp', issuer.sign({ ...m2mClaims({ issuer: issuer.url, machineId: 'mch_1' }), exp: undefined }, { header: m2mHeader }), 'token_claims_invalid'],
    ['OAuth from another issuer', oauth(issuer, { issuer: 'https://other.clerk.accounts.dev' }), 'token_issuer_invalid'],
    ['OAuth not yet valid', issuer.sign({ ...oauthClaims({ issuer: issuer.url, userId: 'user_1', clientId: 'c' }), nbf: nowS + 3600 }, { header: oauthHeader }), 'token_not_yet_valid'],
    ['OAuth without client_id', issuer.sign({ ...oauthClaims({ issuer: issuer.url, userId: 'user_1', clientId: 'c' }), client_id: undefined }, { header: oauthHeader }), 'token_claims_invalid'],
    ['OAuth with scp not a list of strings', issuer.sign({ ...oauthClaims({ issuer: issuer.url, userId: 'user_1', clientId: 'c' }), scp: 'a b' }, { header: oauthHeader }), 'token_claims_invalid'],
    ['OAuth with a JWT-template category', oauth(issuer, {}, { typ: 'at+jwt', cat: 'cl_B7d4PD222AAA' }), 'token_header_invalid'],
    ['OAuth forged', issuer.sign(oauthClaims({ issuer: issuer.url, userId: 'user_1', clientId: 'c' }), { ...forger, header: { ...forger.header, ...oauthHeader } }), 'token_signature_invalid']
  ]
  for (const [name, token, code] of cases) t.equal(await verdict(token), code, name)
  t.match(await verdict(issuer.sign({ ...oauthClaims({ issuer: issuer.url, userId: 'user_1', clientId: 'c', scopes: ['a'] }), scp: ['b', 'c'] }, { header: oauthHeader })),
    { scopes: ['b', 'c'] }, 'scp wins over scope')
  t.match(await verdict(issuer.sign({ ...oauthClaims({ issuer: issuer.url, userId: 'user_1', clientId: 'c' }), scope: undefined }, { header: oauthHeader })),
    { scopes: [] }, 'no scope at all')
  const withoutIat = await verdict(issuer.sign({ ...m2mClaims({ issuer: issuer.url, machineId: 'mch_1' }), iat: undefined, jti: undefined }, { header: m2mHeader }))
  t.match(withoutIat, { tokenType: 'm2m_token', id: null, scopes: [], claims: null }, 'iat and jti are optional, as in Clerk\'s SDK')
  t.equal((withoutIat as { has: (requirement: object) => boolean }).has({ scope: 'anything' }), false, 'has() is false for a machine, as in Clerk\'s SDK')
})

t.test('with CLERK_MACHINE_ID, an M2M token must name this service in aud or scopes', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_MACHINE_ID: 'mch_api' })
  const status = async (token: string): Promise<[number, string]> => {
    const res = await app.inject({ url: '/machine-pings/1', headers: bearer(token) })
    return [res.statusCode, res.statusCode === 200 ? 'ok' : res.json().code]
  }
  const claims = m2mClaims({ issuer: issuer.url, machineId: 'mch_caller' })
  t.same(await status(m2m(issuer, { targets: ['mch_other', 'mch_api'] })), [200, 'ok'], 'named among others')
  t.same(await status(issuer.sign({ ...claims, aud: 'mch_api' }, { header: m2mHeader })), [200, 'ok'], 'aud as one string')
  t.same(await status(issuer.sign({ ...claims, aud: ['mch_api'] }, { header: m2mHeader })), [200, 'ok'], 'aud alone')
  t.same(await status(issuer.sign({ ...claims, scopes: 'mch_x mch_api' }, { header: m2mHeader })), [200, 'ok'], 'scopes alone')
  t.same(await status(issuer.sign({ ...claims, scopes: 'mch_x', aud: ['mch_api'] }, { header: m2mHeader })), [401, 'token_audience_invalid'], 'scopes win over aud, as in Clerk\'s mapping')
  t.same(await status(m2m(issuer, { targets: ['mch_other'] })), [401, 'token_audience_invalid'], 'for another service')
  t.same(await status(m2m(issuer)), [401, 'token_audience_invalid'], 'for no service in particular')
  t.same(await status(oauth(issuer)), [200, 'ok'], 'OAuth tokens name no machine: the check is for M2M tokens')

  const open = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  t.equal((await open.inject({ url: '/machine-pings/1', headers: bearer(m2m(issuer)) })).statusCode, 200, 'without it, any M2M token of the instance')
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_MACHINE_ID: 'machine-1' }), /CLERK_MACHINE_ID/)
})

t.test('the kind is settled before any key lookup, and a cached verdict keeps its kind', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_JWKS_UNKNOWN_KID_COOLDOWN_MS: 0 })
  const get = async (url: string, token: string) => await app.inject({ url, headers: bearer(token) })
  await get('/rest-endpoints/1', issuer.sign())
  const fetches = issuer.jwksRequests()
  const unknownKey = issuer.sign(m2mClaims({ issuer: issuer.url, machineId: 'mch_1' }), { key: generateSigningKey(), header: { ...m2mHeader, kid: 'ins_unknown' } })
  t.equal((await get('/rest-endpoints/1', unknownKey)).json().code, 'token_type_not_accepted')
  t.equal(issuer.jwksRequests(), fetches, 'no JWKS fetch for a kind the route does not take')
  t.equal((await get('/machine-pings/1', unknownKey)).json().code, 'token_key_unknown', 'where it is taken, the key is looked up')
  t.equal(issuer.jwksRequests(), fetches + 1)

  const token = m2m(issuer)
  t.equal((await get('/machine-pings/1', token)).statusCode, 200)
  const checks = app.clerkAuth.stats().signatureChecks
  t.equal((await get('/rest-endpoints/1', token)).json().code, 'token_type_not_accepted', 'from the cache, the same answer')
  t.equal((await get('/machine-pings/1', token)).statusCode, 200)
  t.equal(app.clerkAuth.stats().signatureChecks, checks, 'both answered from the cache')
  const expired = m2m(issuer, { nowSeconds: Math.floor(Date.now() / 1000) - 7200, ttlSeconds: 60 })
  t.equal((await get('/machine-pings/1', expired)).json().code, 'token_expired')
  t.equal((await get('/rest-endpoints/1', expired)).json().code, 'token_type_not_accepted', 'a cached refusal of another kind too')
})

t.test('machine tokens come in the Authorization header only; opaque ones need the secret key', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const token = m2m(issuer)
  const inCookie = await app.inject({ url: '/me', headers: { cookie: `__session=${token}` } })
  t.equal(inCookie.json().code, 'token_type_not_accepted', 'an M2M JWT in __session, on a route taking sessions and M2M')
  const cookieOnly = await app.inject({ url: '/machine-pings/1', headers: { cookie: `__session=${token}` } })
  t.equal(cookieOnly.json().code, 'token_missing', 'a route without sessions reads no cookie')
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).json().machineId, 'mch_caller', 'the same token in the header')
  const opaques: Array<[string, string]> = [
    ['mt_8XOIucKvqHVr5tYP123456789abcdefghij', 'token_type_not_accepted'],
    ['oat_8XOIucKvqHVr5tYP123456789abcdefghij', 'token_type_not_accepted'],
    ['ak_LCWGdaM8mv8K4PC/57IICZQXAeWfCgF30DZaFXHoGn9=', 'token_type_not_accepted']
  ]
  for (const [opaque, code] of opaques) {
    t.equal((await app.inject({ url: '/machine-pings/1', headers: bearer(opaque) })).json().code, code, `${opaque.slice(0, 4)}… on /machine-pings`)
    t.equal((await app.inject({ url: '/rest-endpoints/1', headers: bearer(opaque) })).json().code, 'token_type_not_accepted', `${opaque.slice(0, 4)}… on a sessions-only route`)
  }
})

t.test('scopes as requirements: a machine meets the scopes it was granted, and never a role', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, {
    CLERK_ISSUER_URL: issuer.url
  }, {
    extend: (app) => {
      const machines: TokenType[] = ['m2m_token', 'oauth_token', 'session_token']
      app.get('/reads', { config: { acceptsToken: machines, auth: { scope: 'pings:read' } } }, async () => 'read')
      app.get('/admins', { config: { acceptsToken: machines, auth: { role: 'org:admin' } } }, async () => 'admin')
    }
  })
  const get = async (url: string, token: string) => await app.inject({ url, headers: bearer(token) })
  t.equal((await get('/reads', oauth(issuer))).body, 'read')
  const without = await get('/reads', oauth(issuer, { scopes: ['pings:write'] }))
  t.equal(without.statusCode, 403)
  t.same(without.json(), { statusCode: 403, error: 'Forbidden', code: 'forbidden', message: 'This needs scope pings:read.', missing: { scope: 'pings:read' } })
  t.equal((await get('/reads', m2m(issuer, { targets: ['pings:read'] }))).statusCode, 200, 'an M2M token\'s scopes count too')
  t.equal((await get('/reads', issuer.sign())).statusCode, 403, 'a session has no scopes')
  const admin = issuer.sign(issuer.sessionClaims({ o: { id: 'org_1', rol: 'admin', slg: 'acme' } }))
  t.equal((await get('/admins', admin)).statusCode, 200)
  t.equal((await get('/admins', oauth(issuer))).statusCode, 403, 'a machine never has a role')
  t.equal((await get('/admins', m2m(issuer))).statusCode, 403)
})

t.test('GraphQL takes the kinds GRAPHQL_ACCEPTS_TOKEN names; me shows either kind; @auth stays for people', async (t) => {
  const issuer = await startIssuer(t)
  const query = async (app: Awaited<ReturnType<typeof buildApp>>, text: string, token: string) =>
    await app.inject({ method: 'POST', url: '/graphql', payload: { query: text }, headers: bearer(token) })
  const sessionsOnly = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const refused = await query(sessionsOnly, '{ pingOne(id: "1") }', m2m(issuer))
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().errors[0].extensions.reason, 'token_type_not_accepted')

  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, GRAPHQL_ACCEPTS_TOKEN: 'session_token, m2m_token,oauth_token' })
  const machine = await query(app, '{ me { tokenType subject machineId scopes userId sessionId } }', m2m(issuer, { targets: ['mch_api'] }))
  t.same(machine.json(), { data: { me: { tokenType: 'm2m_token', subject: 'mch_caller', machineId: 'mch_caller', scopes: ['mch_api'], userId: null, sessionId: null } } })
  const person = await query(app, '{ me { tokenType userId sessionId subject } }', issuer.sign())
  t.same(person.json(), { data: { me: { tokenType: 'session_token', userId: 'user_test', sessionId: 'sess_test', subject: null } } })
  const forbidden = await query(app, '{ orgPing(id: "1") }', oauth(issuer))
  t.same(forbidden.json().errors[0].extensions, { code: 'FORBIDDEN', missing: { permission: 'org:pings:read' } }, 'a machine has no permissions')
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url, GRAPHQL_ACCEPTS_TOKEN: 'session_token,m2m' }), /GRAPHQL_ACCEPTS_TOKEN has an unknown token type "m2m"/)
})

t.test('a route declaring acceptsToken wrongly fails start-up, naming it', async (t) => {
  const issuer = await startIssuer(t)
  const declare = async (acceptsToken: unknown, extra: Record<string, unknown> = {}) => await buildApp(t, { CLERK_ISSUER_URL: issuer.url }, {
    extend: (app) => app.get('/x', { config: { acceptsToken: acceptsToken as TokenType[], ...extra } }, async () => 'x')
  })
  await t.rejects(declare([]), /Route GET \/x: config.acceptsToken must be a non-empty array of session_token, m2m_token, oauth_token, api_key/)
  await t.rejects(declare('m2m_token'), /must be a non-empty array/)
  await t.rejects(declare(['m2m']), /has an unknown token type "m2m"/)
  await t.rejects(declare(['m2m_token', 'm2m_token']), /names a token type twice/)
  await t.rejects(declare(['api_key']), /names api_key, which only Clerk's Backend API can verify/)
  await t.rejects(declare(['session_token', 'api_key']), /names api_key/, 'among other kinds too')
  await t.rejects(declare(['m2m_token'], { public: true }), /a public route cannot declare config.auth, config.acceptsToken or config.optionalAuth/)
})

t.test("Clerk's OAuth access-token vectors: verified, and mapped as Clerk's SDK maps them", async (t) => {
  const jwtKey = createPublicKey({ key: vectors.publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
  const verifier = createVerifier({ issuer: vectors.issuer, jwtKey, now: () => vectors.nowSeconds * 1000 })
  t.teardown(verifier.close)
  for (const [typ, token] of Object.entries(vectors.oauthAccessTokens as Record<string, string>)) {
    t.match(await verifier.verify(token, ['oauth_token']), vectors.expected, `typ ${typ}`)
    // it carries sid and azp: a session verifier that ignored typ would take it for a session
    t.equal(await verifier.verify(token), 'token_type_not_accepted', `typ ${typ}: not a session`)
  }
})
