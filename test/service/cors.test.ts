// Browsers on other origins: preflights answered before authentication, refusals a page can read,
// exact origins only, and the settings that choose them.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { InjectOptions } from 'fastify'
import t from 'tap'
import { originMatcher } from '../../plugins/cors/index.js'
import { corsSetting } from '../../src/settings.js'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { logLines } from '../../plugins/clerk-auth/test/support/observe.js'
import { bearer } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp } from '../support/app.js'
import { freePort } from '../support/loopback.js'
import { metricValue, readMetrics } from '../support/metrics.js'

const FRONTEND = 'https://app.example.com'
const OTHER = 'https://evil.example.net'

const preflight = (origin: string, url = '/graphql', method = 'POST'): InjectOptions => ({
  method: 'OPTIONS',
  url,
  headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization,content-type' }
})

const CORS_HEADERS = ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers', 'access-control-allow-methods', 'access-control-allow-headers']

t.test('a preflight from a listed origin is answered 204 before authentication, on every route', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CORS_ORIGINS: `${FRONTEND},http://localhost:3001`, METRICS_PORT: await freePort() })
  for (const url of ['/graphql', '/rest-endpoints/1', '/org-pings/1', '/me', '/greeting', '/no-such-route']) {
    const res = await app.inject(preflight(FRONTEND, url))
    t.equal(res.statusCode, 204, url)
    t.equal(res.headers['access-control-allow-origin'], FRONTEND, `${url}: the origin reflected, never *`)
    t.equal(res.headers['access-control-allow-credentials'], 'true')
    t.match(res.headers['access-control-allow-headers'], /(^|, )authorization(,|$)/)
    t.match(res.headers['access-control-allow-headers'], /(^|, )content-type(,|$)/)
    t.match(res.headers['access-control-allow-methods'], /POST/)
    t.equal(res.headers['access-control-max-age'], '7200', 'browsers need not preflight every call')
    t.match(res.headers.vary, /Origin/)
    t.equal(res.body, '')
  }
  t.same(app.clerkAuth.stats().verdicts, [], 'no preflight reached the verifier')
  t.same(app.clerkAuth.stats().decisions, [])
  t.equal(metricValue(await readMetrics(app), 'clerk_auth_decisions_total', {}), 0, 'metrics show no decision')
})

t.test('refusals to a listed origin carry the CORS headers and expose the challenge', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CORS_ORIGINS: FRONTEND })
  const origin = { origin: FRONTEND }
  const answers = {
    'no token (REST)': await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: origin }),
    'expired token': await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { ...origin, ...bearer(issuer.sign(issuer.sessionClaims({ exp: 1 }))) } }),
    'no token (GraphQL)': await app.inject({ method: 'POST', url: '/graphql', headers: origin, payload: { query: '{ pingOne(id: "1") }' } }),
    'missing permission': await app.inject({ method: 'GET', url: '/org-pings/1', headers: { ...origin, ...bearer(issuer.sign()) } }),
    'body too large': await app.inject({ method: 'POST', url: '/graphql', headers: { ...origin, 'content-type': 'application/json' }, payload: `{"query":"${'x'.repeat(70_000)}"}` })
  }
  t.equal(answers['no token (REST)'].json().code, 'token_missing')
  t.equal(answers['expired token'].json().code, 'token_expired')
  t.equal(answers['no token (GraphQL)'].json().errors[0].extensions.reason, 'token_missing')
  t.equal(answers['missing permission'].statusCode, 403)
  t.equal(answers['body too large'].statusCode, 413)
  for (const [name, res] of Object.entries(answers)) {
    t.equal(res.headers['access-control-allow-origin'], FRONTEND, `${name}: the page may read it`)
    t.equal(res.headers['access-control-allow-credentials'], 'true', name)
    t.match(res.headers.vary, /Origin/, name)
  }
  const exposed = String(answers['no token (REST)'].headers['access-control-expose-headers']).toLowerCase().split(/,\s*/)
  t.ok(exposed.includes('www-authenticate'), 'WWW-Authenticate is exposed')
  t.ok(exposed.includes('retry-after'), 'Retry-After is exposed')
  t.equal(answers['no token (REST)'].headers['www-authenticate'], 'Bearer realm="api"')

  const ok = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { ...origin, ...bearer(issuer.sign()) } })
  t.equal(ok.body, 'REST Ping #1!')
  t.equal(ok.headers['access-control-allow-origin'], FRONTEND)
})

t.test('a 503 with Retry-After reaches the page too', async (t) => {
  const issuer = await startIssuer(t)
  issuer.jwksFault = 'error'
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CORS_ORIGINS: FRONTEND })
  const res = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { origin: FRONTEND, ...bearer(issuer.sign()) } })
  t.equal(res.statusCode, 503)
  t.ok(res.headers['retry-after'])
  t.equal(res.headers['access-control-allow-origin'], FRONTEND)
})

t.test('cookie mode: a listed origin with credentials gets Allow-Credentials and its own origin', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CORS_ORIGINS: FRONTEND })
  const res = await app.inject({ method: 'GET', url: '/rest-endpoints/5', headers: { origin: FRONTEND, cookie: `__session=${issuer.sign()}` } })
  t.equal(res.body, 'REST Ping #5!')
  t.equal(res.headers['access-control-allow-origin'], FRONTEND)
  t.equal(res.headers['access-control-allow-credentials'], 'true')
})

t.test('an origin that is not listed gets no CORS header, its preflight a 403, and both are counted', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CORS_ORIGINS: FRONTEND, METRICS_PORT: await freePort() })
  const refusedPreflight = await app.inject(preflight(OTHER))
  t.equal(refusedPreflight.statusCode, 403)
  t.equal(refusedPreflight.json().code, 'origin_not_allowed')
  for (const name of CORS_HEADERS) t.notOk(refusedPreflight.headers[name], `no ${name} on the preflight`)
  t.same(app.clerkAuth.stats().verdicts, [], 'the refused preflight never reached the verifier')

  const request = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { origin: OTHER, ...bearer(issuer.sign()) } })
  t.equal(request.statusCode, 200, 'the request is served: the browser, not the service, withholds it from the page')
  for (const name of CORS_HEADERS) t.notOk(request.headers[name], `no ${name} on the answer`)
  t.match(request.headers.vary, /Origin/, 'caches keep answers per origin')

  // Malformed origins are not errors: they are origins nobody listed.
  for (const origin of ['null', 'not a url', 'https://app.example.com/', 'HTTPS://APP.EXAMPLE.COM', `${FRONTEND}.evil.net`, '']) {
    const res = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { origin } })
    t.equal(res.statusCode, 401, JSON.stringify(origin))
    t.notOk(res.headers['access-control-allow-origin'], JSON.stringify(origin))
    const pre = await app.inject(preflight(origin))
    t.equal(pre.statusCode, 403, `preflight from ${JSON.stringify(origin)}`)
  }
  t.same(app.cors.refusedOrigins(), { preflight: 7, request: 7 })
  const metrics = await readMetrics(app)
  t.equal(metricValue(metrics, 'http_cors_origin_refused_total', { kind: 'preflight' }), 7)
  t.equal(metricValue(metrics, 'http_cors_origin_refused_total', { kind: 'request' }), 7)
})

t.test('same-origin requests (GraphiQL, /docs) send Origin too: they are not counted as refused', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CORS_ORIGINS: FRONTEND })
  const res = await app.inject({ method: 'POST', url: '/graphql', headers: { origin: 'http://service.example.com', host: 'service.example.com' }, payload: { query: '{ __typename }' } })
  t.equal(res.statusCode, 200)
  t.same(app.cors.refusedOrigins(), { preflight: 0, request: 0 })
})

t.test('a plain OPTIONS request (no preflight headers) is an ordinary request: it needs a token', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CORS_ORIGINS: FRONTEND })
  const res = await app.inject({ method: 'OPTIONS', url: '/rest-endpoints/1' })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'token_missing')
})

t.test('the gateway check is left to the gateway: no CORS answer or header on /auth/verify', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CORS_ORIGINS: FRONTEND })
  const pre = await app.inject(preflight(FRONTEND, '/auth/verify'))
  t.equal(pre.statusCode, 401, 'a preflight forwarded by a gateway is checked like any request')
  const ok = await app.inject({ method: 'GET', url: '/auth/verify', headers: { origin: FRONTEND, ...bearer(issuer.sign()) } })
  t.equal(ok.statusCode, 200)
  t.notOk(ok.headers['access-control-allow-origin'])
  t.notOk(ok.headers.vary)
  const foreign = await app.inject(preflight(OTHER, '/auth/verify'))
  t.equal(foreign.statusCode, 401, 'nor does an unlisted origin get the CORS 403 there')
})

t.test('where the allowed origins come from', async (t) => {
  t.same(corsSetting({ CORS_ORIGINS: `${FRONTEND}, http://localhost:3001/`, CLERK_AUTHORIZED_PARTIES: OTHER }, true),
    { origins: [FRONTEND, 'http://localhost:3001'], allowLoopbackOrigins: false, from: 'CORS_ORIGINS' }, 'CORS_ORIGINS first')
  t.same(corsSetting({ CORS_ORIGINS: '', CLERK_AUTHORIZED_PARTIES: FRONTEND }, true),
    { origins: [FRONTEND], allowLoopbackOrigins: false, from: 'CLERK_AUTHORIZED_PARTIES' }, 'then the authorized parties')
  t.same(corsSetting({ CORS_ORIGINS: ' none ', CLERK_AUTHORIZED_PARTIES: FRONTEND }, true),
    { origins: [], allowLoopbackOrigins: false, from: 'CORS_ORIGINS' }, 'none: nobody')
  t.same(corsSetting({}, true), { origins: [], allowLoopbackOrigins: true, from: 'development issuer' }, 'the development issuer: any loopback port')
  t.same(corsSetting({}, false), { origins: [], allowLoopbackOrigins: false, from: 'nothing set' }, 'a real issuer and nothing set: nobody')

  const loopback = originMatcher({ origins: [FRONTEND], allowLoopbackOrigins: true })
  for (const origin of ['http://localhost:3000', 'http://localhost:3001', 'http://127.0.0.1:5173', 'http://[::1]:8080', 'https://localhost:3000', 'http://localhost', FRONTEND]) {
    t.ok(loopback(origin), `${origin} allowed in development`)
  }
  for (const origin of ['http://localhost:3000.evil.net', 'http://localhost.evil.net', 'http://127.0.0.2:3000', 'http://10.0.0.1:3000', 'http://localhost:3000/', 'ws://localhost:3000', 'null']) {
    t.notOk(loopback(origin), `${origin} refused in development`)
  }
  t.notOk(originMatcher({ origins: [FRONTEND] })('http://localhost:3000'), 'loopback only when asked')
})

t.test('the development issuer with nothing set lets next dev on any local port in', async (t) => {
  const app = await buildApp(t, {})
  const res = await app.inject(preflight('http://localhost:3002'))
  t.equal(res.statusCode, 204)
  t.equal(res.headers['access-control-allow-origin'], 'http://localhost:3002')
  t.equal((await app.inject(preflight(FRONTEND))).statusCode, 403)
})

t.test('CLERK_AUTHORIZED_PARTIES serves as the list when CORS_ORIGINS is unset', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_AUTHORIZED_PARTIES: FRONTEND })
  t.equal((await app.inject(preflight(FRONTEND))).statusCode, 204)
  t.equal((await app.inject(preflight('http://localhost:3000'))).statusCode, 403)
})

t.test('production with no origins set: no cross-origin access, and a line that says how to allow it', async (t) => {
  const issuer = await startIssuer(t)
  const { lines, stream } = logLines()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, NODE_ENV: 'production' }, { logger: { level: 'info', stream } })
  t.equal((await app.inject(preflight('http://localhost:3000'))).statusCode, 403)
  t.ok(lines.some((line) => line.includes('set CORS_ORIGINS')), 'the start-up log says how to allow a frontend')
})

t.test('an unusable origin stops start-up naming the setting', async (t) => {
  const issuer = await startIssuer(t)
  for (const value of ['*', 'app.example.com', 'https://app.example.com/path', 'https://*.example.com']) {
    await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url, CORS_ORIGINS: value }), { name: 'ConfigError', message: /^Invalid configuration: CORS_ORIGINS must be a comma-separated list of exact origins/ }, value)
  }
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_AUTHORIZED_PARTIES: '*' }), { name: 'ConfigError', message: /^Invalid configuration: CLERK_AUTHORIZED_PARTIES/ })
})

t.test('the documented preflight is the service\'s', async (t) => {
  const readme = readFileSync(join(import.meta.dirname, '../../docs/browsers.md'), 'utf8')
  const block = /\$ curl -i -X OPTIONS (.+?) \\\n\s+(.+?) (http:\/\/localhost:3000\/\S+)\n(HTTP\/1\.1 \d+ [^\n]+)\n([\s\S]+?)\n```/.exec(readme)
  if (block === null) throw new Error('no curl preflight in docs/browsers.md')
  const [, first, second, url, statusLine, headerLines] = block as unknown as string[]
  const headers = Object.fromEntries([...`${first} ${second}`.matchAll(/-H '([^:]+): ([^']+)'/g)].map(([, name, value]) => [(name as string).toLowerCase(), value as string]))
  const app = await buildApp(t, {})
  const res = await app.inject({ method: 'OPTIONS', url: new URL(url as string).pathname, headers })
  t.equal(`HTTP/1.1 ${res.statusCode} ${res.statusMessage}`, statusLine)
  for (const line of (headerLines as string).split('\n')) {
    const [name, ...value] = line.split(': ')
    t.equal(String(res.headers[name as string]), value.join(': '), name as string)
  }
  t.same(app.clerkAuth.stats().verdicts, [], 'and the verifier was not asked')
})
