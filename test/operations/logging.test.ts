import Fastify from 'fastify'
import t from 'tap'
import { processLogger, serverOptions } from '../../src/app.js'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { logLines } from '../../plugins/clerk-auth/test/support/observe.js'
import { buildApp } from '../support/app.js'

t.test('request lines are off by default', async (t) => {
  const issuer = await startIssuer(t)
  const { lines, stream } = logLines()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url }, { logger: { level: 'info', stream } })
  await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign()}` } })
  t.notOk(lines.some((line) => line.includes('request completed') || line.includes('incoming request')))
})

t.test('errors are still logged when request lines are off', async (t) => {
  const issuer = await startIssuer(t)
  const { lines, stream } = logLines()
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
  const { lines, stream } = logLines()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, LOG_LEVEL: 'trace', LOG_REQUESTS: 'true' }, { logger: { level: 'trace', stream } })

  const good = issuer.sign()
  const expired = issuer.sign(issuer.sessionClaims({ exp: 1 }))
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

t.test('a request\'s logger carries the request id and honours levels', async (t) => {
  const issuer = await startIssuer(t)
  const { lines, stream } = logLines()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url }, {
    logger: { level: 'info', stream },
    extend: (app) => {
      app.get('/logs', { config: { public: true } }, async (request) => {
        const level = request.log.level
        request.log.debug('below the level')
        request.log.info({ step: 1 }, 'a line from a handler')
        request.log.child({ part: 'inner' }).warn('a line from a child')
        request.log.trace('below the level too')
        request.log.silent('never written')
        request.log.warn('a warning line')
        request.log.error('an error line')
        request.log.fatal('a fatal line')
        return { level }
      })
      app.get('/verbose', { config: { public: true }, logLevel: 'debug' }, async (request) => {
        request.log.debug('a route with its own level')
        return { level: request.log.level }
      })
      app.get('/louder', { config: { public: true } }, async (request) => {
        request.log.level = 'trace'
        request.log.trace('a level raised for one request')
        return { level: request.log.level }
      })
    }
  })
  const res = await app.inject({ method: 'GET', url: '/logs' })
  t.same(res.json(), { level: 'info' })
  const written = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  const handlerLine = written.find((line) => line.msg === 'a line from a handler')
  const childLine = written.find((line) => line.msg === 'a line from a child')
  t.match(handlerLine, { level: 30, step: 1, reqId: /\S/ })
  t.match(childLine, { level: 40, part: 'inner', reqId: handlerLine?.reqId })
  t.match(written.find((line) => line.msg === 'a warning line'), { level: 40, reqId: handlerLine?.reqId })
  t.match(written.find((line) => line.msg === 'an error line'), { level: 50, reqId: handlerLine?.reqId })
  t.match(written.find((line) => line.msg === 'a fatal line'), { level: 60, reqId: handlerLine?.reqId })
  t.notOk(written.some((line) => ['below the level', 'below the level too', 'never written'].includes(line.msg as string)))

  await app.inject({ method: 'GET', url: '/logs' })
  const ids = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'a line from a handler').map((line) => line.reqId)
  t.equal(new Set(ids).size, 2, 'each request has its own id')

  const louder = await app.inject({ method: 'GET', url: '/louder' })
  t.same(louder.json(), { level: 'trace' })
  t.ok(lines.some((line) => line.includes('a level raised for one request')))
  t.equal(app.log.level, 'info', 'the service logger keeps its level')

  const verbose = await app.inject({ method: 'GET', url: '/verbose' })
  t.same(verbose.json(), { level: 'debug' })
  t.ok(lines.some((line) => line.includes('a route with its own level')))
})

t.test('readable lines at a terminal outside production, JSON everywhere else', async (t) => {
  t.match(processLogger('development', true), { transport: { target: 'pino-pretty' } })
  t.match(processLogger(undefined, true), { transport: { target: 'pino-pretty' } }, 'settings not read yet: a terminal still gets readable lines')
  t.same(processLogger('production', true), { level: 'info', stream: process.stdout }, 'production logs JSON even at a terminal')
  t.same(processLogger('development', false), { level: 'info', stream: process.stdout }, 'a pipe or a file gets JSON, written in order')
  // the transport loads and the redaction still applies before it
  const options = serverOptions(processLogger('development', true))
  t.match(options.logger, { redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'] } })
  const app = Fastify(options)
  await app.ready()
  await app.close()
})
