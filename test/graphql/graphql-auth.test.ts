import Fastify from 'fastify'
import { getIntrospectionQuery } from 'graphql'
import t from 'tap'
import { refusalTexts, type RefusalCode } from '../../plugins/clerk-auth/index.js'
import { m2mClaims, m2mHeader } from '../../plugins/clerk-auth/testing/index.js'
import graphql from '../../plugins/graphql/index.js'
import { startIssuer, testKeys } from '../../plugins/clerk-auth/test/support/issuer.js'
import { logLines } from '../../plugins/clerk-auth/test/support/observe.js'
import { bearer, forgeToken, hs256WithPublicKey } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp } from '../support/app.js'

const PING = '{ pingOne(id: "7") }'

t.test('GraphQL authentication', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const [key, otherKey] = testKeys()
  const post = async (query: string, headers: Record<string, string> = {}) =>
    await app.inject({ method: 'POST', url: '/graphql', payload: { query }, headers })

  t.test('a valid bearer token runs pingOne', async (t) => {
    const res = await post(PING, { authorization: `Bearer ${issuer.sign()}` })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { data: { pingOne: 'GraphQL Ping #7!' } })
  })

  t.test('the __session cookie works too', async (t) => {
    const res = await post(PING, { cookie: `__session=${issuer.sign()}` })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { data: { pingOne: 'GraphQL Ping #7!' } })
  })

  t.test('a POST a page could send cross-site without a preflight is refused before it runs, cookie or not', async (t) => {
    const cookie = `__session=${issuer.sign()}`
    const before = app.clerkAuth.stats().verdicts.reduce((sum, { count }) => sum + count, 0)
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/graphql', 'text/plain; note=application/json', 'application/jsonx']) {
      const res = await app.inject({ method: 'POST', url: '/graphql', headers: { cookie, 'content-type': type }, payload: JSON.stringify({ query: PING }) })
      t.equal(res.statusCode, 415, type)
      t.equal(res.json().errors[0].extensions.code, 'FST_ERR_CTP_INVALID_MEDIA_TYPE', type)
    }
    const noType = await app.inject({ method: 'POST', url: '/graphql', headers: { cookie }, payload: JSON.stringify({ query: PING }) })
    t.equal(noType.statusCode, 415, 'no content type either')
    t.equal(noType.json().errors[0].message, 'Unsupported Media Type (none)')
    t.equal(app.clerkAuth.stats().verdicts.reduce((sum, { count }) => sum + count, 0), before, 'none reached authentication')
    const json = await app.inject({ method: 'POST', url: '/graphql', headers: { cookie, 'content-type': 'application/json; charset=utf-8' }, payload: JSON.stringify({ query: PING }) })
    t.same(json.json(), { data: { pingOne: 'GraphQL Ping #7!' } }, 'JSON, which a browser preflights cross-site, runs')
    const spaced = await app.inject({ method: 'POST', url: '/graphql', headers: { cookie, 'content-type': 'Application/JSON ; charset=utf-8' }, payload: JSON.stringify({ query: PING }) })
    t.same(spaced.json(), { data: { pingOne: 'GraphQL Ping #7!' } }, 'in any case, with a space before its parameters')
  })

  t.test('GET runs queries only; subscriptions run on sockets only', async (t) => {
    for (const query of ['mutation { __typename }', 'subscription { pings(id: "1") }']) {
      const res = await app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent(query)}`, headers: { cookie: `__session=${issuer.sign()}` } })
      t.equal(res.statusCode, 405, query)
    }
    const posted = await app.inject({ method: 'POST', url: '/graphql', payload: { query: 'subscription { pings(id: "1") }' }, headers: { authorization: `Bearer ${issuer.sign()}` } })
    t.equal(posted.statusCode, 400)
    t.same(posted.json(), { data: null, errors: [{ message: 'Subscriptions run over a WebSocket on this path (graphql-transport-ws), not over HTTP.', extensions: { code: 'BAD_REQUEST' } }] })
    const mixed = await app.inject({ method: 'POST', url: '/graphql', payload: { query: 'query Q { pingOne(id: "1") } subscription S { pings(id: "1") }', operationName: 'S' }, headers: { authorization: `Bearer ${issuer.sign()}` } })
    t.equal(mixed.statusCode, 400, 'a subscription beside a query is refused too')
    t.match(mixed.json(), { errors: [{ message: /Subscriptions run over a WebSocket/ }] })
  })

  t.test('GET /graphql with a token', async (t) => {
    const res = await app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent(PING)}`, headers: { authorization: `Bearer ${issuer.sign()}` } })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { data: { pingOne: 'GraphQL Ping #7!' } })
  })

  const now = Math.floor(Date.now() / 1000)
  const refusals: Array<[string, Record<string, string>, string]> = [
    ['no token', {}, 'token_missing'],
    ['a foreign key', { authorization: `Bearer ${issuer.sign(undefined, { key: otherKey, header: { kid: key.publicJwk.kid } })}` }, 'token_signature_invalid'],
    ['an expired token', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ exp: now - 30 }))}` }, 'token_expired'],
    ['another issuer', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ iss: 'https://other.example' }))}` }, 'token_issuer_invalid'],
    ['alg none', { authorization: `Bearer ${forgeToken({ alg: 'none', kid: key.publicJwk.kid }, issuer.sessionClaims())}` }, 'token_algorithm_invalid'],
    ['HS256 confusion', { authorization: `Bearer ${hs256WithPublicKey(key, issuer.sessionClaims())}` }, 'token_algorithm_invalid'],
    ['a malformed cookie', { cookie: '__session=%%%' }, 'token_malformed']
  ]
  for (const [name, headers, reason] of refusals) {
    t.test(`${name}: 401 UNAUTHENTICATED with reason ${reason}`, async (t) => {
      const res = await post(PING, headers)
      t.equal(res.statusCode, 401)
      const body = res.json()
      t.equal(body.data, null)
      t.equal(body.errors.length, 1)
      t.equal(body.errors[0].extensions.code, 'UNAUTHENTICATED')
      t.equal(body.errors[0].extensions.reason, reason)
      t.match(res.headers['www-authenticate'], /^Bearer realm="api"/)
    })
  }

  t.test('introspection runs without a token', async (t) => {
    const res = await post(getIntrospectionQuery())
    t.equal(res.statusCode, 200)
    const types = res.json().data.__schema.types.map((type: { name: string }) => type.name)
    t.ok(types.includes('Query'))
    const typename = await post('{ __typename }')
    t.same(typename.json(), { data: { __typename: 'Query' } })
  })

  t.test('introspection runs with an expired or forged token too', async (t) => {
    const expired = issuer.sign(issuer.sessionClaims({ exp: Math.floor(Date.now() / 1000) - 3600 }))
    for (const token of [expired, issuer.sign(issuer.sessionClaims(), { key: otherKey })]) {
      const res = await post('{ __typename }', { authorization: `Bearer ${token}` })
      t.equal(res.statusCode, 200)
      t.same(res.json(), { data: { __typename: 'Query' } })
    }
  })

  t.test('introspection mixed with a real field needs a token', async (t) => {
    const res = await post('{ __typename pingOne(id: "1") }')
    t.equal(res.statusCode, 401)
    t.equal(res.json().errors[0].extensions.code, 'UNAUTHENTICATED')
    const viaFragment = await post('query { ...F } fragment F on Query { pingOne(id: "1") }')
    t.equal(viaFragment.statusCode, 401)
  })

  t.test('GraphiQL is served without a token', async (t) => {
    const res = await app.inject({ method: 'GET', url: '/graphiql' })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /text\/html/)
  })
})

t.test('the graphql plugin needs clerk-auth, and says so', async (t) => {
  const app = Fastify()
  t.teardown(async () => await app.close())
  await t.rejects(async () => await app.register(graphql, { publicIntrospection: false, acceptsToken: ['session_token'] }).ready(), /dependency 'clerk-auth' of plugin 'graphql'/)
})

t.test('a refused operation is logged at debug with its code, never its token', async (t) => {
  const issuer = await startIssuer(t)
  const { lines, stream } = logLines()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, LOG_LEVEL: 'debug' }, { logger: { level: 'debug', stream } })
  const expired = issuer.sign(issuer.sessionClaims({ exp: 1 }))
  const res = await app.inject({ method: 'POST', url: '/graphql', payload: { query: PING }, headers: { authorization: `Bearer ${expired}` } })
  t.equal(res.statusCode, 401)
  const refused = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'operation refused')
  t.match(refused, [{ level: 20, code: 'token_expired' }])
  t.notOk(lines.some((line) => line.includes(expired.split('.')[2] as string)))
})

t.test('with introspection closed, validation errors do not suggest field or argument names', async (t) => {
  const issuer = await startIssuer(t)
  const closed = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, GRAPHQL_PUBLIC_INTROSPECTION: 'false' })
  const open = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const guesses = ['{ pingOn(id: "1") }', '{ pingOne(idd: "1") }', '{ gretting }', 'query ($id: Strin!) { pingOne(id: $id) }']
  for (const query of guesses) {
    // twice each way: the second answer comes from Mercurius' cache of parsed and validated documents
    for (const request of [{ method: 'POST' as const, url: '/graphql', payload: { query } }, { method: 'GET' as const, url: `/graphql?query=${encodeURIComponent(query)}` }]) {
      for (const round of [1, 2]) {
        const res = await closed.inject(request)
        t.ok(res.json().errors.length > 0, `${request.method} ${query} (${round}): refused`)
        t.notMatch(res.body, /Did you mean|pingOne"\?|"id"\?|greeting|"String"/, `${request.method} ${query} (${round}): no suggestion`)
      }
    }
  }
  const plain = await closed.inject({ method: 'POST', url: '/graphql', payload: { query: guesses[0] } })
  t.equal(plain.json().errors[0].message, 'Cannot query field "pingOn" on type "Query".', 'the message stands without its suggestion')
  const suggested = await open.inject({ method: 'POST', url: '/graphql', payload: { query: guesses[0] } })
  t.match(suggested.json().errors[0].message, /Did you mean "pingOne"\?/, 'where introspection is public anyway, suggestions stay')
})

t.test('GraphQL answers every refusal code with its HTTP status and the code as reason', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startIssuer(t)
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
    bearer(issuer.sign(issuer.sessionClaims(claims), { header }))
  const cases: Record<Exclude<RefusalCode, 'issuer_unavailable' | 'clerk_api_unavailable' | 'session_revoked'>, Record<string, string>> = {
    token_missing: {},
    token_scheme_invalid: { authorization: 'Basic YTpi' },
    token_malformed: bearer('a.b'),
    token_header_invalid: sign({}, { jku: 'https://evil.example' }),
    token_algorithm_invalid: bearer(forgeToken({ alg: 'none', kid: key.publicJwk.kid }, issuer.sessionClaims())),
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
    token_revoked: bearer(api.apiKey({ revoked: true })),
    token_unknown: bearer('ak_never_issued')
  }
  // session_revoked needs a webhook first: test/service/revocation.test.ts asks GraphQL for it
  t.same(Object.keys(cases).sort(), Object.keys(refusalTexts).filter((code) => !code.endsWith('_unavailable') && code !== 'session_revoked').sort(), 'every 401 code but session_revoked')
  for (const [code, headers] of Object.entries(cases)) {
    const response = await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ pingOne(id: "1") }' }, headers })
    t.equal(response.statusCode, 401, code)
    t.match(response.json(), { data: null, errors: [{ message: refusalTexts[code as RefusalCode].message, extensions: { code: 'UNAUTHENTICATED', reason: code } }] })
  }
  api.backendApiFault = 'error'
  const unavailable = await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ pingOne(id: "1") }' }, headers: bearer(api.apiKey()) })
  t.equal(unavailable.statusCode, 503)
  t.equal(unavailable.headers['retry-after'], '5')
  t.match(unavailable.json(), { data: null, errors: [{ message: refusalTexts.clerk_api_unavailable.message, extensions: { code: 'SERVICE_UNAVAILABLE', reason: 'clerk_api_unavailable' } }] })
})

t.test('greeting names its caller: a user by id, a machine by its subject, anyone else as a guest', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, GRAPHQL_ACCEPTS_TOKEN: 'session_token,m2m_token' })
  const ask = async (token?: string): Promise<unknown> => (await app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    payload: { query: '{ greeting }' }
  })).json()
  t.same(await ask(issuer.sessionToken({ sub: 'user_greeted' })), { data: { greeting: 'Hello, user_greeted!' } })
  t.same(await ask(issuer.m2mToken({ machineId: 'mch_greeted' })), { data: { greeting: 'Hello, mch_greeted!' } })
  t.same(await ask(), { data: { greeting: 'Hello, guest!' } })
})
