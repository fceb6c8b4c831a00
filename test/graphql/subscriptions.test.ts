// GraphQL subscriptions over real sockets: the caller decided at connection_init, the socket's life
// bound to its token (refreshed in a ping, or closed at the deadline by the clock passed in), Clerk's
// revocations closing it at once, and every socket bounded.
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { json } from 'node:stream/consumers'
import type { FastifyInstance } from 'fastify'
import { createClient, type Client } from 'graphql-ws'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import type { TestIssuer } from '../../plugins/clerk-auth/testing/index.js'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { testClock } from '../../plugins/clerk-auth/test/support/observe.js'
import { resolvers } from '../../plugins/graphql/schema.js'
import { buildApp, type Env } from '../support/app.js'
import { graphqlPluginApp } from '../support/graphql-plugin.js'
import { freePort } from '../support/loopback.js'
import { metricValue, readMetrics } from '../support/metrics.js'

interface Setup { app: FastifyInstance, issuer: TestIssuer, clock: ReturnType<typeof testClock>, url: string }

async function setUp (t: Test, env: Env = {}): Promise<Setup> {
  const clock = testClock()
  const issuer = await startIssuer(t, { now: clock.now })
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_WEBHOOK_SIGNING_SECRET: issuer.webhookSigningSecret, ...env }, { now: clock.now })
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, issuer, clock, url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/graphql` }
}

/** A raw socket speaking a subprotocol, with every message it receives and how it closed. */
async function rawSocket (t: Test, url: string, options: { protocol?: string, headers?: Record<string, string> } = {}) {
  const socket = new WebSocket(url, options.protocol ?? 'graphql-transport-ws', { headers: options.headers })
  t.teardown(() => { socket.terminate() })
  const received: Array<Record<string, unknown>> = []
  socket.on('message', (data) => { received.push(JSON.parse(data.toString()) as Record<string, unknown>) })
  const closed = once(socket, 'close').then(([code, reason]) => ({ code: code as number, reason: (reason as Buffer).toString() }))
  await once(socket, 'open')
  const send = (message: unknown): void => { socket.send(JSON.stringify(message)) }
  /** The next message of this type, and of this subscription id when one is given (already received or to come). */
  const next = async (type: string, id?: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const index = received.findIndex((message) => message.type === type && (id === undefined || message.id === id))
      if (index !== -1) return received.splice(index, 1)[0] as Record<string, unknown>
      await once(socket, 'message')
    }
  }
  return { socket, received, closed, send, next }
}

const init = (token: string) => ({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })

/** A raw socket past connection_ack, signed in with token. */
async function signedIn (t: Test, url: string, token: string, options: { protocol?: string } = {}): ReturnType<typeof rawSocket> {
  const raw = await rawSocket(t, url, options)
  raw.send(init(token))
  await raw.next('connection_ack')
  return raw
}
const subscribe = (id: string, query: string) => ({ type: 'subscribe', id, payload: { query } })

/** A graphql-ws client that never retries, closed when the test ends. */
function client (t: Test, url: string, connectionParams: Record<string, unknown> | (() => Record<string, unknown>)): Client {
  const made = createClient({ url, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true })
  t.teardown(async () => { await made.dispose() })
  return made
}

t.test('with the graphql-ws client: pings as they come, two refreshes on the open socket, then 4401 token_expired at the deadline and nothing after it', async (t) => {
  const { issuer, clock, url } = await setUp(t)
  const graphql = client(t, url, { authorization: `Bearer ${issuer.sessionToken({ sid: 'sess_live' })}` })
  let socket: WebSocket | undefined
  graphql.on('connected', (connected) => { socket = connected as WebSocket })
  const pongs: unknown[] = []
  graphql.on('pong', (_received, payload) => { pongs.push(payload) })
  const closed = new Promise<{ code: number, reason: string }>((resolve) => graphql.on('closed', (event) => { resolve(event as { code: number, reason: string }) }))

  const pings = graphql.iterate<{ pings: string }>({ query: 'subscription { pings(id: "7", everyMs: 250) }' })
  t.same((await pings.next()).value, { data: { pings: 'GraphQL Ping #7!' } })

  for (const round of [1, 2]) {
    clock.advance(50_000)
    const fresh = issuer.sessionToken({ sid: 'sess_live' })
    ;(socket as WebSocket).send(JSON.stringify({ type: 'ping', payload: { authorization: `Bearer ${fresh}` } }))
    // past the first token's deadline: only the refresh keeps the socket open
    clock.advance(15_000)
    t.same((await pings.next()).value, { data: { pings: 'GraphQL Ping #7!' } }, `still served after refresh ${round}`)
  }
  t.equal(pongs.length, 2, 'each refresh answered with a pong')

  // the next message received: the clock moves past the last token's exp (60 s) plus the skew (5 s)
  const afterDeadline: unknown[] = []
  await pings.next()
  clock.advance(50_001)
  ;(socket as WebSocket).on('message', (data) => { afterDeadline.push(data.toString()) })
  const { code, reason } = await closed
  t.equal(code, 4401)
  t.equal(reason, 'token_expired')
  t.same(afterDeadline, [], 'nothing is sent after the deadline')
})

t.test('a refresh with a token of another session or user closes the socket with 4403; an invalid one with its refusal code', async (t) => {
  const { issuer, url } = await setUp(t)
  const cases: Array<[string, string, number, string]> = [
    ['another session', issuer.sessionToken({ sid: 'sess_other' }), 4403, 'session_mismatch'],
    ['another user', issuer.sessionToken({ sub: 'user_other', sid: 'sess_mine' }), 4403, 'session_mismatch'],
    ['an expired token', issuer.brokenTokens().expired, 4401, 'token_expired'],
    ['a forged one', issuer.brokenTokens().badSignature, 4401, 'token_signature_invalid']
  ]
  for (const [name, token, code, reason] of cases) {
    const raw = await signedIn(t, url, issuer.sessionToken({ sid: 'sess_mine' }))
    raw.send({ type: 'ping', payload: { authorization: `Bearer ${token}` } })
    t.same(await raw.closed, { code, reason }, name)
  }
  const raw = await signedIn(t, url, issuer.sessionToken())
  raw.send({ type: 'ping', payload: { authorization: 42 } })
  t.same(await raw.closed, { code: 4400, reason: 'invalid_ping_payload' })
})

t.test('who is calling is decided at connection_init: the payload\'s token, under headers too, or the upgrade\'s __session cookie', async (t) => {
  const { issuer, url } = await setUp(t)
  const whoami = 'subscription { whoami { userId sessionId orgRole } }'
  const payloads: Array<[string, Record<string, unknown> | undefined, Record<string, string>]> = [
    ['authorization at the top', { authorization: `Bearer ${issuer.sessionToken({ sub: 'user_a' })}` }, {}],
    ['Authorization under headers', { headers: { Authorization: `Bearer ${issuer.sessionToken({ sub: 'user_b' })}` } }, {}],
    ['the cookie of the upgrade', undefined, { cookie: `__session=${issuer.sessionToken({ sub: 'user_c' })}` }]
  ]
  for (const [name, payload, headers] of payloads) {
    const raw = await rawSocket(t, url, { headers })
    raw.send({ type: 'connection_init', payload })
    await raw.next('connection_ack')
    raw.send(subscribe('1', whoami))
    t.match((await raw.next('next')).payload, { data: { whoami: { userId: /^user_[abc]$/, sessionId: 'sess_test' } } }, name)
  }

  const refusals: Array<[string, unknown, string]> = [
    ['no token', {}, 'token_missing'],
    ['an expired token', { authorization: `Bearer ${issuer.brokenTokens().expired}` }, 'token_expired'],
    ['another scheme', { authorization: 'Basic YTpi' }, 'token_scheme_invalid'],
    ['an M2M token: sockets take sessions', { authorization: `Bearer ${issuer.m2mToken()}` }, 'token_type_not_accepted']
  ]
  for (const [name, payload, reason] of refusals) {
    const raw = await rawSocket(t, url)
    raw.send({ type: 'connection_init', payload })
    t.same(await raw.closed, { code: 4401, reason }, name)
  }
  const bad = await rawSocket(t, url)
  bad.send({ type: 'connection_init', payload: { authorization: ['Bearer x'] } })
  t.same(await bad.closed, { code: 4400, reason: 'invalid_connection_params' })
})

t.test('an upgrade from a page of a foreign origin is refused before a socket exists; an allowed origin, or the service\'s own host, opens one', async (t) => {
  const { url } = await setUp(t, { CORS_ORIGINS: 'https://app.example.com' })
  const foreign = new WebSocket(url, 'graphql-transport-ws', { headers: { origin: 'https://evil.example' } })
  foreign.on('error', () => {})
  const [, response] = await once(foreign, 'unexpected-response') as [unknown, import('node:http').IncomingMessage]
  t.equal(response.statusCode, 403)
  t.equal(response.headers['content-type'], 'application/json; charset=utf-8')
  t.same(await json(response), { statusCode: 403, error: 'Forbidden', code: 'origin_not_allowed', message: 'Pages of this origin may not open a GraphQL socket: the service\'s allowed origins (CORS) do not list it.' })
  foreign.terminate()
  const allowed = new WebSocket(url, 'graphql-transport-ws', { headers: { origin: 'https://app.example.com' } })
  t.teardown(() => { allowed.terminate() })
  await once(allowed, 'open')
  t.pass('the allowed origin\'s socket is open')
  const own = new WebSocket(url, 'graphql-transport-ws', { headers: { origin: new URL(url.replace('ws:', 'http:')).origin } })
  t.teardown(() => { own.terminate() })
  await once(own, 'open')
  t.pass('a page of the service\'s own host (GraphiQL) opens one whatever CORS lists')
})

t.test('a signed session.revoked closes that session\'s sockets at once with 4401 session_revoked, and no other; metrics count sockets, subscriptions and closes', async (t) => {
  const { app, issuer, url } = await setUp(t, { METRICS_PORT: await freePort() })
  const gone = await signedIn(t, url, issuer.sessionToken({ sid: 'sess_gone' }))
  const kept = await signedIn(t, url, issuer.sessionToken({ sid: 'sess_kept' }))
  const delivery = issuer.webhook('session.revoked', { sessionId: 'sess_gone' })
  t.equal((await app.inject({ method: 'POST', url: '/webhooks/clerk', headers: delivery.headers, payload: delivery.body })).statusCode, 200)
  t.same(await gone.closed, { code: 4401, reason: 'session_revoked' })
  kept.send(subscribe('1', 'subscription { pings(id: "1") }'))
  t.match((await kept.next('next')).payload, { data: { pings: 'GraphQL Ping #1!' } }, 'another session keeps its socket')
  const samples = await readMetrics(app)
  t.equal(metricValue(samples, 'graphql_ws_sockets'), 1)
  t.equal(metricValue(samples, 'graphql_ws_subscriptions'), 1)
  t.equal(metricValue(samples, 'graphql_ws_closes_total', { code: '4401' }), 1)
})

t.test('@auth requirements are checked at subscribe; bad arguments and invalid documents get an error for that subscription only', async (t) => {
  const { issuer, url } = await setUp(t)
  const member = issuer.sessionToken({ org: { id: 'org_acme', slug: 'acme', role: 'member', permissions: ['org:pings:read'] } })
  const outsider = issuer.sessionToken({ org: { id: 'org_acme', slug: 'acme', role: 'member', permissions: [] } })
  const allowed = await signedIn(t, url, member)
  allowed.send(subscribe('1', 'subscription { orgPings(id: "3", everyMs: 250) }'))
  t.match((await allowed.next('next')).payload, { data: { orgPings: 'Org Ping #3 for acme!' } })

  const refused = await signedIn(t, url, outsider)
  refused.send(subscribe('1', 'subscription { orgPings(id: "3") }'))
  t.match(await refused.next('error'), { id: '1', payload: [{ extensions: { code: 'FORBIDDEN', missing: { permission: 'org:pings:read' } } }] })
  refused.send(subscribe('2', 'subscription { pings(id: "3", everyMs: 10) }'))
  t.match(await refused.next('error'), { id: '2', payload: [{ message: 'everyMs must be a whole number from 250 to 60000', extensions: { code: 'BAD_USER_INPUT' } }] })
  refused.send(subscribe('5', 'subscription { pings(id: "5", everyMs: 60001) }'))
  t.match(await refused.next('error'), { id: '5', payload: [{ extensions: { code: 'BAD_USER_INPUT' } }] }, 'one more than the longest period')
  refused.send(subscribe('6', 'subscription { pings(id: "6", everyMs: 60000) }'))
  t.match(await refused.next('next'), { id: '6', payload: { data: { pings: 'GraphQL Ping #6!' } } }, 'the longest period is served, with its first ping at once')
  refused.send(subscribe('3', 'subscription { pongs }'))
  t.match(await refused.next('error'), { id: '3', payload: [{ message: /Cannot query field "pongs" on type "Subscription"/, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] })
  refused.send(subscribe('4', 'subscription { pings(id: "4", everyMs: 250) }'))
  t.match((await refused.next('next')).payload, { data: { pings: 'GraphQL Ping #4!' } }, 'the socket goes on')
})

t.test('at subscribe, the query limits hold before validation; with introspection closed, validation messages make no suggestions', async (t) => {
  const { issuer, url } = await setUp(t, { GRAPHQL_PUBLIC_INTROSPECTION: 'false' })
  const raw = await signedIn(t, url, issuer.sessionToken())
  // 2^9 fields through fragments that each spread the next one twice
  const fragments = Array.from({ length: 9 }, (_, i) => `fragment F${i} on Me { ...F${i + 1} ...F${i + 1} }`).join(' ')
  raw.send(subscribe('1', `subscription { whoami { ...F0 } } ${fragments} fragment F9 on Me { userId }`))
  t.match(await raw.next('error'), { id: '1', payload: [{ extensions: { code: 'QUERY_TOO_COMPLEX' } }] })
  raw.send(subscribe('2', 'subscription { ping(id: "1") }'))
  t.same(await raw.next('error'), { type: 'error', id: '2', payload: [{ message: 'Cannot query field "ping" on type "Subscription".', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] })
})

t.test('an ended subscription stops its timer at once, even while it waits for the next tick', async (t) => {
  const subscribeField = (resolvers.Subscription as Record<string, { subscribe: (root: unknown, args: { everyMs: number }) => AsyncIterableIterator<unknown> }>).pings
  const ticks = subscribeField?.subscribe(null, { everyMs: 60_000 }) as AsyncIterableIterator<unknown>
  t.same(await ticks.next(), { value: undefined, done: false }, 'the first tick at once')
  const waiting = ticks.next()
  t.same(await ticks.return?.(), { value: undefined, done: true })
  t.same(await waiting, { value: undefined, done: true }, 'the awaited tick ends with the subscription, not a minute later')
  t.same(await ticks.next(), { value: undefined, done: true }, 'and nothing comes after')
})

t.test('the legacy graphql-ws subprotocol is served the same way', async (t) => {
  const { issuer, url } = await setUp(t)
  const legacy = await signedIn(t, url, issuer.sessionToken(), { protocol: 'graphql-ws' })
  legacy.send({ type: 'start', id: '1', payload: { query: 'subscription { pings(id: "9") }' } })
  t.match((await legacy.next('data')).payload, { data: { pings: 'GraphQL Ping #9!' } })
  const anonymous = await rawSocket(t, url, { protocol: 'graphql-ws' })
  anonymous.send({ type: 'connection_init' })
  t.same(await anonymous.closed, { code: 4401, reason: 'token_missing' })
})

t.test('the legacy stop ends a subscription for the subscriptions gauge too', async (t) => {
  const { app, issuer, url } = await setUp(t, { METRICS_PORT: await freePort() })
  const legacy = await signedIn(t, url, issuer.sessionToken(), { protocol: 'graphql-ws' })
  legacy.send({ type: 'start', id: '1', payload: { query: 'subscription { pings(id: "1") }' } })
  await legacy.next('data')
  legacy.send({ type: 'stop', id: '1' })
  legacy.send({ type: 'start', id: '2', payload: { query: 'subscription { pings(id: "2") }' } })
  // messages of one socket are handled in order: data for 2 comes after the stop is counted
  await legacy.next('data', '2')
  t.equal(metricValue(await readMetrics(app), 'graphql_ws_subscriptions'), 1)
})

t.test('the protocol is held to: one init, acknowledgement before subscribing, unique and bounded subscriptions, small messages', async (t) => {
  const { issuer, url } = await setUp(t, { GRAPHQL_WS_MAX_SUBSCRIPTIONS_PER_SOCKET: 2, GRAPHQL_WS_MAX_MESSAGE_BYTES: 2048 })
  const early = await rawSocket(t, url)
  early.send(subscribe('1', 'subscription { pings(id: "1") }'))
  t.same(await early.closed, { code: 4401, reason: 'unauthorized' }, 'subscribe before connection_ack')

  const twice = await signedIn(t, url, issuer.sessionToken())
  twice.send(init(issuer.sessionToken()))
  t.same(await twice.closed, { code: 4429, reason: 'too_many_initialisation_requests' })

  const duplicate = await signedIn(t, url, issuer.sessionToken())
  duplicate.send(subscribe('1', 'subscription { pings(id: "1") }'))
  duplicate.send(subscribe('1', 'subscription { pings(id: "1") }'))
  t.same(await duplicate.closed, { code: 4409, reason: 'subscriber_already_exists' })

  const many = await signedIn(t, url, issuer.sessionToken())
  many.send(subscribe('1', 'subscription { pings(id: "1") }'))
  many.send(subscribe('2', 'subscription { pings(id: "2") }'))
  many.send({ type: 'complete', id: '1' })
  many.send(subscribe('3', 'subscription { pings(id: "3") }'))
  await many.next('next')
  many.send(subscribe('4', 'subscription { pings(id: "4") }'))
  t.same(await many.closed, { code: 4400, reason: 'too_many_subscriptions' }, 'a completed subscription frees its place; a third open one is refused')

  const large = await signedIn(t, url, issuer.sessionToken())
  large.send(subscribe('1', `subscription { pings(id: "${'x'.repeat(4096)}") }`))
  t.equal((await large.closed).code, 1009, 'a message over GRAPHQL_WS_MAX_MESSAGE_BYTES')
})

t.test('subscription ids are non-empty strings of at most 128 characters; messages that are no object are Mercurius\' to answer', async (t) => {
  const { app, issuer, url } = await setUp(t)
  for (const [name, id] of [['an empty id', ''], ['an id of 129 characters', 'i'.repeat(129)], ['an id that is a number', 42]] as const) {
    const raw = await signedIn(t, url, issuer.sessionToken())
    raw.send({ type: 'subscribe', id, payload: { query: 'subscription { pings(id: "1") }' } })
    t.same(await raw.closed, { code: 4400, reason: 'invalid_subscription_id' }, name)
  }
  const longest = await signedIn(t, url, issuer.sessionToken())
  longest.send(subscribe('i'.repeat(128), 'subscription { pings(id: "1") }'))
  t.match(await longest.next('next'), { id: 'i'.repeat(128), payload: { data: { pings: 'GraphQL Ping #1!' } } }, 'an id of 128 characters')
  for (const text of ['null', '42', '"text"', 'not JSON']) {
    const raw = await signedIn(t, url, issuer.sessionToken())
    raw.socket.send(text)
    raw.send({ type: 'ping' })
    // Mercurius closes the socket or goes on: either way the message was handled without a throw
    t.ok(await Promise.race([raw.next('pong'), raw.closed]), text)
  }
  const after = await signedIn(t, url, issuer.sessionToken())
  after.send(subscribe('1', 'subscription { pings(id: "1") }'))
  t.match(await after.next('next'), { id: '1' }, 'and the server goes on')
  t.ok(app.server.listening)
})

t.test('a ping without a token is answered and changes nothing; completes of unknown ids are ignored; the subscriptions gauge follows completes and closes', async (t) => {
  const { app, issuer, url } = await setUp(t, { METRICS_PORT: await freePort() })
  const upgraded = once(app.server, 'upgrade') as Promise<[unknown, import('node:net').Socket]>
  const raw = await signedIn(t, url, issuer.sessionToken())
  const [, serverSide] = await upgraded
  raw.send(subscribe('1', 'subscription { pings(id: "1") }'))
  raw.send(subscribe('2', 'subscription { pings(id: "2") }'))
  await raw.next('next')
  raw.send({ type: 'complete', id: 'unknown' })
  raw.send({ type: 'complete', id: 7 })
  raw.send({ type: 'complete', id: '1' })
  raw.send({ type: 'ping' })
  // messages of one socket are handled in order: the pong comes after the completes are counted
  await raw.next('pong')
  t.equal(metricValue(await readMetrics(app), 'graphql_ws_subscriptions'), 1)
  raw.send(subscribe('3', 'subscription { pings(id: "3") }'))
  await raw.next('next', '3')
  t.pass('the socket is still signed in after the plain ping')
  const serverClosed = once(serverSide, 'close')
  raw.socket.close(1000)
  await serverClosed
  // the gauge is read over HTTP, well after the server's socket has ended
  const samples = await readMetrics(app)
  t.equal(metricValue(samples, 'graphql_ws_subscriptions'), 0, 'a closed socket takes its subscriptions with it')
  t.equal(metricValue(samples, 'graphql_ws_sockets'), 0)
})

t.test('the legacy start is held to the same rules; a refresh changes the caller the resolvers see', async (t) => {
  const { issuer, url } = await setUp(t)
  const legacy = await signedIn(t, url, issuer.sessionToken(), { protocol: 'graphql-ws' })
  legacy.send({ type: 'start', id: '1', payload: { query: 'subscription { pings(id: "1") }' } })
  legacy.send({ type: 'start', id: '1', payload: { query: 'subscription { pings(id: "1") }' } })
  t.same(await legacy.closed, { code: 4409, reason: 'subscriber_already_exists' })

  const org = (role: string) => ({ id: 'org_acme', slug: 'acme', role, permissions: [] })
  const raw = await signedIn(t, url, issuer.sessionToken({ sid: 'sess_role', org: org('member') }))
  raw.send(subscribe('1', 'subscription { whoami(everyMs: 250) { orgRole } }'))
  t.match(await raw.next('next'), { payload: { data: { whoami: { orgRole: 'org:member' } } } })
  raw.send({ type: 'ping', payload: { authorization: `Bearer ${issuer.sessionToken({ sid: 'sess_role', org: org('admin') })}` } })
  let seen: unknown
  for (let tick = 0; tick < 20 && seen !== 'org:admin'; tick++) {
    seen = ((await raw.next('next')).payload as { data: { whoami: { orgRole: string } } }).data.whoami.orgRole
  }
  t.equal(seen, 'org:admin', 'a tick after the refresh shows the new role')
})

t.test('connection_init: an empty token in the payload is no token, and the cookie is not read instead; a socket not yet signed in outlives a revocation', async (t) => {
  const { app, issuer, url } = await setUp(t)
  const raw = await rawSocket(t, url, { headers: { cookie: `__session=${issuer.sessionToken()}` } })
  raw.send({ type: 'connection_init', payload: { authorization: '' } })
  t.same(await raw.closed, { code: 4401, reason: 'token_missing' })

  const waiting = await rawSocket(t, url)
  const delivery = issuer.webhook('session.revoked', { sessionId: 'sess_elsewhere' })
  t.equal((await app.inject({ method: 'POST', url: '/webhooks/clerk', headers: delivery.headers, payload: delivery.body })).statusCode, 200)
  waiting.send(init(issuer.sessionToken()))
  t.ok(await waiting.next('connection_ack'), 'it signs in afterwards')
})

t.test('sockets without connection_init close at the init timeout, by the clock; past GRAPHQL_WS_MAX_SOCKETS an upgrade gets 503', async (t) => {
  const { app, clock, url } = await setUp(t, { GRAPHQL_WS_MAX_SOCKETS: 3, GRAPHQL_WS_INIT_TIMEOUT_MS: 2000 })
  const silent = await Promise.all([1, 2, 3].map(async () => await rawSocket(t, url)))
  const refused = new WebSocket(url, 'graphql-transport-ws')
  refused.on('error', () => {})
  const [, response] = await once(refused, 'unexpected-response') as [unknown, import('node:http').IncomingMessage]
  t.equal(response.statusCode, 503)
  t.same(await json(response), { statusCode: 503, error: 'Service Unavailable', code: 'too_many_sockets', message: 'This process holds as many GraphQL sockets as it may; retry shortly.' })
  refused.terminate()
  clock.advance(2000)
  for (const socket of silent) t.same(await socket.closed, { code: 4408, reason: 'connection_initialisation_timeout' })
  const again = await rawSocket(t, url)
  t.equal(again.socket.readyState, WebSocket.OPEN, 'their places are free again')
  t.ok(app.server.listening)
})

t.test('the GraphQL plugin on its own: unusable subscription options stop registration; by default no page of another origin may open a socket', async (t) => {
  const issuer = await startIssuer(t)
  const build = async (subscriptions: Record<string, unknown>): Promise<FastifyInstance> => await graphqlPluginApp(t, issuer.url, { subscriptions })
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ maxSockets: 0 }, /subscriptions\.maxSockets must be a whole number, at least 1/],
    [{ initTimeoutMs: 1.5 }, /subscriptions\.initTimeoutMs/],
    [{ maxMessageBytes: '1024' }, /subscriptions\.maxMessageBytes/],
    [{ isAllowedOrigin: 'https://app.example.com' }, /subscriptions\.isAllowedOrigin must be a function/]
  ]
  for (const [subscriptions, message] of bad) await t.rejects(build(subscriptions), message, JSON.stringify(subscriptions))
  await t.resolves(build({ initTimeoutMs: 1, maxSockets: 1, maxSubscriptionsPerSocket: 1, maxMessageBytes: 1 }), '1 is the least each may be')
  const app = await build({})
  await app.listen({ host: '127.0.0.1', port: 0 })
  const page = new WebSocket(`ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/graphql`, 'graphql-transport-ws', { headers: { origin: 'http://localhost:3000' } })
  page.on('error', () => {})
  const [, response] = await once(page, 'unexpected-response') as [unknown, import('node:http').IncomingMessage]
  t.equal(response.statusCode, 403)
  page.terminate()
})
