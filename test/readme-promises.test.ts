// Promises the documentation makes that no other test holds it to.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { buildSchema } from 'graphql'
import t from 'tap'
import { refusalTexts, type RefusalCode } from '../plugins/clerk-auth/index.js'
import { fetchJson } from '../plugins/clerk-auth/jwks.js'
import { createJwksKeyStore } from '../plugins/clerk-auth/key-store.js'
import { applyAuthDirective, authDirectiveTypeDefs } from '../plugins/graphql/auth-directive.js'
import { m2mClaims, m2mHeader } from '../plugins/clerk-auth/testing/index.js'
import { bearer, buildApp, forgeToken, publicPem, startBackendApi, startIssuer, testKeys } from './helper.js'

t.test('GraphQL: a typo in an @auth requirement fails at start-up, naming the field', async (t) => {
  const schema = (directive: string): string => `${authDirectiveTypeDefs} type Query { secret: String ${directive} }`
  t.throws(() => applyAuthDirective(buildSchema(schema('@auth(reverification: "sometimes")'))), /Query\.secret: @auth .*reverification/)
  t.throws(() => applyAuthDirective(buildSchema(schema('@auth(role: "")'))), /Query\.secret: @auth .*non-empty string/)
  t.throws(() => applyAuthDirective(buildSchema(schema('@auth'))), /Query\.secret: @auth .*at least one/)
  t.throws(() => buildSchema(schema('@auth(permision: "org:x:read")')), /Unknown argument "permision"/, 'an unknown name is refused by GraphQL itself')
  t.doesNotThrow(() => applyAuthDirective(buildSchema(schema('@auth(permission: "org:x:read")'))))
})

t.test('key fetches that fail are retried with a doubling delay, up to a cap', async (t) => {
  const issuer = await startIssuer(t)
  issuer.mode = 'error'
  const delays: number[] = []
  const warned: number[] = []
  let reached: () => void = () => {}
  const enough = new Promise<void>((resolve) => { reached = resolve })
  const ignore = (): void => {}
  const store = createJwksKeyStore({
    issuer: issuer.url,
    timeoutMs: 1000,
    refreshIntervalMs: 60_000,
    unknownKidCooldownMs: 0,
    maxStaleMs: 60_000,
    minRetryMs: 5,
    maxRetryMs: 40,
    log: {
      error: ignore,
      info: ignore,
      warn: (fields) => { warned.push((fields as { retryInMs: number }).retryInMs) },
      debug: (fields) => {
        delays.push((fields as { retryInMs: number }).retryInMs)
        if (delays.length === 5) reached()
      }
    }
  })
  t.teardown(store.close)
  await enough
  t.same(warned, [5], 'the first failure is a warning, retried after the shortest delay')
  t.same(delays, [10, 20, 40, 40, 40], 'each later failure is a debug line, waiting twice as long as the one before, then the cap')
  t.equal(issuer.requests, 6)
})

t.test('a JWKS whose Content-Length is over the cap is refused before any byte of its body', async (t) => {
  // Declares a huge body and never sends it: only the declared size can end this fetch before its timeout.
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) })
    res.flushHeaders()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`
  await t.rejects(fetchJson(url, { timeoutMs: 60_000, maxBytes: 1024 * 1024 }), /larger than 1048576 bytes/)
})

t.test('networkless mode accepts its one key whatever kid a token names, and never fetches', async (t) => {
  const issuer = await startIssuer(t)
  const [key] = testKeys()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_JWT_KEY: publicPem(key) })
  for (const kid of ['ins_anything', 'ins_rotated_later', key.publicJwk.kid]) {
    const response = await app.inject({ url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign(undefined, { header: { kid } })}` } })
    t.equal(response.statusCode, 200, `kid ${kid}`)
  }
  const noKid = await app.inject({ url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign(undefined, { header: { kid: undefined } })}` } })
  t.equal(noKid.json().code, 'token_key_unknown', 'a kid is still required')
  t.equal(issuer.requests, 0)
})

t.test('REST routes can require a role, a feature, a plan or a recent reverification', async (t) => {
  const issuer = await startIssuer(t)
  const requirements = {
    '/needs-role': { role: 'admin' },
    '/needs-feature': { feature: 'u:dashboard' },
    '/needs-plan': { plan: 'o:pro' },
    '/needs-reverification': { reverification: 'strict' }
  } as const
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url }, {
    extend: (app) => {
      for (const [url, auth] of Object.entries(requirements)) app.get(url, { config: { auth } }, async () => 'yes')
    }
  })
  const call = async (url: string, claims: Record<string, unknown>) =>
    await app.inject({ url, headers: { authorization: `Bearer ${issuer.sign(issuer.claims(claims))}` } })
  const org = (rol: string): Record<string, unknown> => ({ o: { id: 'org_1', rol, slg: 'acme', per: '', fpm: '' } })
  const cases: Array<[keyof typeof requirements, Record<string, unknown>, Record<string, unknown>, Record<string, string>]> = [
    ['/needs-role', org('admin'), org('member'), { role: 'admin' }],
    ['/needs-feature', { fea: 'u:dashboard' }, { fea: 'o:dashboard' }, { feature: 'u:dashboard' }],
    ['/needs-plan', { ...org('member'), pla: 'o:pro' }, { pla: 'u:pro' }, { plan: 'o:pro' }],
    ['/needs-reverification', { fva: [2, 3] }, { fva: [2, 30] }, { reverification: 'strict' }]
  ]
  for (const [url, meets, lacks, missing] of cases) {
    const allowed = await call(url, meets)
    t.equal(allowed.statusCode, 200, `${url} with ${JSON.stringify(meets)}`)
    t.equal(allowed.body, 'yes')
    const forbidden = await call(url, lacks)
    t.equal(forbidden.statusCode, 403, `${url} with ${JSON.stringify(lacks)}`)
    t.match(forbidden.json(), { code: 'forbidden', missing })
  }
  t.equal((await app.inject({ url: '/needs-role' })).statusCode, 401, 'no token is still 401, not 403')
})

t.test('GraphQL answers every refusal code with its HTTP status and the code as reason', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startBackendApi(t)
  const [key, otherKey] = testKeys()
  const app = await buildApp(t, {
    CLERK_ISSUER_URL: issuer.url,
    CLERK_AUTHORIZED_PARTIES: 'http://localhost:3000',
    CLERK_MACHINE_ID: 'mch_api',
    CLERK_SECRET_KEY: api.secretKey,
    CLERK_API_URL: api.url,
    GRAPHQL_ACCEPTS_TOKEN: 'session_token,m2m_token,api_key'
  })
  const nowS = Math.floor(Date.now() / 1000)
  const sign = (claims: Record<string, unknown>, header?: Record<string, unknown>): Record<string, string> =>
    bearer(issuer.sign(issuer.claims(claims), { header }))
  const cases: Record<Exclude<RefusalCode, 'issuer_unavailable' | 'clerk_api_unavailable'>, Record<string, string>> = {
    token_missing: {},
    token_scheme_invalid: { authorization: 'Basic YTpi' },
    token_malformed: bearer('a.b'),
    token_header_invalid: sign({}, { jku: 'https://evil.example' }),
    token_algorithm_invalid: bearer(forgeToken({ alg: 'none', kid: key.publicJwk.kid }, issuer.claims())),
    token_key_unknown: sign({}, { kid: 'ins_unknown' }),
    token_signature_invalid: bearer(issuer.sign(undefined, { key: otherKey, header: { kid: key.publicJwk.kid } })),
    token_expired: sign({ exp: nowS - 60, iat: nowS - 120, nbf: nowS - 120 }),
    token_not_yet_valid: sign({ nbf: nowS + 60 }),
    token_issued_in_future: sign({ iat: nowS + 60 }),
    token_issuer_invalid: sign({ iss: 'https://other.clerk.accounts.dev' }),
    token_unauthorized_party: sign({ azp: 'https://evil.example' }),
    token_claims_invalid: sign({ sid: undefined }),
    token_type_not_accepted: sign({}, { cat: 'cl_B7d4PD222AAA' }),
    token_audience_invalid: bearer(issuer.sign(m2mClaims({ issuer: issuer.url, machineId: 'mch_caller', targets: ['mch_other'] }), { header: m2mHeader })),
    session_pending: sign({ sts: 'pending' }),
    token_revoked: bearer(api.add({ type: 'api_key', revoked: true })),
    token_unknown: bearer('ak_never_issued')
  }
  t.same(Object.keys(cases).sort(), Object.keys(refusalTexts).filter((code) => !code.endsWith('_unavailable')).sort(), 'every 401 code')
  for (const [code, headers] of Object.entries(cases)) {
    const response = await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ pingOne(id: "1") }' }, headers })
    t.equal(response.statusCode, 401, code)
    t.match(response.json(), { data: null, errors: [{ message: refusalTexts[code as RefusalCode].message, extensions: { code: 'UNAUTHENTICATED', reason: code } }] })
  }
  api.mode = 'error'
  const unavailable = await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ pingOne(id: "1") }' }, headers: bearer(api.add({ type: 'api_key' })) })
  t.equal(unavailable.statusCode, 503)
  t.equal(unavailable.headers['retry-after'], '5')
  t.match(unavailable.json(), { data: null, errors: [{ message: refusalTexts.clerk_api_unavailable.message, extensions: { code: 'SERVICE_UNAVAILABLE', reason: 'clerk_api_unavailable' } }] })
})
