// Prometheus metrics: counted where decisions are made, read from their own listener on
// 127.0.0.1, against a real issuer and real tokens.
import t from 'tap'
import { m2mClaims, m2mHeader } from '../../plugins/clerk-auth/testing/index.js'
import { AggregatorRegistry, Registry } from 'prom-client'
import type { ClerkAuthStats } from '../../plugins/clerk-auth/index.js'
import { listenForMetrics, metricsUrl, registerSharedStoreMetrics, type SharedStoreCounts } from '../../plugins/metrics/index.js'
import { registerClerkAuthMetrics } from '../../plugins/metrics/clerk-auth-metrics.js'
import { DURATION_BUCKETS, RequestDurations } from '../../plugins/metrics/request-durations.js'
import { startIssuer, testKeys } from '../../plugins/clerk-auth/test/support/issuer.js'
import { logLines, testClock, waitFor } from '../../plugins/clerk-auth/test/support/observe.js'
import { bearer, publicPem } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp, type Env } from '../support/app.js'
import { freePort } from '../support/loopback.js'
import { type MetricSample, metricValue, parseMetrics, readMetrics } from '../support/metrics.js'

/** Settings with metrics on, on a free port. */
const withMetrics = async (env: Env): Promise<Env> => ({ ...env, METRICS_PORT: await freePort() })

t.test('N refused tokens of one kind raise clerk_auth_decisions_total for their code by N, read from the metrics listener', async (t) => {
  const issuer = await startIssuer(t)
  const port = await freePort()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, METRICS_PORT: port })
  const metrics = app.metrics as NonNullable<typeof app.metrics>
  t.equal(metrics.url(), `http://127.0.0.1:${port}/metrics`)
  const read = async (): Promise<MetricSample[]> => {
    const response = await fetch(metrics.url() as string)
    t.equal(response.status, 200)
    t.match(response.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
    return parseMetrics(await response.text())
  }
  const refused = { result: 'refused', code: 'token_signature_invalid', token_type: 'session_token' }
  const before = metricValue(await read(), 'clerk_auth_decisions_total', refused)
  const forged = issuer.sign(issuer.sessionClaims(), { key: testKeys()[1], header: { kid: issuer.kid } })
  const N = 7
  // the same forged token each time: the first is checked, the rest answered from the cache, all counted
  for (let i = 0; i < N; i++) t.equal((await app.inject({ url: '/rest-endpoints/1', headers: bearer(forged) })).json().code, 'token_signature_invalid')
  const after = await read()
  t.equal(metricValue(after, 'clerk_auth_decisions_total', refused) - before, N)
  t.equal(metricValue(after, 'clerk_auth_signature_checks_total'), 1, 'one signature check for the N')
  t.equal(metricValue(after, 'clerk_auth_verification_cache_hits_total'), N - 1)
  t.equal(metricValue(after, 'clerk_auth_verification_cache_misses_total'), 1)
  t.equal(metricValue(after, 'clerk_auth_verification_cache_entries'), 1)
  t.equal(metricValue(after, 'clerk_auth_decisions_total', { result: 'accepted' }), 0, 'nothing accepted')

  // the public port does not show them
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const publicAnswer = await fetch(`${address}/metrics`)
  t.equal(publicAnswer.status, 401, 'an unknown path on the public port is refused like any other, and says nothing about metrics')
  t.notMatch(await publicAnswer.text(), /clerk_auth/)
  // the metrics listener answers GET /metrics only
  t.equal((await fetch(metrics.url()?.replace('/metrics', '/other') as string)).status, 404)
  t.equal((await fetch(metrics.url() as string, { method: 'POST', body: 'x' })).status, 404)
  t.equal((await fetch(`${metrics.url() as string}?name[]=x`)).status, 200, 'a query string is ignored')
  await app.close()
  await t.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'the listener closes with the app')
})

t.test('decisions by result, code and kind of token: accepted, forbidden, refused before and after the key lookup', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, await withMetrics({ CLERK_ISSUER_URL: issuer.url }), {
    extend: (app) => app.get('/admins-only', { config: { auth: { role: 'org:admin' } } }, async () => 'ok')
  })
  const decisions = async (labels: Record<string, string>): Promise<number> => metricValue(await readMetrics(app), 'clerk_auth_decisions_total', labels)
  const session = issuer.sign()
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/rest-endpoints/1', headers: bearer(session) })).statusCode, 200)
  for (let i = 0; i < 2; i++) t.equal((await app.inject({ url: '/admins-only', headers: bearer(session) })).statusCode, 403)
  t.equal(await decisions({ result: 'accepted', code: 'ok', token_type: 'session_token' }), 3, 'a forbidden request is not also counted accepted')
  t.equal(await decisions({ result: 'forbidden', code: 'forbidden', token_type: 'session_token' }), 2)

  t.equal((await app.inject({ url: '/rest-endpoints/1' })).statusCode, 401)
  t.equal((await app.inject({ url: '/rest-endpoints/1', headers: { authorization: 'Bearer not-a-jwt' } })).statusCode, 401)
  t.equal(await decisions({ code: 'token_missing', token_type: 'unknown' }), 1, 'no token: no kind')
  t.equal(await decisions({ code: 'token_malformed', token_type: 'unknown' }), 1)

  // a machine token on a sessions-only route: refused by its kind, first in full, then from the cache
  const m2m = issuer.sign(m2mClaims({ issuer: issuer.url, machineId: 'mch_caller' }), { header: m2mHeader })
  for (let i = 0; i < 2; i++) t.equal((await app.inject({ url: '/rest-endpoints/1', headers: bearer(m2m) })).json().code, 'token_type_not_accepted')
  t.equal((await app.inject({ url: '/machine-pings/1', headers: bearer(m2m) })).statusCode, 200)
  t.equal((await app.inject({ url: '/machine-pings/1', headers: bearer(m2m) })).statusCode, 200, 'from the cache')
  t.equal((await app.inject({ url: '/rest-endpoints/1', headers: bearer(m2m) })).json().code, 'token_type_not_accepted', 'a cached caller of another kind')
  t.equal(await decisions({ code: 'token_type_not_accepted', token_type: 'm2m_token' }), 3)
  t.equal(await decisions({ result: 'accepted', token_type: 'm2m_token' }), 2)

  // an opaque API key with no secret key to verify it: refused by its kind, with no call anywhere
  t.equal((await app.inject({ url: '/machine-pings/1', headers: bearer('ak_unverifiable') })).json().code, 'token_type_not_accepted')
  t.equal(await decisions({ code: 'token_type_not_accepted', token_type: 'api_key' }), 1)

  // an unknown kid: refused after the key lookup (a promise), counted once with its kind
  const unknownKid = issuer.sign(issuer.sessionClaims(), { header: { kid: 'ins_unknown' } })
  t.equal((await app.inject({ url: '/rest-endpoints/1', headers: bearer(unknownKid) })).json().code, 'token_key_unknown')
  t.equal(await decisions({ code: 'token_key_unknown', token_type: 'session_token' }), 1)
  // a JWT template is no kind accepted anywhere
  const template = issuer.sign(issuer.sessionClaims({ sid: undefined }), { header: { cat: 'cl_B7d4PD222AAA' } })
  t.equal((await app.inject({ url: '/rest-endpoints/1', headers: bearer(template) })).json().code, 'token_type_not_accepted')
  t.equal(await decisions({ code: 'token_type_not_accepted', token_type: 'unknown' }), 1)

  // every request above counted exactly once
  const total = (await readMetrics(app)).filter((s) => s.name === 'clerk_auth_decisions_total').reduce((sum, s) => sum + s.value, 0)
  t.equal(total, 3 + 2 + 2 + 2 + 2 + 1 + 1 + 1 + 1)
})

t.test('a caller that waited on a new key set is counted once, and waiters after it from the cache', async (t) => {
  const [first, second] = testKeys()
  const issuer = await startIssuer(t, { keys: [first] })
  const app = await buildApp(t, await withMetrics({ CLERK_ISSUER_URL: issuer.url, CLERK_JWKS_UNKNOWN_KID_COOLDOWN_MS: 0 }))
  // the issuer rotates: a token under the new key makes the service look the key up
  issuer.publishKeys([first, second])
  const token = issuer.sign(issuer.sessionClaims(), { key: second })
  const answers = await Promise.all([1, 2, 3].map(async () => await app.inject({ url: '/rest-endpoints/1', headers: bearer(token) })))
  t.same(answers.map((a) => a.statusCode), [200, 200, 200])
  const samples = await readMetrics(app)
  t.equal(metricValue(samples, 'clerk_auth_decisions_total', { result: 'accepted', token_type: 'session_token' }), 3)
  t.equal(metricValue(samples, 'clerk_auth_signature_checks_total'), 1)
  t.equal(metricValue(samples, 'clerk_auth_jwks_fetches_total', { outcome: 'ok' }), 2, 'the start-up fetch and the lookup')
})

t.test('the key set: age and last success by the app clock, fetches by outcome, readiness', async (t) => {
  const clock = testClock()
  const issuer = await startIssuer(t)
  issuer.jwksFault = 'hang'
  const app = await buildApp(t, await withMetrics({ CLERK_ISSUER_URL: issuer.url, CLERK_JWKS_TIMEOUT_MS: 200 }), { now: clock.now })
  let samples = await readMetrics(app)
  t.equal(metricValue(samples, 'clerk_auth_ready'), 0, 'not ready before the first key set')
  t.notOk(samples.some((s) => s.name === 'clerk_auth_key_set_age_seconds'), 'no age before the first key set')
  t.notOk(samples.some((s) => s.name === 'clerk_auth_key_set_last_success_timestamp_seconds'))
  // the first fetch times out; the next (retried in the background) succeeds
  issuer.jwksFault = undefined
  await waitFor(() => app.clerkAuth.isReady())
  const loadedAt = clock.now()
  clock.advance(42_000)
  samples = await readMetrics(app)
  t.equal(metricValue(samples, 'clerk_auth_jwks_fetches_total', { outcome: 'timeout' }), 1)
  t.equal(metricValue(samples, 'clerk_auth_jwks_fetches_total', { outcome: 'ok' }), 1)
  t.equal(metricValue(samples, 'clerk_auth_jwks_fetches_total', { outcome: 'failed' }), 0)
  t.equal(metricValue(samples, 'clerk_auth_key_set_age_seconds'), 42)
  t.equal(metricValue(samples, 'clerk_auth_key_set_last_success_timestamp_seconds'), loadedAt / 1000)
  t.equal(metricValue(samples, 'clerk_auth_ready'), 1)

  issuer.jwksFault = 'error'
  const failedFetch = issuer.nextJwksRequest()
  // an unknown kid starts a fetch at once (the cooldown has passed on the test clock)
  await app.inject({ url: '/rest-endpoints/1', headers: bearer(issuer.sign(issuer.sessionClaims(), { header: { kid: 'ins_other' } })) })
  await failedFetch
  t.equal(metricValue(await readMetrics(app), 'clerk_auth_jwks_fetches_total', { outcome: 'failed' }), 1)
})

t.test('with a fixed key (CLERK_JWT_KEY) there is no key set to age or fetch', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, await withMetrics({ CLERK_ISSUER_URL: issuer.url, CLERK_JWT_KEY: publicPem(testKeys()[0]) }))
  const samples = await readMetrics(app)
  t.notOk(samples.some((s) => s.name === 'clerk_auth_key_set_age_seconds'))
  t.equal(metricValue(samples, 'clerk_auth_jwks_fetches_total', { outcome: 'ok' }), 0)
  t.equal(metricValue(samples, 'clerk_auth_ready'), 1)
})

t.test('request durations: a histogram per method, route and status, with cumulative buckets', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, await withMetrics({ CLERK_ISSUER_URL: issuer.url }))
  const token = issuer.sign()
  for (let i = 0; i < 4; i++) await app.inject({ url: `/rest-endpoints/${i}`, headers: bearer(token) })
  await app.inject({ url: '/rest-endpoints/9' })
  await app.inject({ method: 'POST', url: '/graphql', headers: { ...bearer(token), 'content-type': 'application/json' }, payload: { query: '{ pingOne(id: "1") }' } })
  await app.inject({ url: '/health' })
  await app.inject({ url: '/no-such-route' })
  const samples = await readMetrics(app)
  const rest = { method: 'GET', route: '/rest-endpoints/:id', status_code: '200' }
  t.equal(metricValue(samples, 'http_request_duration_seconds_count', rest), 4, 'by route pattern, not by URL')
  t.equal(metricValue(samples, 'http_request_duration_seconds_count', { ...rest, status_code: '401' }), 1)
  t.equal(metricValue(samples, 'http_request_duration_seconds_count', { method: 'POST', route: '/graphql', status_code: '200' }), 1)
  t.equal(metricValue(samples, 'http_request_duration_seconds_count', { route: '/health', status_code: '200' }), 1)
  t.notOk(samples.some((s) => s.labels.route === '/no-such-route'), 'unknown paths make no series (their number is unbounded)')
  const buckets = samples.filter((s) => s.name === 'http_request_duration_seconds_bucket' && s.labels.route === rest.route && s.labels.status_code === '200')
  t.equal(buckets.at(-1)?.labels.le, '+Inf')
  t.equal(buckets.at(-1)?.value, 4)
  t.same(buckets.map((b) => b.value), [...buckets.map((b) => b.value)].sort((a, b) => a - b), 'cumulative')
  const sum = metricValue(samples, 'http_request_duration_seconds_sum', rest)
  t.ok(sum > 0 && sum < 4 * 10, 'the sum is in seconds')
  t.ok(samples.some((s) => s.name === 'process_cpu_seconds_total'), 'and the process\'s own metrics')
})

t.test('in production a metrics port in use stops start-up with a line that names it', async (t) => {
  const issuer = await startIssuer(t)
  const port = await freePort()
  await buildApp(t, { CLERK_ISSUER_URL: issuer.url, METRICS_PORT: port })
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url, METRICS_PORT: port, NODE_ENV: 'production' }),
    { message: `Cannot listen for metrics: port ${port} on 127.0.0.1 is already in use (set METRICS_PORT to another one, or 0 to turn metrics off).` })
})

t.test('in development a metrics port in use is a warning: the service carries on without metrics', async (t) => {
  const port = await freePort()
  const issuer = await startIssuer(t)
  await buildApp(t, { CLERK_ISSUER_URL: issuer.url, METRICS_PORT: port })
  const { lines, stream } = logLines()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, METRICS_PORT: port }, { logger: { level: 'info', stream } })
  t.equal(app.metrics?.url(), undefined, 'no metrics listener')
  const warning = lines.map((line) => JSON.parse(line) as { level: number, msg: string }).find((line) => line.msg.includes('Carrying on without metrics'))
  t.equal(warning?.level, 40, 'a warning')
  t.match(warning?.msg, `port ${port} on 127.0.0.1 is already in use`)
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200, 'the service serves')
})

t.test('the metrics listener\'s address is logged once it listens', async (t) => {
  const issuer = await startIssuer(t)
  const { lines, stream } = logLines()
  const app = await buildApp(t, await withMetrics({ CLERK_ISSUER_URL: issuer.url }), { logger: { level: 'info', stream } })
  const logged = lines.map((line) => JSON.parse(line) as { level: number, msg: string, url?: string }).filter((line) => line.msg === 'Metrics listening')
  t.same(logged.map(({ level, url }) => ({ level, url })), [{ level: 30, url: app.metrics?.url() }])
})

t.test('in development a metrics address that cannot be listened on still stops start-up: only a port in use is a warning', async (t) => {
  const issuer = await startIssuer(t)
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url, METRICS_HOST: '203.0.113.1', METRICS_PORT: await freePort() }), { code: 'EADDRNOTAVAIL' })
})

t.test('METRICS_PORT=0 turns metrics off: nothing counted per request, nothing listening', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, METRICS_PORT: 0 })
  t.equal(app.metrics, null)
  t.notMatch(app.printRoutes({ includeHooks: true }), /timeRequest/, 'no route is timed')
  const on = await buildApp(t, await withMetrics({ CLERK_ISSUER_URL: issuer.url }))
  t.match(on.printRoutes({ includeHooks: true }), /timeRequest/, 'while with metrics on, routes are')
})

t.test('request durations: each observation lands in the first bucket whose bound it does not exceed', async (t) => {
  const durations = new RequestDurations('d', 'help text')
  const observe = durations.forRoute('GET', '/r')
  // ms: under the first bound, exactly at a bound, between bounds, above every bound
  for (const ms of [0.2, 1, 3, 20_000]) observe('GET', 200, ms)
  observe('GET', 404, 0.7)
  const metric = durations.get()
  t.match(metric, { name: 'd', help: 'help text', type: 'histogram', aggregator: 'sum' })
  const bucket = (status: number, le: number | string): number | undefined =>
    metric.values.find((v) => v.metricName === 'd_bucket' && v.labels.status_code === status && v.labels.le === le)?.value
  t.equal(bucket(200, 0.0005), 1, '0.2 ms')
  t.equal(bucket(200, 0.001), 2, '1 ms is at most 0.001 s')
  t.equal(bucket(200, 0.0025), 2)
  t.equal(bucket(200, 0.005), 3, '3 ms')
  t.equal(bucket(200, 10), 3, '20 s is above every bound')
  t.equal(bucket(200, '+Inf'), 4)
  t.equal(metric.values.filter((v) => v.metricName === 'd_bucket' && v.labels.status_code === 200).length, DURATION_BUCKETS.length + 1)
  t.same(metric.values.find((v) => v.metricName === 'd_count' && v.labels.status_code === 200), { metricName: 'd_count', labels: { method: 'GET', route: '/r', status_code: 200 }, value: 4 })
  t.equal(metric.values.find((v) => v.metricName === 'd_sum' && v.labels.status_code === 200)?.value, (0.2 + 1 + 3 + 20_000) / 1000)
  t.equal(bucket(404, 0.0005), 0)
  t.equal(bucket(404, 0.001), 1, 'each status has its own cells')
  t.same(new RequestDurations('e', 'h').get().values, [], 'no sample before an observation')
})

t.test('request durations: a route declared for one method is labelled with that method, however it is given', async (t) => {
  const durations = new RequestDurations('d', 'h')
  durations.forRoute('GET', '/as-string')('HEAD', 200, 1)
  durations.forRoute(['GET'], '/in-a-list')('HEAD', 200, 1)
  const methods = (route: string): Array<string | number> => durations.get().values.filter((v) => v.metricName === 'd_count' && v.labels.route === route).map((v) => v.labels.method as string)
  t.same(methods('/as-string'), ['GET'])
  t.same(methods('/in-a-list'), ['GET'])
})

t.test('without a secret key, the Backend API series are there at zero', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, await withMetrics({ CLERK_ISSUER_URL: issuer.url }))
  const samples = await readMetrics(app)
  const zero = (name: string, label: string, value: string): boolean => samples.some((s) => s.name === name && s.labels[label] === value && s.value === 0)
  for (const reason of ['timeout', 'unreachable', 'status', 'answer']) t.ok(zero('clerk_auth_backend_api_failures_total', 'reason', reason), `failures: ${reason}`)
  for (const scope of ['client', 'process']) t.ok(zero('clerk_auth_backend_api_budget_refusals_total', 'scope', scope), `budget refusals: ${scope}`)
})

t.test('request durations: a route declared for several methods is labelled with each request\'s method', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, await withMetrics({ CLERK_ISSUER_URL: issuer.url }))
  for (const method of ['GET', 'POST', 'POST'] as const) await app.inject({ method, url: '/auth/verify', headers: bearer(issuer.sign()) })
  const samples = await readMetrics(app)
  t.equal(metricValue(samples, 'http_request_duration_seconds_count', { method: 'GET', route: '/auth/verify', status_code: '200' }), 1)
  t.equal(metricValue(samples, 'http_request_duration_seconds_count', { method: 'POST', route: '/auth/verify', status_code: '200' }), 2)
  t.notOk(samples.some((sample) => sample.labels.method?.includes(',')), 'never a list of methods')
})

t.test('the metrics listener: 404 elsewhere, 503 when they cannot be read, other listen errors as they are', async (t) => {
  let fail = false
  const server = await listenForMetrics('127.0.0.1', 0, async () => {
    if (fail) throw new Error('boom')
    return { contentType: 'text/plain', body: 'x 1\n' }
  })
  t.teardown(() => { server.close() })
  const url = metricsUrl(server)
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
  const elsewhere = await fetch(url.replace('/metrics', '/'))
  t.equal(elsewhere.status, 404)
  t.equal(elsewhere.headers.get('content-type'), 'text/plain; charset=utf-8')
  t.equal(await elsewhere.text(), 'Not found: metrics are at GET /metrics\n')
  t.equal(await (await fetch(url)).text(), 'x 1\n')
  fail = true
  const failed = await fetch(url)
  t.equal(failed.status, 503)
  t.equal(failed.headers.get('content-type'), 'text/plain; charset=utf-8')
  t.equal(await failed.text(), 'Metrics unavailable: boom\n')
  await t.rejects(listenForMetrics('203.0.113.1', 0, async () => ({ contentType: '', body: '' })), { code: 'EADDRNOTAVAIL', message: /^listen EADDRNOTAVAIL/ }, 'an address not on this machine: the error as it is')
  const v6 = await listenForMetrics('::1', 0, async () => ({ contentType: '', body: '' })).catch(() => undefined)
  if (v6 !== undefined) {
    t.match(metricsUrl(v6), /^http:\/\/\[::1\]:\d+\/metrics$/, 'an IPv6 address in brackets')
    v6.close()
  }
})

t.test('every metric says what it is, and Backend API calls are counted', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startIssuer(t)
  const app = await buildApp(t, await withMetrics({ CLERK_ISSUER_URL: issuer.url, CLERK_SECRET_KEY: api.secretKey, CLERK_API_URL: api.url }))
  const key = api.apiKey()
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/machine-pings/1', headers: bearer(key) })).statusCode, 200)
  t.equal(metricValue(await readMetrics(app), 'clerk_auth_backend_api_calls_total'), 1, 'one call, then the cache')
  const text = (await app.metrics?.read())?.body ?? ''
  for (const [, name, help] of text.matchAll(/^# HELP (\S+) ?(.*)$/gm)) t.ok((help as string).length > 10, `${name as string} has a help text`)
})

/** What the primary serves with workers: prom-client's aggregation of each worker's registry, parsed. */
const primaryServes = async (workers: Registry[]): Promise<MetricSample[]> =>
  parseMetrics(await AggregatorRegistry.aggregate(await Promise.all(workers.map(async (registry) => await registry.getMetricsAsJSON()))).metrics())

/** clerk-auth's counters with a distinct value in each, so that no metric can show another's. */
const distinctStats = (base: number, loadedAt: number | undefined): ClerkAuthStats => ({
  decisions: [{ result: 'refused', code: 'token_expired', tokenType: 'session_token', count: base + 1 }],
  signatureChecks: base + 2,
  cacheHits: base + 3,
  cacheMisses: base + 4,
  cachedVerdicts: base + 5,
  machineApiCalls: base + 6,
  machineApiFailures: { timeout: base + 7, unreachable: base + 8, status: base + 9, answer: base + 10 },
  machineApiBudgetRefusals: { client: base + 11, process: base + 12, fleet: base + 13 },
  machineApiStaleVerdicts: base + 14,
  machineApiSharedVerdicts: base + 15,
  machineApiSharedFailures: base + 16,
  verdicts: [],
  keySet: { fetches: { ok: base + 17, timeout: base + 18, failed: base + 19 }, loadedAt },
  revocations: base + 20,
  revocationsEvicted: base + 21
})

/** Each metric of clerk-auth's counters, with the labels of one sample and the offset distinctStats gives it. */
const COUNTER_METRICS: Array<[string, Record<string, string>, number]> = [
  ['clerk_auth_decisions_total', { result: 'refused', code: 'token_expired', token_type: 'session_token' }, 1],
  ['clerk_auth_signature_checks_total', {}, 2],
  ['clerk_auth_verification_cache_hits_total', {}, 3],
  ['clerk_auth_verification_cache_misses_total', {}, 4],
  ['clerk_auth_verification_cache_entries', {}, 5],
  ['clerk_auth_backend_api_calls_total', {}, 6],
  ['clerk_auth_backend_api_failures_total', { reason: 'timeout' }, 7],
  ['clerk_auth_backend_api_failures_total', { reason: 'unreachable' }, 8],
  ['clerk_auth_backend_api_failures_total', { reason: 'status' }, 9],
  ['clerk_auth_backend_api_failures_total', { reason: 'answer' }, 10],
  ['clerk_auth_backend_api_budget_refusals_total', { scope: 'client' }, 11],
  ['clerk_auth_backend_api_budget_refusals_total', { scope: 'process' }, 12],
  ['clerk_auth_backend_api_budget_refusals_total', { scope: 'fleet' }, 13],
  ['clerk_auth_backend_api_stale_verdicts_total', {}, 14],
  ['clerk_auth_backend_api_shared_verdicts_total', {}, 15],
  ['clerk_auth_backend_api_shared_failures_total', {}, 16],
  ['clerk_auth_jwks_fetches_total', { outcome: 'ok' }, 17],
  ['clerk_auth_jwks_fetches_total', { outcome: 'timeout' }, 18],
  ['clerk_auth_jwks_fetches_total', { outcome: 'failed' }, 19],
  ['clerk_auth_revocations', {}, 20],
  ['clerk_auth_revocations_evicted_total', {}, 21]
]

t.test('each of clerk-auth\'s counters shows in its own metric, read afresh at each scrape', async (t) => {
  let stats = distinctStats(100, undefined)
  const registry = new Registry()
  registerClerkAuthMetrics(registry, () => stats, () => false, () => 0)
  let samples = parseMetrics(await registry.metrics())
  for (const [name, labels, offset] of COUNTER_METRICS) t.equal(metricValue(samples, name, labels), 100 + offset, `${name} ${JSON.stringify(labels)}`)
  t.equal(metricValue(samples, 'clerk_auth_ready'), 0)
  t.notOk(samples.some((s) => s.name.startsWith('clerk_auth_key_set_')), 'no key-set age before a key set')
  stats = distinctStats(1000, 5000)
  samples = parseMetrics(await registry.metrics())
  for (const [name, labels, offset] of COUNTER_METRICS) t.equal(metricValue(samples, name, labels), 1000 + offset, `${name} at the next scrape`)
})

t.test('with workers, the primary serves counters summed, the oldest key set, the earliest success, and ready only when every worker is', async (t) => {
  const SECOND = 1000
  const worker = (base: number, loadedAt: number | undefined, ready: boolean): Registry => {
    const registry = new Registry()
    registerClerkAuthMetrics(registry, () => distinctStats(base, loadedAt), () => ready, () => 100 * SECOND)
    return registry
  }
  const samples = await primaryServes([worker(100, 90 * SECOND, true), worker(1000, 60 * SECOND, false), worker(10_000, undefined, true)])
  for (const [name, labels, offset] of COUNTER_METRICS) t.equal(metricValue(samples, name, labels), 11_100 + 3 * offset, `${name} ${JSON.stringify(labels)} summed`)
  t.equal(metricValue(samples, 'clerk_auth_key_set_age_seconds'), 40, 'the oldest key set among the workers that have one')
  t.equal(metricValue(samples, 'clerk_auth_key_set_last_success_timestamp_seconds'), 60, 'the earliest last success')
  t.equal(metricValue(samples, 'clerk_auth_ready'), 0, 'one worker not ready: not ready')

  const allReady = await primaryServes([worker(1, 90 * SECOND, true), worker(2, 95 * SECOND, true)])
  t.equal(metricValue(allReady, 'clerk_auth_ready'), 1)
  t.equal(metricValue(allReady, 'clerk_auth_key_set_age_seconds'), 10)
  t.equal(metricValue(allReady, 'clerk_auth_key_set_last_success_timestamp_seconds'), 90)
})

t.test('the shared store\'s counts as metrics; with workers, up only when every worker is', async (t) => {
  const worker = (counts: SharedStoreCounts): Registry => {
    const registry = new Registry()
    registerSharedStoreMetrics(registry, () => counts)
    return registry
  }
  const up = worker({ up: true, outages: 2, published: 3, received: 5 })
  const text = await up.metrics()
  t.same([...text.matchAll(/^# HELP (\S+) (.{10,})$/gm)].map((match) => match[1]), ['shared_store_up', 'shared_store_outages_total', 'shared_store_revocations_total'], 'each says what it is')
  const one = parseMetrics(text)
  t.equal(metricValue(one, 'shared_store_up'), 1)
  t.equal(metricValue(one, 'shared_store_outages_total'), 2)
  t.equal(metricValue(one, 'shared_store_revocations_total', { direction: 'published' }), 3)
  t.equal(metricValue(one, 'shared_store_revocations_total', { direction: 'received' }), 5)
  const down = worker({ up: false, outages: 7, published: 11, received: 13 })
  t.equal(metricValue(parseMetrics(await down.metrics()), 'shared_store_up'), 0)
  const summed = await primaryServes([up, down])
  t.equal(metricValue(summed, 'shared_store_up'), 0, 'one worker cut off is enough')
  t.equal(metricValue(summed, 'shared_store_outages_total'), 9)
  t.equal(metricValue(summed, 'shared_store_revocations_total', { direction: 'published' }), 14)
  t.equal(metricValue(summed, 'shared_store_revocations_total', { direction: 'received' }), 18)
  const allUp = await primaryServes([up, worker({ up: true, outages: 0, published: 0, received: 0 })])
  t.equal(metricValue(allUp, 'shared_store_up'), 1)
})
