// The compiled server as a user runs it: a real process, a real socket, real signals.
import { once } from 'node:events'
import { connect } from 'node:net'
import t from 'tap'
import { devWebhookSigningSecret, mintSessionToken, signWebhook, webhookEvent } from '../../plugins/clerk-auth/testing/index.js'
import { loadOrCreateSigningKey } from '../../src/dev-issuer/signing-key.js'
import { tempDir } from '../../plugins/clerk-auth/test/support/temp-dir.js'
import { freePort } from '../support/loopback.js'
import { metricValue, parseMetrics } from '../support/metrics.js'
import { startServer, waitForLine, waitForStatus } from '../support/processes.js'

t.test('the server starts with no Clerk account, serves on a socket, and shuts down gracefully', async (t) => {
  const dir = tempDir(t)
  const server = startServer({ PORT: '0', DEV_ISSUER_PORT: '0', DEV_ISSUER_DIR: dir, LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: '0' }, dir)
  t.teardown(() => { server.child.kill('SIGKILL') })

  const [, issuerUrl] = await waitForLine(server.stdout, /"issuer":"(http:\/\/127\.0\.0\.1:\d+)".*npm run -s token/)
  const [, baseUrl] = await waitForLine(server.stdout, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
  const token = mintSessionToken(loadOrCreateSigningKey(dir), issuerUrl as string, { sub: 'user_socket', azp: 'http://localhost:3000' })

  const refused = await fetch(`${baseUrl}/rest-endpoints/12345`)
  t.equal(refused.status, 401)
  t.equal(refused.headers.get('www-authenticate'), 'Bearer realm="api"')
  t.equal((await refused.json() as { code: string }).code, 'token_missing')

  const ok = await fetch(`${baseUrl}/rest-endpoints/12345`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(ok.status, 200)
  t.equal(await ok.text(), 'REST Ping #12345!')

  const gql = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ pingOne(id: "12345") }' })
  })
  t.same(await gql.json(), { data: { pingOne: 'GraphQL Ping #12345!' } })

  t.notOk(server.stdout().includes(token), 'the token never reaches the log')
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0, 'SIGTERM closes cleanly')
  t.equal(server.stderr(), '')
})

t.test('SIGTERM drains first: /ready 503 and Connection: close while requests are still served, then exit 0', async (t) => {
  const dir = tempDir(t)
  const server = startServer({ PORT: '0', DEV_ISSUER_PORT: '0', DEV_ISSUER_DIR: dir, SHUTDOWN_DRAIN_MS: '3000' }, dir)
  t.teardown(() => { server.child.kill('SIGKILL') })
  const [, baseUrl] = await waitForLine(server.stdout, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
  await waitForStatus(`${baseUrl as string}/ready`, 200)
  server.child.kill('SIGTERM')
  await waitForLine(server.stdout, /draining: \/ready answers 503/)
  const ready = await fetch(`${baseUrl as string}/ready`)
  t.equal(ready.status, 503)
  t.same(await ready.json(), { status: 'draining' })
  t.equal(ready.headers.get('connection'), 'close', 'kept-alive clients are told to go')
  const health = await fetch(`${baseUrl as string}/health`)
  t.equal(health.status, 200, 'still serving while draining')
  t.equal(await server.exited, 0)
  t.match(server.stdout(), /"msg":"closing"/)
  await t.rejects(fetch(`${baseUrl as string}/health`), 'then the listener is closed')
  t.equal(server.stderr(), '')
})

t.test('Ctrl-C outside production closes at once, without the drain, and the last line says so', async (t) => {
  const dir = tempDir(t)
  const server = startServer({ PORT: '0', DEV_ISSUER_PORT: '0', DEV_ISSUER_DIR: dir, SHUTDOWN_DRAIN_MS: '600000' }, dir)
  t.teardown(() => { server.child.kill('SIGKILL') })
  const [, baseUrl] = await waitForLine(server.stdout, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
  await waitForStatus(`${baseUrl as string}/ready`, 200)
  server.child.kill('SIGINT')
  t.equal(await server.exited, 0, 'exits 0, long before a 10-minute drain')
  t.notMatch(server.stdout(), /draining/)
  const lines = server.stdout().trim().split('\n')
  t.match(lines.at(-1), /"msg":"stopped: the process exits now"/)
  t.equal(server.stderr(), '')
})

t.test('a connection that never sends a request does not hold the shutdown up', async (t) => {
  const dir = tempDir(t)
  const server = startServer({ PORT: '0', DEV_ISSUER_PORT: '0', DEV_ISSUER_DIR: dir, SHUTDOWN_DRAIN_MS: '0' }, dir)
  t.teardown(() => { server.child.kill('SIGKILL') })
  const [, port] = await waitForLine(server.stdout, /Server listening at http:\/\/127\.0\.0\.1:(\d+)/)
  const silent = connect(Number(port), '127.0.0.1')
  silent.on('error', () => {})
  await once(silent, 'connect')
  await waitForStatus(`http://127.0.0.1:${port as string}/ready`, 200) // the silent connection was accepted before it
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0, 'the process exits cleanly, after the silent connection\'s grace')
  t.equal(server.stderr(), '')
  silent.destroy()
})

t.test('WORKERS=2: two processes share the port, their metrics are summed, a revocation reaches both, and they stop together', async (t) => {
  const dir = tempDir(t)
  const [port, issuerPort, metricsPort] = [await freePort(), await freePort(), await freePort()]
  const server = startServer({ PORT: String(port), DEV_ISSUER_PORT: String(issuerPort), DEV_ISSUER_DIR: dir, WORKERS: '2', SHUTDOWN_DRAIN_MS: '2000', METRICS_PORT: String(metricsPort) }, dir)
  t.teardown(() => { server.child.kill('SIGKILL') })
  // two processes starting at once on two busy cores: a generous bound
  await waitForLine(server.stdout, /(Server listening at[\s\S]*){2}/, 30_000)
  const pids = new Set([...server.stdout().matchAll(/"pid":(\d+)[^\n]*Server listening/g)].map((match) => match[1]))
  t.equal(pids.size, 2, 'two worker processes')
  const key = loadOrCreateSigningKey(dir)
  const token = mintSessionToken(key, `http://127.0.0.1:${issuerPort}`, { sub: 'user_workers', sid: 'sess_workers', azp: 'http://localhost:3000' })
  for (let i = 0; i < 10; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/rest-endpoints/${i}`, { headers: { authorization: `Bearer ${token}` } })
    t.equal(await res.text(), `REST Ping #${i}!`)
  }
  for (let i = 0; i < 5; i++) await (await fetch(`http://127.0.0.1:${port}/rest-endpoints/${i}`)).arrayBuffer()
  // the primary asks both workers and serves the sum
  const samples = parseMetrics(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text())
  t.equal(metricValue(samples, 'clerk_auth_decisions_total', { result: 'accepted', token_type: 'session_token' }), 10)
  t.equal(metricValue(samples, 'clerk_auth_decisions_total', { result: 'refused', code: 'token_missing' }), 5)
  t.equal(metricValue(samples, 'http_request_duration_seconds_count', { route: '/rest-endpoints/:id', status_code: '200' }), 10)
  t.equal(metricValue(samples, 'clerk_auth_ready'), 1)
  t.equal(metricValue(samples, 'clerk_auth_revocations'), 0)

  // the webhook reaches one worker, which tells the other through the primary
  const delivery = signWebhook(devWebhookSigningSecret(key.privateKey), JSON.stringify(webhookEvent('session.revoked', { sessionId: 'sess_workers' })))
  const hook = await fetch(`http://127.0.0.1:${port}/webhooks/clerk`, { method: 'POST', headers: delivery.headers, body: delivery.body })
  t.equal(hook.status, 200)
  const held = async (): Promise<number | undefined> => metricValue(parseMetrics(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()), 'clerk_auth_revocations')
  // polled until both hold it (each scrape asks both workers), a bounded number of times
  for (let scrape = 0; scrape < 500 && await held() !== 2; scrape++);
  t.equal(await held(), 2, 'both workers hold the revocation')
  for (let i = 0; i < 10; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/rest-endpoints/${i}`, { headers: { authorization: `Bearer ${token}` } })
    t.equal((await res.json() as { code: string }).code, 'session_revoked', `request ${i}`)
  }
  server.child.kill('SIGTERM')
  await waitForStatus(`http://127.0.0.1:${port}/ready`, 503)
  t.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200, 'the workers drain too')
  t.equal(await server.exited, 0)
  t.equal([...server.stdout().matchAll(/draining: \/ready answers 503/g)].length, 2, 'each worker drained')
})

const badSettings: Array<[string, Record<string, string>, RegExp]> = [
  ['a non-numeric PORT', { PORT: 'abc' }, /^Invalid configuration: PORT /],
  ['a plain-http remote issuer', { CLERK_ISSUER_URL: 'http://clerk.example.com' }, /^Invalid configuration: CLERK_ISSUER_URL /],
  ['an issuer that is not a URL', { CLERK_ISSUER_URL: 'clerk' }, /^Invalid configuration: CLERK_ISSUER_URL /],
  ['an authorized party that is not an origin', { CLERK_AUTHORIZED_PARTIES: 'https://app.example.com/path' }, /^Invalid configuration: CLERK_AUTHORIZED_PARTIES /],
  ['a negative clock skew', { CLERK_CLOCK_SKEW_MS: '-1' }, /^Invalid configuration: CLERK_CLOCK_SKEW_MS /],
  ['an unknown log level', { LOG_LEVEL: 'loud' }, /^Invalid configuration: LOG_LEVEL /],
  ['production without an issuer', { NODE_ENV: 'production' }, /^Invalid configuration: CLERK_ISSUER_URL is required when NODE_ENV=production/],
  ['a CLERK_JWT_KEY that is not a public key', { CLERK_ISSUER_URL: 'https://clerk.example.com', CLERK_JWT_KEY: 'abc' }, /^Invalid configuration: CLERK_JWT_KEY /],
  ['an unknown WORKERS value', { WORKERS: 'many' }, /^Invalid configuration: WORKERS /],
  ['a refresh interval under 100 ms', { CLERK_JWKS_REFRESH_INTERVAL_MS: '5' }, /^Invalid configuration: CLERK_JWKS_REFRESH_INTERVAL_MS /]
]

for (const [name, env, message] of badSettings) {
  t.test(`${name} stops start-up with one clear line`, async (t) => {
    const dir = tempDir(t)
    const server = startServer({ PORT: '0', DEV_ISSUER_PORT: '0', DEV_ISSUER_DIR: dir, ...env }, dir)
    t.teardown(() => { server.child.kill('SIGKILL') })
    t.equal(await server.exited, 1)
    const lines = server.stderr().trimEnd().split('\n')
    t.equal(lines.length, 1, 'one line')
    t.match(lines[0], message)
    t.notMatch(server.stderr(), /\n\s+at /, 'no stack trace')
  })
}
