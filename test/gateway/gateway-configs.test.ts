// The shipped gateway examples, held to what the service sends and reads. nginx's runs for
// real in gateway-nginx.test.ts; Traefik's and Envoy's are checked for shape only (neither is packaged
// where CI runs): every requirement parses, every identity header is forwarded and none from the client.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { authFromClaims, machineAuthFromClaims, machineAuthFromVerification } from '../../plugins/clerk-auth/auth-object.js'
import { identityHeaders, parseGatewayAccess } from '../../plugins/clerk-auth/index.js'
import { pathParameters } from '../../plugins/clerk-auth/gateway.js'

const read = (path: string): string => readFileSync(join(import.meta.dirname, '../..', path), 'utf8')
// The examples reach the service as the Kubernetes Service in deploy/kubernetes/ names it.
const service = parse(read('deploy/kubernetes/service.yaml')) as { metadata: { name: string }, spec: { ports: Array<{ port: number }> } }
const serviceHost = service.metadata.name
const servicePort = service.spec.ports[0]?.port as number

const apiKey = (subject: string) => ({ object: 'api_key', id: 'ak_1', subject, scopes: [], claims: null, revoked: false, expired: false, expiration: null })
// Every identity header the service can send, from a caller of each kind with every field set.
const identityNames = [...new Set([
  authFromClaims({ sub: 'user_1', sid: 'sess_1', v: 2, o: { id: 'org_1', rol: 'admin', slg: 'one' } }),
  machineAuthFromClaims('m2m_token', { sub: 'mch_1', jti: 'mt_1' }),
  machineAuthFromClaims('oauth_token', { sub: 'user_1', client_id: 'client_1', jti: 'oat_1' }),
  machineAuthFromVerification('api_key', apiKey('org_1')),
  machineAuthFromVerification('api_key', apiKey('user_1'))
].flatMap((auth) => Object.keys(identityHeaders(auth))))].sort()

t.test('the identity headers', async (t) => {
  t.same(identityNames, ['x-clerk-client-id', 'x-clerk-machine-id', 'x-clerk-org-id', 'x-clerk-org-role', 'x-clerk-org-slug', 'x-clerk-session-id', 'x-clerk-subject', 'x-clerk-token-type', 'x-clerk-user-id'])
})

t.test('nginx: every identity header is read from the answer and set for the backend', async (t) => {
  const config = read('deploy/nginx/gateway.conf')
  const set = [...config.matchAll(/proxy_set_header (X-Clerk-[\w-]+) \$(\w+);/g)]
  t.same(set.map(([, name]) => (name as string).toLowerCase()).sort(), identityNames)
  for (const [, name, variable] of set) {
    t.match(config, `auth_request_set $${variable as string} $upstream_http_${(name as string).toLowerCase().replaceAll('-', '_')};`, name as string)
  }
  const accesses = [...config.matchAll(/set \$clerk_access "([^"]*)";/g)].map(([, access]) => access as string)
  t.ok(accesses.length >= 3)
  for (const access of accesses) t.type(parseGatewayAccess(access), 'object', access)
  t.match(config, 'proxy_pass http://clerk_auth/auth/verify?$clerk_access;')
  // HEAD keeps nginx's connection to the service across refusals (the bench: no token 105 -> 30 CPU µs a request)
  t.match(config, /location = \/_clerk_auth \{[^}]*proxy_method HEAD;/)
  t.match(config, /location = \/_clerk_auth \{[^}]*proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/, 'the client\'s address, for its budget of calls to Clerk')
})

interface ForwardAuth { address: string, authResponseHeadersRegex?: string, trustForwardHeader?: boolean }
interface Traefik { http: { middlewares: Record<string, { forwardAuth?: ForwardAuth }>, routers: Record<string, { middlewares?: string[] }> } }

t.test('Traefik: fixed addresses with usable requirements; X-Clerk-* stripped, then copied from the answer', async (t) => {
  const { http } = parse(read('deploy/traefik/gateway.yaml')) as Traefik
  for (const [name, middleware] of Object.entries(http.middlewares)) {
    const forward = middleware.forwardAuth as ForwardAuth
    const address = new URL(forward.address)
    t.equal(address.pathname, '/auth/verify', name)
    t.equal(address.host, servicePort === 80 ? serviceHost : `${serviceHost}:${servicePort}`, `${name}: the Kubernetes Service`)
    t.type(parseGatewayAccess(address.search.slice(1)), 'object', `${name}: ${address.search}`)
    t.not(forward.trustForwardHeader, true)
    // Go's (?i) prefix is JavaScript's i flag
    const source = forward.authResponseHeadersRegex as string
    const regex = source.startsWith('(?i)') ? new RegExp(source.slice(4), 'i') : new RegExp(source)
    t.ok(identityNames.every((header) => regex.test(header.replace(/(^|-)x|(^|-)\w/g, (part) => part.toUpperCase()))), `${name}: every identity header, as Go writes it`)
    for (const forged of ['X_Clerk_User_Id', 'X-Clerk_Org_Id', 'x_clerk-org-role', 'X-CLERK-USER-ID', 'x-clerk-user-id']) {
      t.ok(regex.test(forged), `${name}: a client's ${forged} is stripped (CGI, WSGI and Rack read _ as -)`)
    }
    t.notOk(['Authorization', 'Cookie', 'X-Forwarded-For', 'X-My-X-Clerk-Id', 'X-Clerkish', 'Xclerk-User-Id'].some((header) => regex.test(header)), `${name}: nothing else`)
  }
  const unprotected = Object.entries(http.routers).filter(([, router]) => (router.middlewares ?? []).length === 0).map(([name]) => name)
  t.same(unprotected, ['status'], 'only the public router goes without')
  for (const router of Object.values(http.routers)) for (const name of router.middlewares ?? []) t.ok(http.middlewares[name]?.forwardAuth, name)
})

interface Patterns { patterns: Array<{ exact?: string, prefix?: string }> }
interface ExtAuthz {
  failure_mode_allow?: boolean
  http_service: {
    path_prefix: string
    authorization_request: { allowed_headers: Patterns }
    authorization_response: { allowed_upstream_headers: Patterns, allowed_client_headers: Patterns }
  }
}
interface Filter { name: string, disabled?: boolean, typed_config: { '@type': string } & Partial<ExtAuthz> }
interface Route { match: { path?: string, prefix?: string }, typed_per_filter_config?: Record<string, { disabled?: boolean }> }
interface Envoy {
  static_resources: {
    listeners: Array<{ filter_chains: Array<{ filters: Array<{ typed_config: { http_filters: Filter[], route_config: { virtual_hosts: Array<{ routes: Route[] }> } } }> }> }>
  }
}

t.test('Envoy: requirements in path_prefix only, client X-Clerk-* headers sent to be refused, exactly one check per route', async (t) => {
  const envoy = parse(read('deploy/envoy/gateway.yaml')) as Envoy
  const manager = envoy.static_resources.listeners[0]?.filter_chains[0]?.filters[0]?.typed_config as Envoy['static_resources']['listeners'][0]['filter_chains'][0]['filters'][0]['typed_config']
  const checks = manager.http_filters.filter((filter) => filter.typed_config['@type'].endsWith('ext_authz.v3.ExtAuthz'))
  t.ok(checks.length >= 2)
  t.equal(manager.http_filters.at(-1)?.name, 'envoy.filters.http.router', 'the router last')
  for (const check of checks) {
    const config = check.typed_config as ExtAuthz
    t.not(config.failure_mode_allow, true, `${check.name}: fails closed`)
    const { path_prefix: prefix } = config.http_service
    t.ok(prefix.startsWith('/auth/verify/'), prefix)
    const segment = prefix.slice('/auth/verify/'.length)
    t.equal(pathParameters(`${segment}/client/path?acceptsToken=m2m_token`), segment, `${check.name}: the segment is read, the client's query is not`)
    t.type(parseGatewayAccess(segment), 'object', `${check.name}: ${segment}`)
    t.same(config.http_service.authorization_request.allowed_headers.patterns, [{ exact: 'cookie' }, { exact: 'x-forwarded-for' }, { prefix: 'x-clerk-' }, { exact: 'traceparent' }, { exact: 'tracestate' }],
      'the session cookie, the client\'s address, client X-Clerk-* headers for the service to refuse, and the trace context')
    t.same(config.http_service.authorization_response.allowed_upstream_headers.patterns, [{ prefix: 'x-clerk-' }])
    t.same(config.http_service.authorization_response.allowed_client_headers.patterns.map((p) => p.exact), ['www-authenticate', 'retry-after', 'content-type'])
  }
  const cluster = (envoy as unknown as { static_resources: { clusters: Array<{ name: string, load_assignment: { endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { address: string, port_value: number } } } }> }> } }> } })
    .static_resources.clusters.find((entry) => entry.name === 'clerk_auth')
  t.same(cluster?.load_assignment.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address, { address: serviceHost, port_value: servicePort }, 'the Kubernetes Service')
  // Envoy: a name with an underscore never reaches the service or the backend; hyphenated ones are refused by the service.
  const edge = manager as unknown as { common_http_protocol_options?: { headers_with_underscores_action?: string }, use_remote_address?: boolean }
  t.equal(edge.common_http_protocol_options?.headers_with_underscores_action, 'REJECT_REQUEST', 'X_Clerk_User_Id is refused at the edge')
  t.equal(edge.use_remote_address, true, 'X-Forwarded-For carries the client\'s address')
  const routes = manager.route_config.virtual_hosts.flatMap((host) => host.routes)
  for (const route of routes) {
    const enabled = checks.filter((check) => {
      const override = route.typed_per_filter_config?.[check.name]
      return override === undefined ? check.disabled !== true : override.disabled !== true
    })
    t.equal(enabled.length, route.match.path === '/status' ? 0 : 1, JSON.stringify(route.match))
  }
})
