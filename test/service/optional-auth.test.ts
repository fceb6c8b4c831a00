// Optional sign-in: no token runs the handler with no caller; a token that is sent must be valid.
import Fastify from 'fastify'
import { buildSchema } from 'graphql'
import t from 'tap'
import clerkAuth from '../../plugins/clerk-auth/index.js'
import { authDirectiveTypeDefs, optionalAuthFields } from '../../plugins/graphql/auth-directive.js'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { bearer, forgeToken } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp } from '../support/app.js'
import { freePort } from '../support/loopback.js'
import { metricValue, readMetrics } from '../support/metrics.js'

const graphql = (query: string, headers: Record<string, string> = {}) => ({ method: 'POST' as const, url: '/graphql', headers, payload: { query } })

t.test('REST: a guest is greeted, a caller by name, and a bad token is refused as anywhere', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, METRICS_PORT: await freePort() })
  const guest = await app.inject({ method: 'GET', url: '/greeting' })
  t.equal(guest.statusCode, 200)
  t.equal(guest.body, 'Hello, guest!')
  t.equal((await app.inject({ method: 'GET', url: '/greeting', headers: bearer(issuer.sign()) })).body, 'Hello, user_test!')
  t.equal((await app.inject({ method: 'GET', url: '/greeting', headers: { cookie: `__session=${issuer.sign()}` } })).body, 'Hello, user_test!', 'the cookie too')
  t.equal((await app.inject({ method: 'GET', url: '/greeting', headers: { cookie: 'theme=dark' } })).body, 'Hello, guest!', 'other cookies are no token')
  t.equal((await app.inject({ method: 'GET', url: '/greeting', headers: { authorization: '' } })).body, 'Hello, guest!', 'an empty header is no header')

  const refusals = {
    token_expired: bearer(issuer.sign(issuer.sessionClaims({ exp: 1 }))),
    token_signature_invalid: bearer(forgeToken({ alg: 'RS256', kid: issuer.kid }, issuer.sessionClaims(), 'AAAA')),
    token_malformed: bearer('not-a-token'),
    token_scheme_invalid: { authorization: 'Basic dXNlcjpwYXNz' }
  }
  for (const [code, headers] of Object.entries(refusals)) {
    const res = await app.inject({ method: 'GET', url: '/greeting', headers })
    t.equal(res.statusCode, 401, code)
    t.equal(res.json().code, code, `${code}: a token that was sent must be valid`)
  }
  const expiredCookie = await app.inject({ method: 'GET', url: '/greeting', headers: { cookie: `__session=${issuer.sign(issuer.sessionClaims({ exp: 1 }))}` } })
  t.equal(expiredCookie.json().code, 'token_expired', 'an expired session cookie too')

  const decisions = app.clerkAuth.stats().decisions
  t.same(decisions.find((d) => d.result === 'anonymous'), { result: 'anonymous', code: 'token_missing', tokenType: 'unknown', count: 3 })
  t.equal(decisions.find((d) => d.result === 'refused' && d.code === 'token_missing')?.count ?? 0, 0, 'a guest is not a refusal')
  t.equal(metricValue(await readMetrics(app), 'clerk_auth_decisions_total', { result: 'anonymous', code: 'token_missing' }), 3)

  // A protected route still refuses the guest, counted as refused.
  t.equal((await app.inject({ method: 'GET', url: '/rest-endpoints/1' })).statusCode, 401)
  t.equal(app.clerkAuth.stats().decisions.find((d) => d.result === 'refused' && d.code === 'token_missing')?.count, 1)
})

t.test('GraphQL: an operation of @optionalAuth fields runs signed out; anything else needs a token', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  t.same((await app.inject(graphql('{ greeting }'))).json(), { data: { greeting: 'Hello, guest!' } })
  t.same((await app.inject(graphql('query { ...G } fragment G on Query { greeting }'))).json(), { data: { greeting: 'Hello, guest!' } }, 'through fragments')
  t.same((await app.inject(graphql('{ greeting __typename }'))).json(), { data: { greeting: 'Hello, guest!', __typename: 'Query' } }, 'with public introspection')
  t.same((await app.inject(graphql('{ greeting }', bearer(issuer.sign())))).json(), { data: { greeting: 'Hello, user_test!' } })

  const mixed = await app.inject(graphql('{ greeting pingOne(id: "1") }'))
  t.equal(mixed.statusCode, 401, 'a field that needs sign-in makes the whole operation need it')
  t.equal(mixed.json().errors[0].extensions.reason, 'token_missing')
  const spread = await app.inject(graphql('{ greeting ...on Query { me { userId } } }'))
  t.equal(spread.statusCode, 401, 'through inline fragments too')

  const expired = await app.inject(graphql('{ greeting }', bearer(issuer.sign(issuer.sessionClaims({ exp: 1 })))))
  t.equal(expired.statusCode, 401)
  t.equal(expired.json().errors[0].extensions.reason, 'token_expired', 'a token that was sent must be valid')
  t.equal(app.clerkAuth.stats().decisions.find((d) => d.result === 'anonymous')?.count, 3, 'guests counted as anonymous')
})

t.test('GraphQL without public introspection: optional fields still run signed out, introspection does not', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, GRAPHQL_PUBLIC_INTROSPECTION: 'false' })
  t.same((await app.inject(graphql('{ greeting }'))).json(), { data: { greeting: 'Hello, guest!' } })
  t.equal((await app.inject(graphql('{ greeting __typename }'))).statusCode, 401)
  t.equal((await app.inject(graphql('{ __schema { queryType { name } } }'))).statusCode, 401)
})

t.test('@optionalAuth belongs on Query fields only', async (t) => {
  const schema = buildSchema(`${authDirectiveTypeDefs} type Query { a: String @optionalAuth, b: String, c: Thing } type Thing { x: String }`)
  t.same([...optionalAuthFields(schema)], ['a'])
  const misplaced = buildSchema(`${authDirectiveTypeDefs} type Query { a: String } type Thing { x: String @optionalAuth }`)
  t.throws(() => optionalAuthFields(misplaced), { message: 'Thing.x: @optionalAuth belongs on Query fields, where an operation starts' })
})

t.test('route declarations that cannot hold together stop start-up', async (t) => {
  const issuer = await startIssuer(t)
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ optionalAuth: true, public: true }, /a public route cannot declare config.auth, config.acceptsToken or config.optionalAuth/],
    [{ optionalAuth: true, auth: { role: 'admin' } }, /config.auth asks something of every caller/],
    [{ optionalAuth: 'yes' }, /config.optionalAuth must be true or false/]
  ]
  for (const [config, message] of cases) {
    const app = Fastify()
    t.teardown(async () => await app.close())
    await app.register(clerkAuth, { issuer: issuer.url })
    t.throws(() => app.get('/x', { config }, async () => 'x'), { message }, JSON.stringify(config))
  }
  const app = Fastify()
  t.teardown(async () => await app.close())
  await app.register(clerkAuth, { issuer: issuer.url })
  app.get('/x', { config: { optionalAuth: true, acceptsToken: ['session_token', 'm2m_token'] } }, async (request) => request.auth?.tokenType ?? 'guest')
  t.equal((await app.inject({ method: 'GET', url: '/x' })).body, 'guest', 'optional with the kinds of token it accepts')
  t.equal((await app.inject({ method: 'GET', url: '/x', headers: bearer(issuer.sign()) })).body, 'session_token')
})
