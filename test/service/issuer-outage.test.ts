import t from 'tap'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { waitFor } from '../../plugins/clerk-auth/test/support/observe.js'
import { buildApp } from '../support/app.js'

const PING = { query: '{ pingOne(id: "1") }' }

t.test('an issuer that is down at start-up', async (t) => {
  const issuer = await startIssuer(t)
  const token = issuer.sign()
  await issuer.close()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })

  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503, 'the service starts, but is not ready')
  t.equal(ready.headers['retry-after'], '5')

  const rest = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${token}` } })
  t.equal(rest.statusCode, 503, 'a well-formed token is not the caller\'s fault: 503, not 401')
  t.equal(rest.headers['retry-after'], '5')
  t.same(rest.json(), {
    statusCode: 503,
    error: 'Service Unavailable',
    code: 'issuer_unavailable',
    message: "The issuer's signing keys cannot be fetched right now; retry shortly."
  })

  const gql = await app.inject({ method: 'POST', url: '/graphql', payload: PING, headers: { authorization: `Bearer ${token}` } })
  t.equal(gql.statusCode, 503)
  t.equal(gql.headers['retry-after'], '5')
  t.equal(gql.json().errors[0].extensions.code, 'SERVICE_UNAVAILABLE')
  t.equal(gql.json().errors[0].extensions.reason, 'issuer_unavailable')

  const noToken = await app.inject({ method: 'GET', url: '/rest-endpoints/1' })
  t.equal(noToken.statusCode, 401, 'no token is still the caller\'s fault')
  const expired = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ exp: 1 }))}` } })
  t.equal(expired.json().code, 'issuer_unavailable', 'claims are judged only after the signature, which needs the key')
})

t.test('an issuer that answers 500 or garbage gives 503', async (t) => {
  for (const mode of ['error', 'garbage'] as const) {
    const issuer = await startIssuer(t)
    issuer.jwksFault = mode
    const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
    const res = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign()}` } })
    t.equal(res.statusCode, 503, mode)
    t.equal(res.json().code, 'issuer_unavailable', mode)
  }
})

t.test('an issuer that never answers: the request gets 503 at the timeout, not a hang', async (t) => {
  const issuer = await startIssuer(t)
  issuer.jwksFault = 'hang'
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_JWKS_TIMEOUT_MS: 300 })
  const res = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign()}` } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'issuer_unavailable')
  // The answer came because the fetch was given up at the timeout, not because the issuer answered.
  await waitFor(() => issuer.abandonedJwksRequests() >= 1)
  t.equal(issuer.jwksRequests(), issuer.abandonedJwksRequests(), 'every fetch was aborted')
})

t.test('an issuer that comes back: the service becomes ready without a restart', async (t) => {
  const issuer = await startIssuer(t)
  issuer.jwksFault = 'error'
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 503)
  issuer.jwksFault = undefined
  await waitFor(() => app.clerkAuth.isReady(), 5000)
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200)
  const res = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign()}` } })
  t.equal(res.statusCode, 200)
})
