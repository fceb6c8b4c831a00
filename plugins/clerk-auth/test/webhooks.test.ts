// clerkWebhooks in a plain Fastify app: its options, the Standard Webhooks header names, and what
// the verifier tells listeners (open sockets) when a delivery ends access.
import Fastify from 'fastify'
import t from 'tap'
import clerkAuth, { clerkWebhooks, type Revocation } from '../index.js'
import { signWebhook, webhookEvent } from '../testing/index.js'
import { startIssuer } from './support/issuer.js'
import { testClock } from './support/observe.js'

t.test('a delivery under the Standard Webhooks header names is read as under Svix\'s, and listeners hear of it', async (t) => {
  const clock = testClock()
  const issuer = await startIssuer(t, { now: clock.now })
  const app = Fastify()
  t.teardown(async () => await app.close())
  await app.register(clerkAuth, { issuer: issuer.url, now: clock.now })
  await app.register(clerkWebhooks, { prefix: '/hooks', signingSecret: issuer.webhookSigningSecret })
  const heard: Revocation[] = []
  const stop = app.clerkAuth.verifier.onRevocation((revocation) => heard.push(revocation))

  const svix = issuer.webhook('session.revoked', { sessionId: 'sess_a' })
  const standard = {
    'content-type': 'application/json; charset=utf-8',
    'webhook-id': svix.headers['svix-id'],
    'webhook-timestamp': svix.headers['svix-timestamp'],
    'webhook-signature': svix.headers['svix-signature']
  }
  const res = await app.inject({ method: 'POST', url: '/hooks', headers: standard, payload: svix.body })
  t.equal(res.statusCode, 200)
  t.same(heard, [{ kind: 'session', sessionId: 'sess_a' }])
  t.equal(app.clerkAuth.verifier.revoke({ kind: 'session', sessionId: 'sess_a' }), false, 'revoking it again is no news')
  t.equal(heard.length, 1, 'and listeners are not told twice')
  const caller = await app.clerkAuth.verifier.verify(issuer.sessionToken({ sid: 'sess_a' }))
  t.equal(caller, 'session_revoked')

  stop()
  const body = JSON.stringify(webhookEvent('user.deleted', { userId: 'user_b' }, clock.now()))
  const user = signWebhook(issuer.webhookSigningSecret, body, { sentAt: clock.now() })
  t.same((await app.inject({ method: 'POST', url: '/hooks', headers: user.headers, payload: body })).json(), { received: true, duplicate: false, revoked: 'user' })
  t.equal(heard.length, 1, 'a stopped listener hears no more')
  t.equal(app.clerkAuth.stats().revocations, 2)
  const session = issuer.sessionToken({ sub: 'user_b', sid: 'sess_b' })
  const verdict = await app.clerkAuth.verifier.verify(session)
  t.equal(verdict, 'session_revoked')
  clock.advance(1000)
  const later = await app.clerkAuth.verifier.verify(issuer.sessionToken({ sub: 'user_b', sid: 'sess_c' }))
  t.not(later, 'session_revoked', 'a token issued after the event')
  t.equal(typeof later === 'object' && app.clerkAuth.verifier.isRevoked(later), false)
})

t.test('its options are checked when it is registered', async (t) => {
  const issuer = await startIssuer(t)
  const build = async (options: Record<string, unknown>, withClerkAuth = true): Promise<void> => {
    const app = Fastify()
    t.teardown(async () => await app.close())
    if (withClerkAuth) await app.register(clerkAuth, { issuer: issuer.url })
    await app.register(clerkWebhooks, options as never)
    await app.ready()
  }
  await t.rejects(build({ signingSecret: issuer.webhookSigningSecret }, false), /clerkWebhooks needs clerk-auth: register it first/)
  for (const signingSecret of [undefined, '', 'whsec_', 'sk_test_abc', 'whsec_not base64', 42, `x${issuer.webhookSigningSecret}`]) {
    await t.rejects(build({ signingSecret }), { code: 'FST_CLERK_AUTH_INVALID_OPTION', option: 'signingSecret', message: /whsec_ followed by base64/ }, String(signingSecret))
  }
  await t.rejects(build({ signingSecret: 'whsec_abc' }), { code: 'FST_CLERK_AUTH_INVALID_OPTION', option: 'signingSecret', message: /is not valid base64/ })
  for (const bodyLimit of [1023, 1.5, '4096', Infinity]) {
    await t.rejects(build({ signingSecret: issuer.webhookSigningSecret, bodyLimit }), { option: 'bodyLimit', message: /at least 1024/ }, String(bodyLimit))
  }
  await t.resolves(build({ signingSecret: issuer.webhookSigningSecret, bodyLimit: 1024 }))
})

t.test('bodyLimit caps what is read, in bytes', async (t) => {
  const clock = testClock()
  const issuer = await startIssuer(t, { now: clock.now })
  const app = Fastify()
  t.teardown(async () => await app.close())
  await app.register(clerkAuth, { issuer: issuer.url, now: clock.now })
  await app.register(clerkWebhooks, { prefix: '/hooks', signingSecret: issuer.webhookSigningSecret, bodyLimit: 2048 })
  const sized = (bytes: number) => {
    const event = webhookEvent('session.revoked', { sessionId: 'sess_a' }, clock.now())
    const padded = JSON.stringify({ ...event, padding: '' })
    return signWebhook(issuer.webhookSigningSecret, JSON.stringify({ ...event, padding: 'x'.repeat(bytes - padded.length) }), { sentAt: clock.now() })
  }
  const fits = sized(2048)
  t.equal(Buffer.byteLength(fits.body), 2048)
  t.equal((await app.inject({ method: 'POST', url: '/hooks', headers: fits.headers, payload: fits.body })).statusCode, 200)
  const over = sized(2049)
  t.equal((await app.inject({ method: 'POST', url: '/hooks', headers: over.headers, payload: over.body })).statusCode, 413)
})

t.test('deliveries at the edges: empty headers, the longest id, five minutes exactly, eight signatures, retries after the window', async (t) => {
  // whole seconds, so that svix-timestamp (seconds) is exact
  const clock = testClock(Math.floor(Date.now() / 1000) * 1000)
  const issuer = await startIssuer(t, { now: clock.now })
  const lines: Array<Record<string, unknown>> = []
  const stream = { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } }
  const app = Fastify({ logger: { level: 'debug', stream } })
  t.teardown(async () => await app.close())
  await app.register(clerkAuth, { issuer: issuer.url, now: clock.now })
  await app.register(clerkWebhooks, { prefix: '/hooks', signingSecret: issuer.webhookSigningSecret })
  const body = (type = 'session.revoked', sessionId = 'sess_edge'): string => JSON.stringify(webhookEvent(type, { sessionId }, clock.now()))
  const post = async (delivery: { headers: Record<string, string>, body: string }) => await app.inject({ method: 'POST', url: '/hooks', headers: delivery.headers, payload: delivery.body })
  const refusal = async (delivery: { headers: Record<string, string>, body: string }, code: string): Promise<void> => {
    const res = await post(delivery)
    t.equal(res.statusCode, 400, code)
    t.same(res.json(), { statusCode: 400, error: 'Bad Request', code, message: MESSAGES[code] }, `${code}: the body says what is wrong`)
  }
  const MESSAGES: Record<string, string> = {
    webhook_headers_missing: 'The svix-id, svix-timestamp and svix-signature headers are required.',
    webhook_timestamp_invalid: 'svix-timestamp must be Unix seconds within five minutes of now.',
    webhook_signature_invalid: 'No signature in svix-signature matches the body with this endpoint\'s signing secret.',
    webhook_payload_invalid: 'The body is not a Clerk event: a JSON object with type and data.'
  }
  const signed = (payload: string, options: Parameters<typeof signWebhook>[2] = {}) => signWebhook(issuer.webhookSigningSecret, payload, { sentAt: clock.now(), ...options })

  for (const name of ['svix-id', 'svix-timestamp', 'svix-signature']) {
    const delivery = signed(body())
    await refusal({ body: delivery.body, headers: { ...delivery.headers, [name]: '' } }, 'webhook_headers_missing')
  }
  await refusal(signed(body(), { id: `msg_${'x'.repeat(253)}` }), 'webhook_headers_missing')
  t.equal((await post(signed(body('session.revoked', 'sess_longest_id'), { id: `msg_${'x'.repeat(252)}` }))).statusCode, 200, 'an id of 256 characters is read')

  t.equal((await post(signed(body('session.revoked', 'sess_five_minutes'), { sentAt: clock.now() - 5 * 60_000 }))).statusCode, 200, 'sent five minutes ago exactly')
  await refusal(signed(body(), { sentAt: clock.now() - 5 * 60_000 - 1000 }), 'webhook_timestamp_invalid')
  await refusal(signed(body(), { sentAt: clock.now() + 5 * 60_000 + 1000 }), 'webhook_timestamp_invalid')

  const junk = Array.from({ length: 8 }, (_, i) => `v1,${Buffer.alloc(32, i).toString('base64')}`)
  t.equal((await post(signed(body('session.revoked', 'sess_eight'), { extraSignatures: junk.slice(0, 7) }))).statusCode, 200, 'the right one among eight')
  await refusal(signed(body(), { extraSignatures: junk }), 'webhook_signature_invalid')
  const short = signed(body())
  await refusal({ body: short.body, headers: { ...short.headers, 'svix-signature': 'v1,c2hvcnQ=' } }, 'webhook_signature_invalid')
  await refusal(signed('{"type":"session.revoked"}'), 'webhook_payload_invalid')

  // Clerk retries a delivery under the same id, with a new timestamp and signature
  const first = await post(signed(body('user.created'), { id: 'msg_retried' }))
  t.same(first.json(), { received: true, duplicate: false, revoked: null })
  clock.advance(10 * 60_000 - 1)
  t.same((await post(signed(body('user.created'), { id: 'msg_retried' }))).json(), { received: true, duplicate: true }, 'a retry within ten minutes is acknowledged, not read again')
  clock.advance(1)
  t.same((await post(signed(body('user.created'), { id: 'msg_retried' }))).json(), { received: true, duplicate: false, revoked: null }, 'after ten minutes it is read again')

  const received = lines.filter((line) => line.msg === 'clerk webhook received')
  t.same(received.at(-1), { ...received.at(-1), type: 'user.created', revocation: 'none' })
  t.match(received.find((line) => line.revocation === 'session'), { type: 'session.revoked' })
  t.ok(lines.some((line) => line.msg === 'clerk webhook refused' && line.code === 'webhook_timestamp_invalid'), 'refusals are logged at debug with their code')
})
