// The authentication decision on request spans and clerk-auth's child spans, in process: the app
// built with OpenTelemetry's SDK and Fastify instrumentation, spans kept in memory.
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { NodeSDK, tracing } from '@opentelemetry/sdk-node'
import t from 'tap'
import { createTestIssuer, generateSigningKey } from '../../plugins/clerk-auth/testing/index.js'
import { decisionOf } from '../../plugins/tracing/attributes.js'
import { fastifyOtelOptions, loadOtelVariables, serviceNamed, tracingRequested } from '../../src/otel-variables.js'
import { tempDir } from '../../plugins/clerk-auth/test/support/temp-dir.js'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildApp } from '../support/app.js'

t.test('the variables that turn tracing on, and off', async (t) => {
  const cases: Array<[NodeJS.ProcessEnv, boolean]> = [
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'TRUE' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'false' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }, false],
    [{ OTEL_TRACES_EXPORTER: 'console' }, true],
    [{ OTEL_TRACES_EXPORTER: ' none , console' }, true],
    [{ OTEL_TRACES_EXPORTER: ',' }, false]
  ]
  for (const [env, on] of cases) t.equal(tracingRequested(env), on, JSON.stringify(env))
  t.equal(serviceNamed({}), false)
  t.equal(serviceNamed({ OTEL_SERVICE_NAME: 'api' }), true)
  t.equal(serviceNamed({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod, service.name=api' }), true)
  t.equal(serviceNamed({ OTEL_RESOURCE_ATTRIBUTES: 'service.namespace=auth' }), false)
})

t.test('OTEL_* variables of .env apply where the environment has not set them; other lines do not', async (t) => {
  const dir = tempDir(t)
  const env: NodeJS.ProcessEnv = { OTEL_SERVICE_NAME: 'from-environment' }
  loadOtelVariables(env, dir)
  t.same(env, { OTEL_SERVICE_NAME: 'from-environment' }, 'no .env: nothing')
  writeFileSync(join(dir, '.env'), 'OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318\nOTEL_SERVICE_NAME=from-file\nPORT=4000\n')
  loadOtelVariables(env, dir)
  t.same(env, { OTEL_SERVICE_NAME: 'from-environment', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })
})

t.test('the decision from the verdict and the answer', async (t) => {
  t.same(decisionOf('ok', 200), { 'clerk.auth.result': 'accepted' })
  t.same(decisionOf('ok', 429), { 'clerk.auth.result': 'accepted' }, 'a rate limit is not an authentication refusal')
  t.same(decisionOf('ok', 403), { 'clerk.auth.result': 'forbidden', 'clerk.auth.refusal_code': 'forbidden' })
  t.same(decisionOf('token_expired', 401), { 'clerk.auth.result': 'refused', 'clerk.auth.refusal_code': 'token_expired' })
  t.same(decisionOf('issuer_unavailable', 503), { 'clerk.auth.result': 'refused', 'clerk.auth.refusal_code': 'issuer_unavailable' })
  t.same(decisionOf('token_missing', 200), { 'clerk.auth.result': 'anonymous' })
})

t.test('spans in process: enduser.id when allowed, anonymous callers, machines, and a key that never comes', async (t) => {
  const exporter = new tracing.InMemorySpanExporter()
  const fastifyOtel = new FastifyOtelInstrumentation(fastifyOtelOptions({}))
  const sdk = new NodeSDK({ spanProcessors: [new tracing.SimpleSpanProcessor(exporter)], instrumentations: [fastifyOtel], metricReaders: [], logRecordProcessors: [] })
  sdk.start()
  t.teardown(async () => { await sdk.shutdown() })
  const issuer = await createTestIssuer()
  t.teardown(() => issuer.close())
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, TRACING_RECORD_USER_ID: 'true', CLERK_JWKS_UNKNOWN_KID_COOLDOWN_MS: 0 }, { fastifyOtel })

  const requestSpan = (path: string) => exporter.getFinishedSpans().find((span) => span.attributes['url.path'] === path)

  const session = issuer.sessionToken({ sub: 'user_named' })
  t.equal((await app.inject({ url: '/rest-endpoints/1?note=private', headers: { authorization: `Bearer ${session}` } })).statusCode, 200)
  const accepted = requestSpan('/rest-endpoints/1')
  t.match(accepted?.attributes, { 'enduser.id': 'user_named', 'clerk.auth.result': 'accepted', 'clerk.auth.cached': false })
  t.equal((await app.inject({ url: '/rest-endpoints/7', headers: { authorization: `Bearer ${session}` } })).statusCode, 200)
  t.match(requestSpan('/rest-endpoints/7')?.attributes, { 'clerk.auth.result': 'accepted', 'clerk.auth.cached': true }, 'the same token again: from the cache')
  t.equal(accepted?.name, 'GET /rest-endpoints/:id', 'named by the route')
  t.notOk(JSON.stringify(accepted?.attributes).includes('private'), 'the query string is on no attribute')

  t.equal((await app.inject({ url: '/health' })).statusCode, 200)
  t.equal(requestSpan('/health'), undefined, 'probes are not traced')

  t.equal((await app.inject({ url: '/machine-pings/2', headers: { authorization: `Bearer ${issuer.m2mToken({ machineId: 'mch_traced' })}` } })).statusCode, 200)
  t.match(requestSpan('/machine-pings/2')?.attributes, { 'enduser.id': 'mch_traced', 'clerk.auth.token_type': 'm2m_token' })

  t.equal((await app.inject({ url: '/greeting' })).statusCode, 200)
  const anonymous = requestSpan('/greeting')
  t.match(anonymous?.attributes, { 'clerk.auth.result': 'anonymous' })
  t.equal(anonymous?.attributes['enduser.id'], undefined)
  t.equal(anonymous?.attributes['clerk.auth.token_type'], undefined)

  // signed with a key the issuer never publishes: the wait for the key set ends in a refusal
  const stranger = generateSigningKey()
  const unknownKey = issuer.sign(undefined, { key: stranger })
  t.equal((await app.inject({ url: '/rest-endpoints/3', headers: { authorization: `Bearer ${unknownKey}` } })).statusCode, 401)
  t.match(requestSpan('/rest-endpoints/3')?.attributes, { 'clerk.auth.result': 'refused', 'clerk.auth.refusal_code': 'token_key_unknown', 'clerk.auth.key_id': stranger.publicJwk.kid })
  const wait = exporter.getFinishedSpans().find((span) => span.name === 'clerk.jwks.wait')
  t.match(wait?.status, { code: 2, message: 'token_key_unknown' }, 'the wait ends in error')

  // the issuer down: the fetch fails, and its span says so
  issuer.jwksFault = 'error'
  const another = generateSigningKey()
  t.equal((await app.inject({ url: '/rest-endpoints/4', headers: { authorization: `Bearer ${issuer.sign(undefined, { key: another })}` } })).statusCode, 401)
  const failed = exporter.getFinishedSpans().filter((span) => span.name === 'clerk.jwks.fetch').at(-1)
  t.match(failed?.attributes, { 'clerk.jwks.outcome': 'failed', 'http.response.status_code': 500 })
  t.match(failed?.status, { code: 2, message: 'failed' })
})
