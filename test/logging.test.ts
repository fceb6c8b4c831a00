import { Writable } from 'node:stream'
import t from 'tap'
import { buildApp, startIssuer } from './helper.js'

t.test('request lines are off by default', async (t) => {
  const issuer = await startIssuer(t)
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url }, { logger: { level: 'info', stream } })
  await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign()}` } })
  t.notOk(lines.some((line) => line.includes('request completed') || line.includes('incoming request')))
})

t.test('errors are still logged when request lines are off', async (t) => {
  const issuer = await startIssuer(t)
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url }, {
    logger: { level: 'info', stream },
    extend: (app) => app.get('/broken', { config: { public: true } }, async () => { throw new Error('a bug') })
  })
  const res = await app.inject({ method: 'GET', url: '/broken' })
  t.equal(res.statusCode, 500)
  t.ok(lines.some((line) => line.includes('"level":50') && line.includes('a bug')), 'the error is logged')
})

t.test('no log line holds a token or a cookie value, even at trace level', async (t) => {
  const issuer = await startIssuer(t)
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, LOG_LEVEL: 'trace', LOG_REQUESTS: 'true' }, { logger: { level: 'trace', stream } })

  const good = issuer.sign()
  const expired = issuer.sign(issuer.claims({ exp: 1 }))
  const cookieSecret = 'cookie-value-that-must-not-leak'
  await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${good}` } })
  await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${expired}` } })
  await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { cookie: `__session=${good}; other=${cookieSecret}` } })
  await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ pingOne(id: "1") }' }, headers: { authorization: `Bearer ${expired}` } })
  await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ pingOne(id: "1") }' }, headers: { cookie: `__session=${good}` } })

  t.equal(lines.filter((line) => line.includes('request completed')).length, 5, 'every request was logged once')
  t.ok(lines.some((line) => line.includes('"code":"token_expired"')), 'refusals are logged by code')
  const signatures = [good, expired].map((token) => token.split('.')[2] as string)
  for (const line of lines) {
    for (const signature of signatures) t.notOk(line.includes(signature), 'no token in the log')
    t.notOk(line.includes(cookieSecret), 'no cookie in the log')
  }
})
