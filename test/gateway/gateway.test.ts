// Gateway mode: /auth/verify answers nginx, Traefik and Envoy about the requests they hold.
// Through app.inject with real tokens from a real issuer; the real-nginx test is gateway-nginx.test.ts.
import Fastify from 'fastify'
import t from 'tap'
import { forwardAuth } from '../../plugins/clerk-auth/index.js'
import { m2mClaims, m2mHeader } from '../../plugins/clerk-auth/testing/index.js'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { logLines, testClock } from '../../plugins/clerk-auth/test/support/observe.js'
import { bearer } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp } from '../support/app.js'

// A member of acme holding org:pings:read (v2 claims: bit 0 of the pings feature's mask).
const member = { v: 2, fea: 'o:pings', o: { id: 'org_acme', rol: 'member', slg: 'acme', per: 'read,manage', fpm: '1' } }

t.test('forward-auth answers with the identity, the refusal or the 403', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const ask = async (url: string, headers: Record<string, string> = {}, method: 'GET' | 'POST' | 'HEAD' | 'PUT' | 'OPTIONS' | 'PATCH' | 'DELETE' = 'GET') =>
    await app.inject({ method, url, headers })

  t.test('a valid session: 200, no body, the identity as headers', async (t) => {
    const res = await ask('/auth/verify', bearer(issuer.sign(issuer.sessionClaims({ sub: 'user_42', sid: 'sess_42' }))))
    t.equal(res.statusCode, 200)
    t.equal(res.body, '')
    t.equal(res.headers['x-clerk-user-id'], 'user_42')
    t.equal(res.headers['x-clerk-session-id'], 'sess_42')
    t.equal(res.headers['x-clerk-token-type'], 'session_token')
    t.notOk('x-clerk-org-id' in res.headers, 'no organization, no organization headers')
    t.notOk('x-clerk-refusal' in res.headers)
  })

  t.test('the organization comes as headers; the __session cookie carries the token too', async (t) => {
    const res = await ask('/auth/verify', { cookie: `__session=${issuer.sign(issuer.sessionClaims(member))}` })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-clerk-org-id'], 'org_acme')
    t.equal(res.headers['x-clerk-org-role'], 'org:member')
    t.equal(res.headers['x-clerk-org-slug'], 'acme')
  })

  t.test('every method and any body: the gateway forwards what it holds, the body is never read', async (t) => {
    const token = issuer.sign()
    for (const method of ['POST', 'PUT', 'HEAD', 'OPTIONS', 'PATCH', 'DELETE'] as const) {
      t.equal((await ask('/auth/verify', bearer(token), method)).statusCode, 200, method)
      t.equal((await ask('/auth/verify', {}, method)).statusCode, 401, `${method} without a token`)
    }
    const withBody = await app.inject({ method: 'POST', url: '/auth/verify', headers: { ...bearer(token), 'content-type': 'application/json' }, payload: '{not json' })
    t.equal(withBody.statusCode, 200, 'a body that is not JSON is not parsed')
    const empty = await app.inject({ method: 'POST', url: '/auth/verify', headers: { ...bearer(token), 'content-type': 'application/json', 'content-length': '0' } })
    t.equal(empty.statusCode, 200, 'an empty JSON body (Envoy forwards the method and headers) is no error')
  })

  t.test('no token: the 401 with its code, WWW-Authenticate, and the body again in X-Clerk-Refusal', async (t) => {
    const res = await ask('/auth/verify')
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'token_missing')
    t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
    t.same(JSON.parse(res.headers['x-clerk-refusal'] as string), res.json(), 'nginx answers the client with this header')
    t.notOk('x-clerk-user-id' in res.headers)
    const head = await ask('/auth/verify', {}, 'HEAD')
    t.equal(head.statusCode, 401)
    t.equal(head.body, '', 'HEAD (nginx asks with it): no body')
    t.same(JSON.parse(head.headers['x-clerk-refusal'] as string), res.json(), 'the refusal in the header all the same')
  })

  t.test('a requirement in the query: met, or 403 forbidden with what is missing', async (t) => {
    const url = '/auth/verify?permission=org:pings:read'
    t.equal((await ask(url, bearer(issuer.sign(issuer.sessionClaims(member))))).statusCode, 200)
    const res = await ask(url, bearer(issuer.sign()))
    t.equal(res.statusCode, 403)
    t.match(res.json(), { code: 'forbidden', missing: { permission: 'org:pings:read' } })
    t.same(JSON.parse(res.headers['x-clerk-refusal'] as string), res.json())
    t.equal((await ask('/auth/verify?role=org:admin&permission=org:pings:read', bearer(issuer.sign(issuer.sessionClaims(member))))).json().message,
      'This needs role org:admin.', 'each parameter must hold')
  })

  t.test('reverification as a preset or level:minutes', async (t) => {
    const recent = bearer(issuer.sign(issuer.sessionClaims({ fva: [5, 5] })))
    const stale = bearer(issuer.sign(issuer.sessionClaims({ fva: [50, 50] })))
    t.equal((await ask('/auth/verify?reverification=strict', recent)).statusCode, 200)
    t.equal((await ask('/auth/verify?reverification=strict', stale)).statusCode, 403)
    t.equal((await ask('/auth/verify?reverification=second_factor:60', stale)).statusCode, 200)
    t.match((await ask('/auth/verify?reverification=second_factor:30', stale)).json(), { missing: { reverification: { level: 'second_factor', afterMinutes: 30 } } })
  })

  t.test('Envoy: parameters in the segment after /auth/verify/, never from the client\'s path or query', async (t) => {
    const plain = bearer(issuer.sign())
    t.equal((await ask('/auth/verify//api/orders?x=1', plain)).statusCode, 200, 'an empty segment: no requirement')
    t.equal((await ask('/auth/verify/permission=org:pings:read/api/orders', plain)).statusCode, 403)
    t.equal((await ask('/auth/verify/permission=org:pings:read/api/orders', bearer(issuer.sign(issuer.sessionClaims(member))))).statusCode, 200)
    const widened = await ask('/auth/verify//api/orders?acceptsToken=m2m_token', bearer(issuer.sign(m2mClaims({ issuer: issuer.url, machineId: 'mch_1' }), { header: m2mHeader })))
    t.equal(widened.json().code, 'token_type_not_accepted', 'a client query cannot let a machine in')
    const narrowed = await ask('/auth/verify//api/x?permission=org:admin:all', plain)
    t.equal(narrowed.statusCode, 200, 'nor change the requirement')
    const lateSlash = await ask('/auth/verify/role=org:admin?x=/y', plain)
    t.equal(lateSlash.statusCode, 400, 'a slash in the query does not end the segment')
    t.match((await ask('/auth/verify/', plain)).json(), { statusCode: 400, message: 'After /auth/verify/ comes a segment of parameters and then the client\'s path (Envoy\'s path_prefix: "/auth/verify/<parameters>"); nginx and Traefik ask /auth/verify?<parameters>.' }, 'the path form without a client path')
    t.match((await ask('/auth/verify/api/orders', plain)).json(), { code: 'gateway_parameters_invalid', message: /unknown parameter "api"/ }, 'a path_prefix without its parameter segment fails closed')
  })

  t.test('machine callers where acceptsToken lets them in, with their subject', async (t) => {
    const m2m = bearer(issuer.sign(m2mClaims({ issuer: issuer.url, machineId: 'mch_worker' }), { header: m2mHeader }))
    t.equal((await ask('/auth/verify', m2m)).json().code, 'token_type_not_accepted', 'sessions only by default')
    const res = await ask('/auth/verify?acceptsToken=session_token,m2m_token', m2m)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-clerk-token-type'], 'm2m_token')
    t.equal(res.headers['x-clerk-machine-id'], 'mch_worker')
    t.equal(res.headers['x-clerk-subject'], 'mch_worker')
    t.notOk('x-clerk-user-id' in res.headers)
  })

  t.test('a client-sent X-Clerk-* header is refused, whatever the token, with underscores too', async (t) => {
    // CGI, WSGI and Rack map _ to -: X_Clerk_User_Id reaches such a backend as HTTP_X_CLERK_USER_ID.
    for (const name of ['x-clerk-user-id', 'X-Clerk-Org-Role', 'x-clerk-anything', 'X_Clerk_User_Id', 'X-Clerk_Org_Id', 'x_clerk-org-role', 'X_CLERK_ANYTHING']) {
      const res = await ask('/auth/verify', { ...bearer(issuer.sign()), [name]: 'user_admin' })
      t.equal(res.statusCode, 403, name)
      t.match(res.json(), { statusCode: 403, error: 'Forbidden', code: 'identity_header_sent' })
      t.match(res.json().message, name.toLowerCase())
      t.notOk('x-clerk-user-id' in res.headers)
    }
    for (const name of ['x-clerkish', 'xclerk-user-id', 'x-clerk', 'x-request-id', 'clerk-user-id', 'x-my-x-clerk-id']) {
      t.equal((await ask('/auth/verify', { ...bearer(issuer.sign()), [name]: 'user_admin' })).statusCode, 200, `${name} is not an identity header`)
    }
  })

  t.test('unusable parameters: 400 with a clear message, never an open door', async (t) => {
    const token = bearer(issuer.sign())
    const cases: Array<[string, RegExp]> = [
      ['rol=org:admin', /unknown parameter "rol" \(known: role, permission/],
      ['role=org:admin&role=org:member', /name role twice/],
      ['role=', /non-empty string for "role"/],
      ['permission', /non-empty string for "permission"/],
      ['acceptsToken=session_token,jwt', /acceptsToken that has an unknown token type "jwt"/],
      ['acceptsToken=', /acceptsToken that has an unknown token type ""/],
      ['acceptsToken=m2m_token,m2m_token', /names a token type twice/],
      ['reverification=sometimes', /invalid reverification/],
      ['reverification=second_factor:0', /invalid reverification/],
      ['reverification=third_factor:10', /invalid reverification/],
      ['reverification=xsecond_factor:10', /invalid reverification/],
      ['reverification=second_factor:10x', /invalid reverification/],
      [`role=${'x'.repeat(1100)}`, /longer than 1024 characters/]
    ]
    const longest = `role=${'x'.repeat(1019)}`
    t.equal(longest.length, 1024)
    t.equal((await ask(`/auth/verify?${longest}`, token)).json().code, 'forbidden', '1,024 characters are read')
    for (const [parameters, message] of cases) {
      const res = await ask(`/auth/verify?${parameters}`, token)
      t.equal(res.statusCode, 400, parameters.slice(0, 40))
      t.match(res.json(), { statusCode: 400, error: 'Bad Request', code: 'gateway_parameters_invalid' })
      t.match(res.json().message, message)
      t.match(res.json().message, /^The forward-auth parameters /)
    }
  })

  t.test('decisions count the gateway\'s answers', async (t) => {
    const before = app.clerkAuth.stats().decisions
    const count = (list: typeof before, result: string, code: string): number => list.find((d) => d.result === result && d.code === code && d.tokenType === 'session_token')?.count ?? 0
    await ask('/auth/verify?permission=org:pings:read', bearer(issuer.sign()))
    await ask('/auth/verify', bearer(issuer.sign()))
    const after = app.clerkAuth.stats().decisions
    t.equal(count(after, 'forbidden', 'forbidden') - count(before, 'forbidden', 'forbidden'), 1)
    t.equal(count(after, 'accepted', 'ok') - count(before, 'accepted', 'ok'), 1)
  })

  t.test('the forward-auth routes stay out of the API description', async (t) => {
    const paths = Object.keys((await ask('/docs/json')).json().paths)
    t.notOk(paths.some((path) => path.startsWith('/auth')), paths.join(' '))
  })
})

t.test('opaque machine credentials through the gateway: API keys and OAuth tokens, verified by Clerk', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_SECRET_KEY: api.secretKey, CLERK_API_URL: api.url })
  const url = '/auth/verify?acceptsToken=api_key,oauth_token&scope=pings:read'
  const apiKey = await app.inject({ url, headers: bearer(api.apiKey({ subject: 'org_acme', scopes: ['pings:read'] })) })
  t.equal(apiKey.statusCode, 200)
  t.equal(apiKey.headers['x-clerk-org-id'], 'org_acme')
  t.equal(apiKey.headers['x-clerk-subject'], 'org_acme')
  t.notOk('x-clerk-user-id' in apiKey.headers)
  const oauth = await app.inject({ url, headers: bearer(api.opaqueOAuthToken({ subject: 'user_7', clientId: 'client_cli', scopes: ['pings:read'] })) })
  t.equal(oauth.headers['x-clerk-user-id'], 'user_7')
  t.equal(oauth.headers['x-clerk-client-id'], 'client_cli')
  t.equal(oauth.headers['x-clerk-token-type'], 'oauth_token')
  const withoutClient = await app.inject({ url, headers: bearer(api.opaqueOAuthToken({ subject: 'user_8', clientId: '', scopes: ['pings:read'] })) })
  t.equal(withoutClient.statusCode, 200)
  t.notOk('x-clerk-client-id' in withoutClient.headers, 'an empty field is left out')
  const unscoped = await app.inject({ url, headers: bearer(api.apiKey({ subject: 'user_9', scopes: [] })) })
  t.match(unscoped.json(), { code: 'forbidden', missing: { scope: 'pings:read' } })
})

t.test('the issuer unreachable before any key: 503 with Retry-After, as a refusal the gateway can pass on', async (t) => {
  const issuer = await startIssuer(t)
  issuer.jwksFault = 'error'
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const res = await app.inject({ url: '/auth/verify', headers: bearer(issuer.sign()) })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '5')
  t.equal(JSON.parse(res.headers['x-clerk-refusal'] as string).code, 'issuer_unavailable')
})

t.test('identity values outside visible ASCII or with a % arrive percent-encoded, each telling its own value; refusal bodies in the header are ASCII', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const claims = issuer.sessionClaims({ ...member, o: { ...member.o, slg: 'café acme' } })
  const res = await app.inject({ url: '/auth/verify', headers: bearer(issuer.sign(claims)) })
  t.equal(res.headers['x-clerk-org-slug'], 'caf%C3%A9%20acme')
  const slugs = ['café', 'caf%C3%A9', '100%', 'plain-slug_1']
  const sent: string[] = []
  for (const slg of slugs) {
    const answer = await app.inject({ url: '/auth/verify', headers: bearer(issuer.sign(issuer.sessionClaims({ ...member, o: { ...member.o, slg } }))) })
    sent.push(answer.headers['x-clerk-org-slug'] as string)
  }
  t.same(sent, ['caf%C3%A9', 'caf%25C3%25A9', '100%25', 'plain-slug_1'], 'two slugs never arrive alike')
  t.same(sent.map(decodeURIComponent), slugs, 'decodeURIComponent gives each back')
  const forbidden = await app.inject({ url: '/auth/verify?role=org:caf%C3%A9', headers: bearer(issuer.sign(claims)) })
  t.equal(forbidden.headers['x-clerk-refusal'], '{"statusCode":403,"error":"Forbidden","code":"forbidden","message":"This needs role org:caf\\u00e9.","missing":{"role":"org:caf\\u00e9"}}')
  t.same(JSON.parse(forbidden.headers['x-clerk-refusal'] as string), forbidden.json())
})

t.test('unusable parameters are logged once each, at most ten a minute by the plugin\'s clock', async (t) => {
  const clock = testClock()
  const issuer = await startIssuer(t, { now: clock.now })
  const { lines, stream } = logLines()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url }, { now: clock.now, logger: { level: 'warn', stream } })
  const warnings = (): string[] => lines.filter((line) => line.includes('forward-auth parameters unusable'))
  const token = bearer(issuer.sign())
  for (let i = 0; i < 3; i++) await app.inject({ url: '/auth/verify?rol=org:admin', headers: token })
  t.equal(warnings().length, 1, 'the same parameters, once')
  await app.inject({ url: '/auth/verify?role=org:admin', headers: token })
  t.equal(warnings().length, 1, 'usable ones, never')
  t.match(JSON.parse(warnings()[0] as string), { parameters: 'rol=org:admin', problem: /unknown parameter "rol"/ })
  for (let i = 0; i < 15; i++) await app.inject({ url: `/auth/verify?bad${i}=1`, headers: token })
  t.equal(warnings().length, 10, 'no more than ten a minute')
  clock.advance(60_000)
  await app.inject({ url: '/auth/verify?bad_after_a_minute=1', headers: token })
  t.equal(warnings().length, 11, 'a minute later, again')
  clock.advance(60_000)
  const long = `role=${'x'.repeat(1100)}`
  for (let i = 0; i < 2; i++) t.equal((await app.inject({ url: `/auth/verify?${long}`, headers: token })).statusCode, 400)
  t.equal(warnings().length, 13, 'an over-long string is not kept: each sight is logged, within the ten a minute')
  t.equal(JSON.parse(warnings()[12] as string).parameters.length, 200, 'and cut short in the log')
  t.notOk(lines.some((line) => line.includes((token.authorization as string).slice(7))), 'no token in the log')
})

t.test('forwardAuth without clerk-auth fails at start-up, saying so', async (t) => {
  const app = Fastify()
  app.register(forwardAuth, { prefix: '/auth/verify' })
  await t.rejects(async () => await app.ready(), /forwardAuth needs clerk-auth: register it first/)
  await app.close()
})

t.test('a refusal ends the request: no handler runs after it, nothing is logged about it', async (t) => {
  const issuer = await startIssuer(t)
  const { lines, stream } = logLines()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url }, {
    logger: { level: 'warn', stream },
    extend: (app) => app.get('/who', { config: { public: true } }, async (request) => {
      const verdict = await app.clerkAuth.authenticate(request)
      return { verdict: typeof verdict === 'string' ? verdict : 'caller', auth: request.auth === null ? null : 'set' }
    })
  })
  // the key lookup of an unpublished kid answers with a promise; the others synchronously
  const unknownKid = bearer(issuer.sign(undefined, { header: { kid: 'ins_unpublished' } }))
  for (const url of ['/auth/verify', '/auth/verify?permission=org:x:read', '/rest-endpoints/1', '/org-pings/1']) {
    for (const headers of [{}, unknownKid, bearer(issuer.sign())]) {
      const res = await app.inject({ url, headers })
      t.ok([200, 401, 403].includes(res.statusCode), `${url}: ${res.statusCode}`)
    }
  }
  t.same(lines.filter((line) => JSON.parse(line).level >= 40), [], 'no "reply already sent", no handler error')
  t.same((await app.inject({ url: '/who' })).json(), { verdict: 'token_missing', auth: null }, 'authenticate() leaves request.auth null on a refusal')
  t.same((await app.inject({ url: '/who', headers: bearer(issuer.sign()) })).json(), { verdict: 'caller', auth: 'set' })
})
