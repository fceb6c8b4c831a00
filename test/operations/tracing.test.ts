// Traces as an operator's collector receives them: the compiled server started as npm start starts
// it, with the standard OTEL_* variables, exporting OTLP/HTTP to a receiver on loopback.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { createTestIssuer, generateSigningKey } from '../../plugins/clerk-auth/testing/index.js'
import { tempDir } from '../../plugins/clerk-auth/test/support/temp-dir.js'
import { startOtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js'
import { freePort } from '../support/loopback.js'
import { startServer, waitForLine, waitForStatus } from '../support/processes.js'
import { startRedis } from '../support/redis.js'

const traceparent = (traceId: string): string => `00-${traceId}-${'b7ad6b7169203331'}-01`
const TRACES = {
  accepted: '0af7651916cd43dd8448eb211c800001',
  forged: '0af7651916cd43dd8448eb211c800002',
  newKey: '0af7651916cd43dd8448eb211c800003',
  health: '0af7651916cd43dd8448eb211c800004',
  apiKey: '0af7651916cd43dd8448eb211c800005',
  graphql: '0af7651916cd43dd8448eb211c800006',
  forbidden: '0af7651916cd43dd8448eb211c800007',
  gateway: '0af7651916cd43dd8448eb211c800008'
}

const inTrace = (spans: ReceivedSpan[], traceId: string): ReceivedSpan[] => spans.filter((span) => span.traceId === traceId)
const requestSpan = (spans: ReceivedSpan[], traceId: string): ReceivedSpan | undefined => inTrace(spans, traceId).find((span) => span.attributes['fastify.root'] === '@fastify/otel')

t.test('with OTEL_EXPORTER_OTLP_ENDPOINT, requests join the caller\'s trace with the authentication decision, and no token is exported', async (t) => {
  const issuer = await createTestIssuer()
  t.teardown(() => issuer.close())
  const receiver = await startOtlpReceiver(t)
  const redis = await startRedis(t)
  const dir = tempDir(t)
  const server = startServer({
    PORT: '0',
    CLERK_ISSUER_URL: issuer.url,
    CLERK_SECRET_KEY: issuer.secretKey,
    CLERK_API_URL: issuer.url,
    REDIS_URL: redis.url,
    LOG_REQUESTS: 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_SERVICE_NAME: 'clerk-auth-under-test',
    OTEL_BSP_SCHEDULE_DELAY: '20',
    SHUTDOWN_DRAIN_MS: '0'
  }, dir)
  t.teardown(() => { server.child.kill('SIGKILL') })
  const [, baseUrl] = await waitForLine(server.stdout, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
  await waitForStatus(`${baseUrl as string}/ready`, 200)

  const get = async (path: string, traceId: string, token?: string): Promise<number> => {
    const headers: Record<string, string> = { traceparent: traceparent(traceId) }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    const response = await fetch(`${baseUrl as string}${path}`, { headers })
    await response.arrayBuffer()
    return response.status
  }

  const firstKid = issuer.kid
  const session = issuer.sessionToken({ sub: 'user_traced' })
  const forged = issuer.brokenTokens().badSignature
  t.equal(await get('/rest-endpoints/7', TRACES.accepted, session), 200)
  t.equal(await get('/rest-endpoints/7', TRACES.forged, forged), 401)
  t.equal(await get('/org-pings/7', TRACES.forbidden, session), 403)
  t.equal(await get('/health', TRACES.health), 200)
  t.equal(await get('/auth/verify', TRACES.gateway, session), 200)
  const apiKey = issuer.apiKey()
  t.equal(await get('/machine-pings/7', TRACES.apiKey, apiKey), 200)
  const graphql = await fetch(`${baseUrl as string}/graphql?${new URLSearchParams({ query: 'query TracedPing { pingOne(id: "424242") }', operationName: 'TracedPing' }).toString()}`, {
    headers: { traceparent: traceparent(TRACES.graphql), authorization: `Bearer ${session}` }
  })
  t.same(await graphql.json(), { data: { pingOne: 'GraphQL Ping #424242!' } })
  // a key the service has not seen: the request waits for a fetch of the key set
  const rotated = generateSigningKey()
  issuer.publishKeys([rotated, generateSigningKey()])
  const newKeyToken = issuer.sessionToken({ sub: 'user_rotated' })
  t.equal(await get('/rest-endpoints/8', TRACES.newKey, newKeyToken), 200)

  const spans = await receiver.waitFor((spans) =>
    [TRACES.accepted, TRACES.forged, TRACES.forbidden, TRACES.apiKey, TRACES.graphql, TRACES.gateway].every((traceId) => requestSpan(spans, traceId) !== undefined) &&
    inTrace(spans, TRACES.newKey).some((span) => span.name === 'clerk.jwks.fetch') &&
    inTrace(spans, TRACES.newKey).some((span) => span.scope === '@fastify/otel'))

  const accepted = requestSpan(spans, TRACES.accepted) as ReceivedSpan
  t.equal(accepted.name, 'GET /rest-endpoints/:id')
  t.equal(accepted.parentSpanId, 'b7ad6b7169203331', 'the span is the caller\'s span\'s child')
  t.equal(accepted.resource['service.name'], 'clerk-auth-under-test')
  t.match(accepted.attributes, {
    'http.route': '/rest-endpoints/:id',
    'http.response.status_code': 200,
    'clerk.auth.result': 'accepted',
    'clerk.auth.token_type': 'session_token',
    'clerk.auth.cached': false,
    'clerk.auth.key_id': firstKid
  })
  t.equal(accepted.attributes['enduser.id'], undefined, 'no user id unless TRACING_RECORD_USER_ID allows it')
  t.equal(accepted.attributes['clerk.auth.refusal_code'], undefined)

  t.match(requestSpan(spans, TRACES.forged)?.attributes, {
    'clerk.auth.result': 'refused',
    'clerk.auth.refusal_code': 'token_signature_invalid',
    'clerk.auth.token_type': 'session_token',
    'http.response.status_code': 401
  })
  t.match(requestSpan(spans, TRACES.forbidden)?.attributes, {
    'clerk.auth.result': 'forbidden',
    'clerk.auth.refusal_code': 'forbidden',
    'clerk.auth.cached': true,
    'clerk.auth.key_id': firstKid
  }, 'the token verified for the first request is answered from the cache')

  t.same(inTrace(spans, TRACES.health), [], 'probes are not traced')
  t.match(requestSpan(spans, TRACES.gateway)?.attributes, { 'clerk.auth.result': 'accepted', 'http.route': /^\/auth\/verify/ }, 'a gateway\'s check joins the trace too')

  const apiKeyTrace = inTrace(spans, TRACES.apiKey)
  t.match(requestSpan(spans, TRACES.apiKey)?.attributes, { 'clerk.auth.result': 'accepted', 'clerk.auth.token_type': 'api_key' })
  const verifyCall = apiKeyTrace.find((span) => span.name === 'clerk.backend_api.verify')
  t.match(verifyCall?.attributes, { 'clerk.backend_api.outcome': 'verified', 'http.response.status_code': 200, 'url.path': '/api_keys/verify' })
  t.equal(verifyCall?.parentSpanId, requestSpan(spans, TRACES.apiKey)?.spanId, 'the call is the request\'s child')
  t.ok(apiKeyTrace.some((span) => span.scope === '@opentelemetry/instrumentation-ioredis'), 'the shared store\'s commands are traced by the client\'s instrumentation')

  t.match(requestSpan(spans, TRACES.graphql)?.attributes, {
    'graphql.operation.name': 'TracedPing',
    'graphql.operation.type': 'query',
    'url.path': '/graphql',
    'clerk.auth.result': 'accepted'
  })

  const rotation = inTrace(spans, TRACES.newKey)
  const rotationRequest = requestSpan(spans, TRACES.newKey) as ReceivedSpan
  const fetchSpan = rotation.find((span) => span.name === 'clerk.jwks.fetch')
  t.match(fetchSpan?.attributes, { 'clerk.jwks.outcome': 'ok', 'http.response.status_code': 200, 'clerk.jwks.keys': 2 })
  t.equal(fetchSpan?.parentSpanId, rotationRequest.spanId)
  t.match(rotation.find((span) => span.name === 'clerk.jwks.wait')?.attributes, { 'clerk.auth.key_id': rotated.publicJwk.kid, 'clerk.jwks.started_fetch': true }, 'the wait shows')
  t.match(rotationRequest.attributes, { 'clerk.auth.result': 'accepted', 'clerk.auth.key_id': rotated.publicJwk.kid })

  const exported = receiver.bytes().toString('latin1')
  for (const [name, secret] of Object.entries({ session, forged, apiKey, newKeyToken, secretKey: issuer.secretKey })) {
    t.notOk(exported.includes(secret), `no exported byte holds the ${name}`)
    // a token's signature alone would be as bad
    t.notOk(exported.includes(secret.slice(-40)), `nor the end of the ${name}`)
  }
  t.notOk(exported.includes('424242'), 'nor the GraphQL query text')

  const requestLine = server.stdout().split('\n').find((line) => line.includes('"msg":"request completed"') && line.includes(TRACES.accepted))
  t.ok(requestLine, 'log lines carry the trace id')
  t.match(JSON.parse(requestLine as string), { trace_id: TRACES.accepted, span_id: accepted.spanId })

  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0)
})

t.test('a collector that is away costs the spans, not the requests nor a clean exit', async (t) => {
  const issuer = await createTestIssuer()
  t.teardown(() => issuer.close())
  const dir = tempDir(t)
  // a port nothing listens on: every export is refused; spans are held until the process ends
  const server = startServer({ PORT: '0', CLERK_ISSUER_URL: issuer.url, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}`, OTEL_BSP_SCHEDULE_DELAY: '600000', SHUTDOWN_DRAIN_MS: '0' }, dir)
  t.teardown(() => { server.child.kill('SIGKILL') })
  const [, baseUrl] = await waitForLine(server.stdout, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
  const token = issuer.sessionToken()
  for (let i = 0; i < 20; i++) {
    const response = await fetch(`${baseUrl as string}/rest-endpoints/${i}`, { headers: { authorization: `Bearer ${token}` } })
    t.equal(response.status, 200)
    await response.arrayBuffer()
  }
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0)
  t.equal(server.stderr(), '')
  t.match(server.stdout(), /Could not export the last spans/)
})

t.test('without the OTEL_* variables not one module of the OpenTelemetry SDK is loaded', async (t) => {
  const root = join(import.meta.dirname, '../..')
  // what a process that starts as npm start does has loaded, once the app's modules are
  const loaded = async (env: Record<string, string>): Promise<{ running: boolean, sdk: string[] }> => {
    const script = `
      const { runningTracing } = await import(${JSON.stringify(join(root, 'dist/src/tracing.js'))})
      await import(${JSON.stringify(join(root, 'dist/src/app.js'))})
      const { createRequire } = await import('node:module')
      const cache = createRequire(${JSON.stringify(join(root, 'package.json'))}).cache
      const sdk = Object.keys(cache).filter((file) => /@opentelemetry[\\/](sdk-|exporter-|instrumentation)|@fastify[\\/]otel|import-in-the-middle/.test(file))
      console.log(JSON.stringify({ running: runningTracing() !== undefined, sdk }))`
    const { OTEL_EXPORTER_OTLP_ENDPOINT: _a, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: _b, OTEL_TRACES_EXPORTER: _c, ...parent } = process.env
    const child = spawn(process.execPath, ['--import', join(root, 'dist/src/tracing.js'), '--input-type=module', '-e', script], { env: { ...parent, ...env }, cwd: tempDir(t) })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    await new Promise((resolve) => child.on('close', resolve))
    return JSON.parse(out) as { running: boolean, sdk: string[] }
  }
  const off = await loaded({})
  t.same(off, { running: false, sdk: [] })
  t.same(await loaded({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_SDK_DISABLED: 'true' }), { running: false, sdk: [] }, 'OTEL_SDK_DISABLED wins')
  const on = await loaded({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' })
  t.equal(on.running, true)
  t.ok(on.sdk.length > 0, 'the same check sees the SDK when it is on')
})
