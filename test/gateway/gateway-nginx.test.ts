// Gateway mode with a real nginx: Debian's nginx runs the shipped deploy/nginx/gateway.conf,
// with only its addresses swapped, in front of a small upstream that records every request it gets.
// The service is the app as the server builds it, listening on 127.0.0.1, against a real issuer.
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { m2mClaims, m2mHeader } from '../../plugins/clerk-auth/testing/index.js'
import { startIssuer, type TestIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { bearer } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp } from '../support/app.js'
import { serveOnLoopback } from '../support/loopback.js'
import { shippedConfig, startNginx, type RunningNginx } from '../support/nginx.js'

interface Received { method: string, url: string, headers: IncomingHttpHeaders, body: string }

/** The backend behind the gateway: answers 200 and keeps what it received. */
async function startUpstream (t: Test): Promise<{ port: number, received: Received[] }> {
  const received: Received[] = []
  const server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => { body += chunk.toString() })
    request.on('end', () => {
      received.push({ method: request.method as string, url: request.url as string, headers: request.headers, body })
      response.end(`backend: ${request.method as string} ${request.url as string}`)
    })
  })
  const { url } = await serveOnLoopback(t, server)
  return { port: Number(new URL(url).port), received }
}

/** The service, nginx with the shipped gateway configuration, and the recording upstream. */
async function startGateway (t: Test, issuer: TestIssuer, edit = (config: string): string => config): Promise<{ nginx: RunningNginx, received: Received[], closeService: () => Promise<void> }> {
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const upstream = await startUpstream(t)
  const config = edit(shippedConfig('deploy/nginx/gateway.conf'))
    .replace('server 127.0.0.1:3000;', `server 127.0.0.1:${(app.server.address() as AddressInfo).port};`)
    .replace('server 127.0.0.1:9000;', `server 127.0.0.1:${upstream.port};`)
  t.not(config, shippedConfig('deploy/nginx/gateway.conf'), 'addresses swapped')
  const nginx = await startNginx(t, config)
  return { nginx, received: upstream.received, closeService: async () => await app.close() }
}

const member = { v: 2, fea: 'o:invoices', o: { id: 'org_acme', rol: 'member', slg: 'acme', per: 'read', fpm: '1' } }
const clerkHeaders = (headers: IncomingHttpHeaders): Record<string, unknown> =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('x-clerk-')))

t.test('nginx asks the service about every request and forwards only what it admits', async (t) => {
  const issuer = await startIssuer(t)
  const { nginx, received } = await startGateway(t, issuer)
  const send = async (path: string, init: RequestInit = {}): Promise<{ status: number, headers: Headers, body: string, reached: Received[] }> => {
    const before = received.length
    const res = await fetch(`${nginx.url}${path}`, init)
    const body = await res.text()
    return { status: res.status, headers: res.headers, body, reached: received.slice(before) }
  }

  t.test('a valid token: the upstream gets the request with the identity headers', async (t) => {
    const res = await send('/orders/7?page=2', { headers: bearer(issuer.sign(issuer.sessionClaims({ sub: 'user_42', sid: 'sess_42' }))) })
    t.equal(res.status, 200)
    t.equal(res.body, 'backend: GET /orders/7?page=2')
    t.equal(res.reached.length, 1)
    t.same(clerkHeaders(res.reached[0]?.headers ?? {}), { 'x-clerk-user-id': 'user_42', 'x-clerk-session-id': 'sess_42', 'x-clerk-token-type': 'session_token' })
  })

  t.test('no token: 401 with the service\'s code, message and WWW-Authenticate; the upstream sees nothing', async (t) => {
    const res = await send('/orders/7')
    t.equal(res.status, 401)
    t.equal(res.headers.get('content-type'), 'application/json')
    t.match(JSON.parse(res.body), { statusCode: 401, code: 'token_missing', message: /No token/ })
    t.equal(res.headers.get('www-authenticate'), 'Bearer realm="api"', 'once')
    t.same(res.reached, [])
  })

  t.test('a bad token: 401 with its code; the upstream sees nothing', async (t) => {
    const res = await send('/orders/7', { headers: bearer(`${issuer.sign().slice(0, -4)}AAAA`) })
    t.equal(res.status, 401)
    t.equal(JSON.parse(res.body).code, 'token_signature_invalid')
    t.match(res.headers.get('www-authenticate'), /error="invalid_token"/)
    t.same(res.reached, [])
  })

  t.test('a missing permission: 403 forbidden with what is missing; with it, the organization reaches the upstream', async (t) => {
    const res = await send('/invoices/1', { headers: bearer(issuer.sign()) })
    t.equal(res.status, 403)
    t.match(JSON.parse(res.body), { code: 'forbidden', missing: { permission: 'org:invoices:read' } })
    t.same(res.reached, [])
    const granted = await send('/invoices/1', { headers: bearer(issuer.sign(issuer.sessionClaims(member))) })
    t.equal(granted.status, 200)
    t.match(clerkHeaders(granted.reached[0]?.headers ?? {}), { 'x-clerk-org-id': 'org_acme', 'x-clerk-org-role': 'org:member', 'x-clerk-org-slug': 'acme' })
  })

  t.test('a client-sent X-Clerk-* header never reaches the upstream, with underscores neither', async (t) => {
    for (const name of ['X-Clerk-User-Id', 'X-Clerk-Org-Role', 'X-Clerk-Whatever']) {
      const res = await send('/orders/7', { headers: { ...bearer(issuer.sign()), [name]: 'user_admin' } })
      t.equal(res.status, 403, name)
      t.equal(JSON.parse(res.body).code, 'identity_header_sent')
      t.same(res.reached, [])
    }
    // With underscores (which CGI, WSGI and Rack read as X-Clerk-*): nginx drops such names
    // (underscores_in_headers off, the default), so they reach neither the service nor the upstream.
    for (const name of ['X_Clerk_User_Id', 'X-Clerk_Org_Id']) {
      const res = await send('/orders/7', { headers: { ...bearer(issuer.sign()), [name]: 'user_admin' } })
      t.equal(res.status, 200, name)
      t.same(Object.keys(res.reached[0]?.headers ?? {}).filter((header) => /^x[-_]clerk[-_]/i.test(header) && res.reached[0]?.headers[header] === 'user_admin'), [], `${name} never reaches the upstream`)
    }
    const publicRoute = await send('/status', { headers: { 'X-Clerk-User-Id': 'user_admin' } })
    t.equal(publicRoute.status, 200, 'a public location is not checked')
    t.equal(publicRoute.reached[0]?.headers['x-clerk-user-id'], undefined, 'and still loses the header nginx sets')
    t.notOk(received.some((request) => Object.values(clerkHeaders(request.headers)).includes('user_admin')), 'in no request so far')
  })

  t.test('the client\'s query cannot change what a location requires', async (t) => {
    const m2m = bearer(issuer.sign(m2mClaims({ issuer: issuer.url, machineId: 'mch_worker' }), { header: m2mHeader }))
    const widened = await send('/orders/7?acceptsToken=m2m_token', { headers: m2m })
    t.equal(widened.status, 401)
    t.equal(JSON.parse(widened.body).code, 'token_type_not_accepted')
    const narrowed = await send('/orders/7?permission=org:admin:all', { headers: bearer(issuer.sign()) })
    t.equal(narrowed.status, 200, 'no requirement added either')
    const machine = await send('/reports/weekly', { headers: m2m })
    t.equal(machine.status, 200, 'where the location accepts M2M tokens')
    t.match(clerkHeaders(machine.reached[0]?.headers ?? {}), { 'x-clerk-token-type': 'm2m_token', 'x-clerk-machine-id': 'mch_worker', 'x-clerk-subject': 'mch_worker' })
  })

  t.test('a request body goes to the upstream untouched; the service never reads it', async (t) => {
    const res = await send('/orders', { method: 'POST', headers: { ...bearer(issuer.sign()), 'content-type': 'application/json' }, body: '{"item":"book"}' })
    t.equal(res.status, 200)
    t.equal(res.reached[0]?.method, 'POST')
    t.equal(res.reached[0]?.body, '{"item":"book"}')
  })

  t.test('the issuer down after warm-up: cached keys keep serving new tokens', async (t) => {
    issuer.jwksFault = 'error'
    const res = await send('/orders/8', { headers: bearer(issuer.sign(issuer.sessionClaims({ sid: 'sess_after_outage' }))) })
    t.equal(res.status, 200)
    t.equal(res.reached[0]?.headers['x-clerk-session-id'], 'sess_after_outage')
    issuer.jwksFault = undefined
  })

  t.equal(nginx.errors().includes('[emerg]'), false, 'nginx took the configuration as shipped')
})

t.test('nginx passes on 503 with Retry-After when the issuer cannot be reached, and fails closed without the service', async (t) => {
  const issuer = await startIssuer(t)
  issuer.jwksFault = 'error'
  const { nginx, received, closeService } = await startGateway(t, issuer)
  const unavailable = await fetch(`${nginx.url}/orders/1`, { headers: bearer(issuer.sign()) })
  t.equal(unavailable.status, 503)
  t.equal(unavailable.headers.get('retry-after'), '5')
  t.equal(JSON.parse(await unavailable.text()).code, 'issuer_unavailable')
  await closeService()
  const down = await fetch(`${nginx.url}/orders/1`, { headers: bearer(issuer.sign()) })
  await down.arrayBuffer()
  t.equal(down.status, 500, 'the service unreachable: refused')
  t.same(received, [], 'the upstream saw nothing')
})

t.test('the documented CORS preflight block answers preflights before the check; real requests are still checked', async (t) => {
  const snippet = /```nginx\n( +if \(\$request_method = OPTIONS\) \{[\s\S]*?\n +\}\n)```/.exec(shippedConfig('docs/gateway.md'))?.[1]
  t.ok(snippet, 'docs/gateway.md prints it')
  const issuer = await startIssuer(t)
  const { nginx, received } = await startGateway(t, issuer, (config) => config.replace('        set $clerk_access "";\n', `        set $clerk_access "";\n${snippet as string}`))
  const preflight = await fetch(`${nginx.url}/orders/7`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' } })
  await preflight.arrayBuffer()
  t.equal(preflight.status, 204)
  t.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example.com')
  t.match(preflight.headers.get('access-control-allow-headers'), /Authorization/)
  t.same(received, [], 'the backend is not asked')
  const real = await fetch(`${nginx.url}/orders/7`, { method: 'POST', headers: { origin: 'https://app.example.com' } })
  await real.arrayBuffer()
  t.equal(real.status, 401, 'the request itself is checked')
  t.same(received, [])
})
