import Fastify from 'fastify'
import { getIntrospectionQuery } from 'graphql'
import t from 'tap'
import graphql from '../plugins/graphql/index.js'
import { buildApp, forgeToken, hs256WithPublicKey, logLines, startIssuer, testKeys } from './helper.js'

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

  t.test('GET /graphql with a token', async (t) => {
    const res = await app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent(PING)}`, headers: { authorization: `Bearer ${issuer.sign()}` } })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { data: { pingOne: 'GraphQL Ping #7!' } })
  })

  const now = Math.floor(Date.now() / 1000)
  const refusals: Array<[string, Record<string, string>, string]> = [
    ['no token', {}, 'token_missing'],
    ['a foreign key', { authorization: `Bearer ${issuer.sign(undefined, { key: otherKey, header: { kid: key.publicJwk.kid } })}` }, 'token_signature_invalid'],
    ['an expired token', { authorization: `Bearer ${issuer.sign(issuer.claims({ exp: now - 30 }))}` }, 'token_expired'],
    ['another issuer', { authorization: `Bearer ${issuer.sign(issuer.claims({ iss: 'https://other.example' }))}` }, 'token_issuer_invalid'],
    ['alg none', { authorization: `Bearer ${forgeToken({ alg: 'none', kid: key.publicJwk.kid }, issuer.claims())}` }, 'token_algorithm_invalid'],
    ['HS256 confusion', { authorization: `Bearer ${hs256WithPublicKey(key, issuer.claims())}` }, 'token_algorithm_invalid'],
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
  await t.rejects(async () => await app.register(graphql).ready(), /dependency 'clerk-auth' of plugin 'graphql'/)
})

t.test('a refused operation is logged at debug with its code, never its token', async (t) => {
  const issuer = await startIssuer(t)
  const { lines, stream } = logLines()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, LOG_LEVEL: 'debug' }, { logger: { level: 'debug', stream } })
  const expired = issuer.sign(issuer.claims({ exp: 1 }))
  const res = await app.inject({ method: 'POST', url: '/graphql', payload: { query: PING }, headers: { authorization: `Bearer ${expired}` } })
  t.equal(res.statusCode, 401)
  const refused = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'operation refused')
  t.match(refused, [{ level: 20, code: 'token_expired' }])
  t.notOk(lines.some((line) => line.includes(expired.split('.')[2] as string)))
})
