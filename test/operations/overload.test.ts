// Load shedding: with the event loop behind, requests get a cheap 503 + Retry-After, before
// any verification; the probes still answer. The loop is made to fall behind for real, by busy work.
import t from 'tap'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { waitFor } from '../../plugins/clerk-auth/test/support/observe.js'
import { buildApp } from '../support/app.js'
import { freePort } from '../support/loopback.js'
import { metricValue, readMetrics } from '../support/metrics.js'

/** Keeps the event loop busy in 60 ms slices, as an overloaded process is, until stop() is called. */
function stallEventLoop (): { stop: () => void } {
  let stopped = false
  const slice = (): void => {
    if (stopped) return
    const end = performance.now() + 60
    while (performance.now() < end) { /* busy, as a request flood keeps it */ }
    setImmediate(slice)
  }
  setImmediate(slice)
  return { stop: () => { stopped = true } }
}

t.test('over the event-loop delay limit, requests get 503 overloaded with Retry-After; /health and /ready still answer', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: 20, OVERLOAD_RETRY_AFTER_SECONDS: 3, METRICS_PORT: await freePort() })
  // A busy machine (start-up's RSA work, a parallel test) can hold the loop back too: wait until it keeps up.
  await waitFor(() => app.clerkAuth.isReady() && !app.isUnderPressure(), 10_000)
  const token = issuer.sign()
  t.equal((await app.inject({ url: '/rest-endpoints/1', headers: { authorization: `Bearer ${token}` } })).statusCode, 200, 'served while the loop keeps up')
  const checksBefore = app.clerkAuth.stats().cacheMisses + app.clerkAuth.stats().cacheHits
  const before = await readMetrics(app)

  const stall = stallEventLoop()
  t.teardown(stall.stop)
  await waitFor(() => app.isUnderPressure(), 10_000)
  const shed = await app.inject({ url: '/rest-endpoints/1', headers: { authorization: `Bearer ${token}` } })
  t.equal(shed.statusCode, 503)
  t.equal(shed.headers['retry-after'], '3')
  t.equal(shed.headers['content-type'], 'application/json; charset=utf-8')
  t.same(shed.json(), { statusCode: 503, error: 'Service Unavailable', code: 'overloaded', message: 'The service has more requests than it can answer: retry after 3 s.' })
  const anonymous = await app.inject({ url: '/rest-endpoints/1' })
  t.equal(anonymous.json().code, 'overloaded', 'shed before authentication: no 401 work either')
  t.equal((await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ pingOne(id: "1") }' } })).statusCode, 503)
  t.equal(app.clerkAuth.stats().cacheMisses + app.clerkAuth.stats().cacheHits, checksBefore, 'no token was looked at')
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'liveness answers')
  t.equal((await app.inject({ url: '/ready' })).statusCode, 200, 'readiness answers')
  const samples = await readMetrics(app)
  const grew = (name: string, labels: Record<string, string> = {}): number => metricValue(samples, name, labels) - metricValue(before, name, labels)
  t.equal(grew('http_requests_shed_total'), 3)
  t.equal(grew('http_request_duration_seconds_count', { route: '/rest-endpoints/:id', status_code: '503' }), 2)

  stall.stop()
  await waitFor(() => !app.isUnderPressure(), 10_000)
  t.equal((await app.inject({ url: '/rest-endpoints/1', headers: { authorization: `Bearer ${token}` } })).statusCode, 200, 'served again once the loop keeps up')
})

t.test('OVERLOAD_MAX_EVENT_LOOP_DELAY_MS=0 turns shedding off', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: 0 })
  t.equal(app.hasDecorator('isUnderPressure'), false, 'nothing measures the loop')
  t.equal(app.overload.shed(), 0)
})
