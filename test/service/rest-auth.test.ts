import t from 'tap'
import { startIssuer, testKeys } from '../../plugins/clerk-auth/test/support/issuer.js'
import { forgeToken, hs256WithPublicKey } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp } from '../support/app.js'

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

t.test('REST authentication against a real JWKS issuer', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url }, {
    extend: (app) => app.get('/whoami', async (request) => request.auth)
  })
  const [key, otherKey] = testKeys()

  const get = async (headers: Record<string, string>, url = '/rest-endpoints/12345') =>
    await app.inject({ method: 'GET', url, headers })

  t.test('a valid bearer token passes and gets the seed text', async (t) => {
    const res = await get({ authorization: `Bearer ${issuer.sign()}` })
    t.equal(res.statusCode, 200)
    t.equal(res.body, 'REST Ping #12345!')
  })

  t.test('the scheme is case-insensitive', async (t) => {
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      const res = await get({ authorization: `${scheme} ${issuer.sign()}` })
      t.equal(res.statusCode, 200, scheme)
    }
  })

  t.test('the __session cookie carries a token when there is no header', async (t) => {
    const res = await get({ cookie: `theme=dark; __session=${issuer.sign()}; other=1` })
    t.equal(res.statusCode, 200)
    t.equal(res.body, 'REST Ping #12345!')
  })

  t.test('the header wins over the cookie', async (t) => {
    const res = await get({ authorization: 'Bearer not.a-token.x', cookie: `__session=${issuer.sign()}` })
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'token_malformed')
  })

  t.test('request.auth says who is calling', async (t) => {
    const res = await get({ authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ sub: 'user_42', sid: 'sess_42' }))}` }, '/whoami')
    t.equal(res.statusCode, 200)
    const auth = res.json()
    t.equal(auth.userId, 'user_42')
    t.equal(auth.sessionId, 'sess_42')
    t.equal(auth.claims.iss, issuer.url)
  })

  const now = nowSeconds()
  const refusals: Array<[string, Record<string, string>, string]> = [
    ['no token at all', {}, 'token_missing'],
    ['an empty bearer', { authorization: 'Bearer' }, 'token_missing'],
    ['an empty cookie', { cookie: '__session=' }, 'token_missing'],
    ['another scheme', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, 'token_scheme_invalid'],
    ['a token without the scheme', { authorization: issuer.sign() }, 'token_scheme_invalid'],
    ['two segments', { authorization: 'Bearer abc.def' }, 'token_malformed'],
    ['junk characters', { authorization: 'Bearer a$b.c%d.e' }, 'token_malformed'],
    ['segments that are not JSON', { authorization: 'Bearer aaaa.bbbb.cccc' }, 'token_malformed'],
    ['a payload that is not an object', { authorization: `Bearer ${forgeToken({ alg: 'RS256', kid: 'ins_not_an_object' }, 42 as never, 'c2ln')}` }, 'token_malformed'],
    ['a huge token', { authorization: `Bearer ${'a'.repeat(9000)}.${'b'.repeat(9000)}.c` }, 'token_malformed'],
    ['an expired token', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ exp: now - 10, iat: now - 70, nbf: now - 70 }))}` }, 'token_expired'],
    ['nbf beyond the skew', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ nbf: now + 30 }))}` }, 'token_not_yet_valid'],
    ['iat beyond the skew', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ iat: now + 30 }))}` }, 'token_issued_in_future'],
    ['another issuer', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ iss: 'https://evil.clerk.accounts.dev' }))}` }, 'token_issuer_invalid'],
    ['the issuer with a trailing slash', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ iss: `${issuer.url}/` }))}` }, 'token_issuer_invalid'],
    ['another key under the same kid', { authorization: `Bearer ${issuer.sign(undefined, { key: otherKey, header: { kid: key.publicJwk.kid } })}` }, 'token_signature_invalid'],
    ['an unknown kid', { authorization: `Bearer ${issuer.sign(undefined, { header: { kid: 'ins_unknown' } })}` }, 'token_key_unknown'],
    ['no kid', { authorization: `Bearer ${issuer.sign(undefined, { header: { kid: undefined } })}` }, 'token_key_unknown'],
    ['alg none', { authorization: `Bearer ${forgeToken({ alg: 'none', typ: 'JWT', kid: key.publicJwk.kid }, issuer.sessionClaims())}` }, 'token_algorithm_invalid'],
    ['HS256 signed with the RSA public key', { authorization: `Bearer ${hs256WithPublicKey(key, issuer.sessionClaims())}` }, 'token_algorithm_invalid'],
    ['RS512', { authorization: `Bearer ${issuer.sign(undefined, { header: { alg: 'RS512' } })}` }, 'token_algorithm_invalid'],
    ['a jwk in the header', { authorization: `Bearer ${issuer.sign(undefined, { header: { jwk: key.publicJwk } })}` }, 'token_header_invalid'],
    ['a jku in the header', { authorization: `Bearer ${issuer.sign(undefined, { header: { jku: 'https://evil.example/jwks.json' } })}` }, 'token_header_invalid'],
    ['an x5u in the header', { authorization: `Bearer ${issuer.sign(undefined, { header: { x5u: 'https://evil.example/cert.pem' } })}` }, 'token_header_invalid'],
    ['an x5c in the header', { authorization: `Bearer ${issuer.sign(undefined, { header: { x5c: ['MIIB'] } })}` }, 'token_header_invalid'],
    ['an unknown crit entry', { authorization: `Bearer ${issuer.sign(undefined, { header: { crit: ['exp'], exp: 1 } })}` }, 'token_header_invalid'],
    ['a typ other than JWT', { authorization: `Bearer ${issuer.sign(undefined, { header: { typ: 'JWS' } })}` }, 'token_header_invalid'],
    ['no sid', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ sid: undefined }))}` }, 'token_claims_invalid'],
    ['no sub', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ sub: undefined }))}` }, 'token_claims_invalid'],
    ['an empty sub', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ sub: '' }))}` }, 'token_claims_invalid'],
    ['no exp', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ exp: undefined }))}` }, 'token_claims_invalid'],
    ['no iat', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ iat: undefined }))}` }, 'token_claims_invalid'],
    ['a string exp', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ exp: String(now + 60) }))}` }, 'token_claims_invalid'],
    ['no iss', { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ iss: undefined }))}` }, 'token_claims_invalid']
  ]

  /** The kid in the header of the token sent, if it has one. */
  const kidOf = (token: string | undefined): unknown => {
    try {
      return JSON.parse(Buffer.from(token?.split('.')[0] ?? '', 'base64url').toString()).kid
    } catch {
      return undefined
    }
  }
  t.equal(kidOf(issuer.sign(undefined, { header: { kid: 'ins_unknown' } })), 'ins_unknown')

  for (const [name, headers, code] of refusals) {
    t.test(`refuses ${name} with ${code}`, async (t) => {
      const res = await get(headers)
      t.equal(res.statusCode, 401)
      const body = res.json()
      t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'])
      t.equal(body.statusCode, 401)
      t.equal(body.error, 'Unauthorized')
      t.equal(body.code, code)
      t.match(res.headers['content-type'], /^application\/json/)
      const challenge = res.headers['www-authenticate'] as string
      t.match(challenge, /^Bearer realm="api"/)
      const tokenSent = !['token_missing', 'token_scheme_invalid'].includes(code)
      t.equal(challenge.includes('error="invalid_token"'), tokenSent, 'RFC 6750 error only when a bearer token was sent')
      if (tokenSent) t.match(challenge, /error_description="[^"]+"/)
      const token = headers.authorization?.split(' ')[1]
      for (const kid of new Set([key.publicJwk.kid, kidOf(token)])) {
        if (typeof kid === 'string') t.notOk(res.body.includes(kid), `no key id in the body (${kid})`)
      }
      t.notMatch(res.body, /at .*\.(?:js|ts):\d+/, 'no stack trace')
      if (token !== undefined && token.length > 10) t.notOk(res.body.includes(token), 'no token in the body')
    })
  }

  t.test('a token expired but within the clock skew still passes', async (t) => {
    const res = await get({ authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ exp: nowSeconds() - 2 }))}` })
    t.equal(res.statusCode, 200)
  })

  t.test('nbf and iat within the skew pass', async (t) => {
    const res = await get({ authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ nbf: nowSeconds() + 2, iat: nowSeconds() + 2 }))}` })
    t.equal(res.statusCode, 200)
  })

  t.test('unknown routes are protected too, so they cannot be probed without a token', async (t) => {
    t.equal((await get({}, '/nope')).statusCode, 401)
    t.equal((await get({ authorization: `Bearer ${issuer.sign()}` }, '/nope')).statusCode, 404)
  })

  t.test('/health and /ready are public', async (t) => {
    const health = await get({}, '/health')
    t.equal(health.statusCode, 200)
    t.same(health.json(), { status: 'ok' })
    const ready = await get({}, '/ready')
    t.equal(ready.statusCode, 200)
    t.same(ready.json(), { status: 'ready' })
  })

  t.test('/favicon.ico, which every browser asks for, is 204 without a token rather than 401', async (t) => {
    const icon = await get({}, '/favicon.ico')
    t.equal(icon.statusCode, 204)
    t.equal(icon.body, '')
    t.match(icon.headers['cache-control'], /max-age=\d+/)
  })

  t.test('the REST check runs before the body is read', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/rest-endpoints/1', payload: '{"broken json', headers: { 'content-type': 'application/json' } })
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'token_missing')
  })
})

t.test('an allow-list of authorized parties', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_AUTHORIZED_PARTIES: 'https://app.example.com, http://localhost:3000/' })
  const call = async (claims: Record<string, unknown>) =>
    await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign(issuer.sessionClaims(claims))}` } })

  t.equal((await call({ azp: 'https://app.example.com' })).statusCode, 200)
  t.equal((await call({ azp: 'http://localhost:3000' })).statusCode, 200, 'a trailing slash in the setting is tolerated')
  const outside = await call({ azp: 'https://evil.example.com' })
  t.equal(outside.statusCode, 401)
  t.equal(outside.json().code, 'token_unauthorized_party')
  t.notMatch(outside.body, 'app.example.com', 'the allow-list is not revealed')
  const missing = await call({ azp: undefined })
  t.equal(missing.statusCode, 401)
  t.equal(missing.json().code, 'token_unauthorized_party')
})

t.test('without an allow-list any azp passes', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: `${issuer.url}/` })
  const res = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ azp: undefined }))}` } })
  t.equal(res.statusCode, 200, 'and a trailing slash on CLERK_ISSUER_URL is tolerated')
})

t.test('a configured clock skew of zero refuses a token that just expired', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_CLOCK_SKEW_MS: 0 })
  const res = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ exp: nowSeconds() - 1 }))}` } })
  t.equal(res.json().code, 'token_expired')
})

t.test('act as an array gets 401 on /me, not 500', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const response = await app.inject({ url: '/me', headers: { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ act: ['user_actor'] }))}` } })
  t.equal(response.statusCode, 401)
  t.equal(response.json().code, 'token_claims_invalid')
})

t.test('an empty Authorization header leaves the cookie to speak', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const token = issuer.sign()
  const withCookie = await app.inject({ url: '/rest-endpoints/7', headers: { authorization: '', cookie: `__session=${token}` } })
  t.equal(withCookie.statusCode, 200)
  t.equal(withCookie.body, 'REST Ping #7!')
  const without = await app.inject({ url: '/rest-endpoints/7', headers: { authorization: '' } })
  t.equal(without.json().code, 'token_missing')
})

t.test('tokens Clerk signs with the same key but that are not sessions get token_type_not_accepted on a sessions-only route', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const kinds: Record<string, string> = {
    'a JWT-template token (cat 222AAA)': issuer.sign(issuer.sessionClaims({ sid: undefined }), { header: { cat: 'cl_B7d4PD222AAA' } }),
    'an M2M JWT (cat 333AAA)': issuer.sign(issuer.sessionClaims({ sub: 'mch_1', sid: undefined }), { header: { cat: 'cl_B7d4PD333AAA' } }),
    'an M2M JWT from before the category (sub mch_)': issuer.sign(issuer.sessionClaims({ sub: 'mch_1', sid: undefined })),
    'an OAuth access token (typ at+jwt)': issuer.sign(issuer.sessionClaims({ sid: undefined }), { header: { typ: 'at+jwt' } }),
    'an OAuth access token (typ application/at+jwt)': issuer.sign(issuer.sessionClaims({ sid: undefined }), { header: { typ: 'application/at+jwt' } })
  }
  for (const [name, token] of Object.entries(kinds)) {
    for (const headers of [{ authorization: `Bearer ${token}` }, { cookie: `__session=${token}` }]) {
      const response = await app.inject({ url: '/rest-endpoints/1', headers })
      t.equal(response.statusCode, 401, name)
      t.equal(response.json().code, 'token_type_not_accepted', `${name} in the ${Object.keys(headers)[0] as string}`)
    }
  }
  for (const header of [{ cat: 'cl_I7d4PD111III' }, { cat: 'cl_B7d4PD111AAA' }, {}]) {
    const response = await app.inject({ url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign(undefined, { header })}` } })
    t.equal(response.statusCode, 200, `a session with ${JSON.stringify(header)} in its header`)
  }
})
