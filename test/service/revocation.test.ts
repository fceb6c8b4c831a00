// Clerk's webhooks end access at once: a signed event that ends a session, a user or a membership
// makes the tokens issued before it answer 401 session_revoked on every path, cached verdicts included.
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { generateWebhookSigningSecret, signWebhook, type TestIssuer, type WebhookDelivery } from '../../plugins/clerk-auth/testing/index.js'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { testClock } from '../../plugins/clerk-auth/test/support/observe.js'
import { bearer } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp, type Env } from '../support/app.js'

const post = (app: FastifyInstance, delivery: WebhookDelivery) =>
  app.inject({ method: 'POST', url: '/webhooks/clerk', headers: delivery.headers, payload: delivery.body })

/** What each path answers a token with: the status, and the code of a refusal. */
async function answers (app: FastifyInstance, token: string): Promise<Record<string, string>> {
  const rest = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: bearer(token) })
  const graphql = await app.inject({ method: 'POST', url: '/graphql', headers: bearer(token), payload: { query: '{ pingOne(id: "1") }' } })
  const gateway = await app.inject({ method: 'GET', url: '/auth/verify', headers: bearer(token) })
  const say = (res: typeof rest, code: (body: any) => unknown): string => res.statusCode === 200 ? '200' : `${res.statusCode} ${String(code(res.json()))}`
  return {
    rest: say(rest, (body) => body.code),
    graphql: say(graphql, (body) => body.errors[0].extensions.reason),
    gateway: say(gateway, (body) => body.code)
  }
}

const everywhere = (answer: string) => ({ rest: answer, graphql: answer, gateway: answer })

async function setUp (t: Test, env: Env = {}): Promise<{ app: FastifyInstance, issuer: TestIssuer, clock: ReturnType<typeof testClock> }> {
  const clock = testClock()
  const issuer = await startIssuer(t, { now: clock.now })
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_WEBHOOK_SIGNING_SECRET: issuer.webhookSigningSecret, ...env }, { now: clock.now })
  return { app, issuer, clock }
}

t.test('a signed session.revoked refuses that session on REST, GraphQL and the gateway, cached verdicts included', async (t) => {
  const { app, issuer, clock } = await setUp(t)
  const revoked = issuer.sessionToken({ sid: 'sess_gone' })
  const other = issuer.sessionToken({ sid: 'sess_kept' })
  t.same(await answers(app, revoked), everywhere('200'), 'accepted, and now cached')

  const res = await post(app, issuer.webhook('session.revoked', { sessionId: 'sess_gone' }))
  t.equal(res.statusCode, 200)
  t.same(res.json(), { received: true, duplicate: false, revoked: 'session' })
  t.same(await answers(app, revoked), everywhere('401 session_revoked'))
  const rest = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: bearer(revoked) })
  t.match(rest.headers['www-authenticate'], /error="invalid_token", error_description="session revoked"/)
  t.same(await answers(app, other), everywhere('200'), 'another session of the same user is not touched')

  clock.advance(30_000)
  t.same(await answers(app, issuer.sessionToken({ sid: 'sess_gone' })), everywhere('401 session_revoked'), 'an ended session stays ended, whenever its token was issued')
  t.same(app.clerkAuth.stats().decisions.find((decision) => decision.code === 'session_revoked'), { result: 'refused', code: 'session_revoked', tokenType: 'session_token', count: 7 }, 'counted as refusals')
  t.equal(app.clerkAuth.stats().revocations, 1)
})

t.test('session.ended and session.removed end the session as session.revoked does', async (t) => {
  const { app, issuer } = await setUp(t)
  for (const type of ['session.ended', 'session.removed']) {
    const sessionId = `sess_${type.split('.')[1] as string}`
    const token = issuer.sessionToken({ sid: sessionId })
    t.same(await answers(app, token), everywhere('200'))
    t.equal((await post(app, issuer.webhook(type, { sessionId }))).statusCode, 200)
    t.same(await answers(app, token), everywhere('401 session_revoked'), type)
  }
})

t.test('user.deleted and a ban refuse the user\'s tokens issued before the event, not those issued after', async (t) => {
  const { app, issuer, clock } = await setUp(t)
  for (const [type, input] of [['user.deleted', {}], ['user.updated', { banned: true }]] as const) {
    const userId = `user_${type.replace('.', '_')}`
    const before = issuer.sessionToken({ sub: userId, sid: `sess_${userId}` })
    const otherUser = issuer.sessionToken({ sub: 'user_bystander', sid: 'sess_bystander' })
    t.equal((await post(app, issuer.webhook(type, { userId, ...input }))).json().revoked, 'user', type)
    t.same(await answers(app, before), everywhere('401 session_revoked'), `${type}: a token issued before`)
    t.same(await answers(app, otherUser), everywhere('200'), `${type}: another user`)
    clock.advance(2000)
    t.same(await answers(app, issuer.sessionToken({ sub: userId, sid: `sess_${userId}_new` })), everywhere('200'), `${type}: a token issued after`)
  }
  const unbanned = issuer.sessionToken({ sub: 'user_fine', sid: 'sess_fine' })
  t.same((await post(app, issuer.webhook('user.updated', { userId: 'user_fine', banned: false }))).json(), { received: true, duplicate: false, revoked: null }, 'an update without a ban ends nothing')
  t.same(await answers(app, unbanned), everywhere('200'))
})

t.test('a membership removed, changed or its organization deleted refuses the tokens that claim it', async (t) => {
  const { app, issuer, clock } = await setUp(t)
  const admin = issuer.sessionToken({ sub: 'user_a', sid: 'sess_a', org: { id: 'org_acme', role: 'admin' } })
  const member = issuer.sessionToken({ sub: 'user_a', sid: 'sess_a2', org: { id: 'org_acme', role: 'member' } })
  const personal = issuer.sessionToken({ sub: 'user_a', sid: 'sess_a3' })
  const elsewhere = issuer.sessionToken({ sub: 'user_a', sid: 'sess_a4', org: { id: 'org_other', role: 'admin' } })

  t.equal((await post(app, issuer.webhook('organizationMembership.updated', { userId: 'user_a', orgId: 'org_acme', role: 'org:member' }))).json().revoked, 'membership')
  t.same(await answers(app, admin), everywhere('401 session_revoked'), 'the role it claims no longer holds')
  t.same(await answers(app, member), everywhere('200'), 'the role it claims is the one now held')

  clock.advance(2000)
  t.equal((await post(app, issuer.webhook('organizationMembership.deleted', { userId: 'user_a', orgId: 'org_acme' }))).json().revoked, 'membership')
  t.same(await answers(app, member), everywhere('401 session_revoked'), 'no role holds in a membership that is gone')
  t.same(await answers(app, personal), everywhere('200'), 'the same user without an active organization')
  t.same(await answers(app, elsewhere), everywhere('200'), 'the same user in another organization')

  const colleague = issuer.sessionToken({ sub: 'user_b', sid: 'sess_b', org: { id: 'org_other', role: 'member' } })
  t.equal((await post(app, issuer.webhook('organization.deleted', { orgId: 'org_other' }))).json().revoked, 'organization')
  t.same(await answers(app, colleague), everywhere('401 session_revoked'))
  t.same(await answers(app, elsewhere), everywhere('401 session_revoked'))
  t.same(await answers(app, personal), everywhere('200'))
})

t.test('forged, stale, re-serialised or incomplete deliveries change nothing and are refused with a code', async (t) => {
  const { app, issuer, clock } = await setUp(t)
  const token = issuer.sessionToken({ sid: 'sess_target' })
  const event = JSON.stringify({ data: { id: 'sess_target', object: 'session' }, object: 'event', type: 'session.revoked', timestamp: clock.now() })
  const refused = async (delivery: WebhookDelivery, code: string, why: string): Promise<void> => {
    const res = await post(app, delivery)
    t.equal(res.statusCode, 400, why)
    t.equal(res.json().code, code, why)
  }
  await refused(signWebhook(generateWebhookSigningSecret(), event, { sentAt: clock.now() }), 'webhook_signature_invalid', 'another endpoint\'s secret')
  await refused(signWebhook(issuer.webhookSigningSecret, event, { sentAt: clock.now() - 5 * 60_000 - 1000 }), 'webhook_timestamp_invalid', 'sent more than five minutes ago')
  await refused(signWebhook(issuer.webhookSigningSecret, event, { sentAt: clock.now() + 5 * 60_000 + 1000 }), 'webhook_timestamp_invalid', 'dated more than five minutes ahead')
  const signed = signWebhook(issuer.webhookSigningSecret, event, { sentAt: clock.now() })
  await refused({ ...signed, body: JSON.stringify(JSON.parse(event), null, 1) }, 'webhook_signature_invalid', 'the same event re-serialised')
  await refused({ ...signed, headers: { ...signed.headers, 'svix-timestamp': `${signed.headers['svix-timestamp']}.0` } }, 'webhook_timestamp_invalid', 'a timestamp that is not whole seconds')
  await refused({ ...signed, headers: { ...signed.headers, 'svix-id': 'msg_other' } }, 'webhook_signature_invalid', 'the signature of another delivery id')
  await refused({ ...signed, headers: { ...signed.headers, 'svix-signature': Array(9).fill(signed.headers['svix-signature']).join(' ') } }, 'webhook_signature_invalid', 'more signatures than a rotation needs')
  for (const header of ['svix-id', 'svix-timestamp', 'svix-signature'] as const) {
    const headers: Record<string, string> = { ...signed.headers }
    delete headers[header]
    await refused({ ...signed, headers: headers as WebhookDelivery['headers'] }, 'webhook_headers_missing', `without ${header}`)
  }
  t.same(await answers(app, token), everywhere('200'), 'nothing was revoked')

  const text = await app.inject({ method: 'POST', url: '/webhooks/clerk', headers: { ...signed.headers, 'content-type': 'text/plain' }, payload: signed.body })
  t.equal(text.statusCode, 415, 'only JSON is read')
  const huge = signWebhook(issuer.webhookSigningSecret, JSON.stringify({ ...JSON.parse(event), padding: 'x'.repeat(300 * 1024) }), { sentAt: clock.now() })
  const tooLarge = await post(app, huge)
  t.equal(tooLarge.statusCode, 413, 'a body past the limit is not read')
  t.equal(tooLarge.json().code, 'FST_ERR_CTP_BODY_TOO_LARGE')
  t.equal((await post(app, signWebhook(issuer.webhookSigningSecret, '[1, 2]', { sentAt: clock.now() }))).json().code, 'webhook_payload_invalid', 'signed, but no event')
  t.equal((await post(app, signWebhook(issuer.webhookSigningSecret, '{"type":', { sentAt: clock.now() }))).json().code, 'webhook_payload_invalid', 'signed, but not JSON')
  t.same(await answers(app, token), everywhere('200'), 'still nothing revoked')
  t.equal(app.clerkAuth.stats().revocations, 0)
})

t.test('a delivery signed twice during a secret rotation is accepted, and its retries are acknowledged once', async (t) => {
  const { app, issuer, clock } = await setUp(t)
  const oldSecret = signWebhook(generateWebhookSigningSecret(), 'x').headers['svix-signature']
  const delivery = issuer.webhook('session.revoked', { sessionId: 'sess_rotated' }, { id: 'msg_rotation', extraSignatures: [oldSecret] })
  t.match(delivery.headers['svix-signature'], /^v1,\S+ v1,\S+$/)
  t.same((await post(app, delivery)).json(), { received: true, duplicate: false, revoked: 'session' })
  clock.advance(60_000)
  const retry = issuer.webhook('session.revoked', { sessionId: 'sess_rotated' }, { id: 'msg_rotation' })
  const res = await post(app, retry)
  t.equal(res.statusCode, 200, 'a retry is acknowledged, so that Clerk stops sending it')
  t.same(res.json(), { received: true, duplicate: true })
})

t.test('a revocation is forgotten after CLERK_REVOCATION_RETENTION_MS, and tokens issued before it are refused until then', async (t) => {
  const { app, issuer, clock } = await setUp(t, { CLERK_REVOCATION_RETENTION_MS: 120_000 })
  // a token that outlives the retention, which Clerk's session tokens never do: it shows the entry going
  const longLived = issuer.sessionToken({ sub: 'user_long', sid: 'sess_long', ttlSeconds: 3600 })
  await post(app, issuer.webhook('user.deleted', { userId: 'user_long' }))
  clock.advance(119_000)
  t.same(await answers(app, longLived), everywhere('401 session_revoked'))
  clock.advance(1000)
  t.same(await answers(app, longLived), everywhere('200'))
  t.equal(app.clerkAuth.stats().revocations, 0, 'the entry is gone from memory')
})

t.test('without a signing secret the webhook route is off; a malformed secret stops start-up', async (t) => {
  const issuer = await startIssuer(t)
  const off = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  t.notOk(off.hasRoute({ method: 'POST', url: '/webhooks/clerk' }))
  const res = await post(off, issuer.webhook('session.revoked'))
  t.equal(res.json().code, 'token_missing', 'an unknown route, protected as every other')
  const on = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_WEBHOOK_SIGNING_SECRET: issuer.webhookSigningSecret })
  t.ok(on.hasRoute({ method: 'POST', url: '/webhooks/clerk' }))
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_WEBHOOK_SIGNING_SECRET: 'not-a-secret' }), {
    name: 'ConfigError',
    message: /CLERK_WEBHOOK_SIGNING_SECRET must be your webhook endpoint's signing secret, whsec_/
  })
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_WEBHOOK_SIGNING_SECRET: 'whsec_abc' }), { name: 'ConfigError' }, 'base64 that does not decode')
})

t.test('the development issuer signs webhooks with a secret the service knows', async (t) => {
  const app = await buildApp(t, {})
  const dev = app.devIssuer as TestIssuer
  const token = dev.sessionToken({ sid: 'sess_dev' })
  t.same(await answers(app, token), everywhere('200'))
  t.equal((await post(app, dev.webhook('session.revoked', { sessionId: 'sess_dev' }))).statusCode, 200)
  t.same(await answers(app, token), everywhere('401 session_revoked'))
})
