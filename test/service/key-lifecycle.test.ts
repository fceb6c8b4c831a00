// The key lifecycle against a real issuer over HTTP, counting the requests it sees.
import type { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { createVerifier } from '../../plugins/clerk-auth/index.js'
import { generateSigningKey } from '../../plugins/clerk-auth/testing/index.js'
import { startIssuer, type TestIssuer, testKeys } from '../../plugins/clerk-auth/test/support/issuer.js'
import { logLines, testClock, waitFor } from '../../plugins/clerk-auth/test/support/observe.js'
import { publicPem } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp, type Env } from '../support/app.js'

async function warmApp (t: Test, issuer: TestIssuer, env: Env = {}, { logger, now }: { logger?: Writable, now?: () => number } = {}) {
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, ...env }, {
    ...(now === undefined ? {} : { now }),
    ...(logger === undefined ? {} : { logger: { level: 'debug', stream: logger } })
  })
  await waitFor(() => app.clerkAuth.isReady())
  const call = async (token: string) =>
    await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${token}` } })
  return { app, call }
}

t.test('once warm, requests never fetch keys', async (t) => {
  const issuer = await startIssuer(t)
  const { call } = await warmApp(t, issuer)
  t.equal(issuer.jwksRequests(), 1, 'one fetch at start-up')
  const token = issuer.sign()
  for (let i = 0; i < 200; i++) t.equal((await call(token)).statusCode, 200)
  t.equal(issuer.jwksRequests(), 1, 'still one fetch after 200 requests')
})

t.test('a flood of 100 distinct unknown kids costs at most 2 JWKS fetches in all', async (t) => {
  const issuer = await startIssuer(t)
  const { call } = await warmApp(t, issuer)
  const tokens = Array.from({ length: 100 }, (_, i) => issuer.sign(undefined, { header: { kid: `ins_made_up_${i}` } }))
  const answers = await Promise.all(tokens.map(call))
  t.ok(answers.every((res) => res.statusCode === 401 && res.json().code === 'token_key_unknown'), 'every one is token_key_unknown')
  // and a second wave, while cooling down, costs nothing at all
  const again = await Promise.all(tokens.slice(0, 50).map(call))
  t.ok(again.every((res) => res.json().code === 'token_key_unknown'))
  t.ok(issuer.jwksRequests() <= 2, `the issuer saw ${issuer.jwksRequests()} fetches (at most 2: start-up and one for the flood)`)
  t.equal(issuer.jwksRequests(), 2)
})

t.test('rotation: a new key is accepted within the cooldown, a removed one stops after the next refresh', async (t) => {
  const [oldKey] = testKeys()
  const newKey = generateSigningKey()
  const clock = testClock()
  const issuer = await startIssuer(t, { keys: [oldKey], now: clock.now })
  const { call } = await warmApp(t, issuer, { CLERK_JWKS_UNKNOWN_KID_COOLDOWN_MS: 500, CLERK_JWKS_REFRESH_INTERVAL_MS: 60_000 }, { now: clock.now })
  const oldToken = issuer.sign(undefined, { key: oldKey })
  t.equal((await call(oldToken)).statusCode, 200)

  // An unknown kid starts a cooldown...
  t.equal((await call(issuer.sign(undefined, { header: { kid: 'ins_nope' } }))).json().code, 'token_key_unknown')
  // ...during which the issuer publishes its new key.
  issuer.publishKeys([oldKey, newKey])
  const rotated = issuer.sign(undefined, { key: newKey })
  t.equal((await call(rotated)).json().code, 'token_key_unknown', 'cooling down: refused at once, no fetch')
  t.equal(issuer.jwksRequests(), 2, 'start-up and the first unknown kid')
  clock.advance(500)
  t.equal((await call(rotated)).statusCode, 200, 'accepted once the cooldown has passed')
  t.equal(issuer.jwksRequests(), 3)
  t.equal((await call(oldToken)).statusCode, 200, 'the old key still works while published')

  // The issuer drops the old key; the next refresh (forced by an unknown kid here) removes it, and
  // with it the cached verdict on the very token accepted above.
  issuer.publishKeys([newKey])
  clock.advance(500)
  t.equal((await call(issuer.sign(undefined, { header: { kid: 'ins_other' } }))).json().code, 'token_key_unknown')
  t.equal(issuer.jwksRequests(), 4)
  t.equal((await call(oldToken)).json().code, 'token_key_unknown', 'the removed key is refused, cached verdict or not')
  t.equal((await call(rotated)).statusCode, 200)
})

t.test('a burst of one token under a newly published key: one fetch, one signature check', async (t) => {
  const [oldKey] = testKeys()
  const newKey = generateSigningKey()
  const issuer = await startIssuer(t, { keys: [oldKey] })
  const { app, call } = await warmApp(t, issuer)
  issuer.publishKeys([oldKey, newKey])
  const token = issuer.sign(undefined, { key: newKey })
  const before = app.clerkAuth.stats().signatureChecks
  const answers = await Promise.all(Array.from({ length: 20 }, async () => await call(token)))
  t.ok(answers.every((res) => res.statusCode === 200), 'all accepted once the key arrives')
  t.equal(issuer.jwksRequests(), 2, 'start-up and one lookup for the new kid')
  t.equal(app.clerkAuth.stats().signatureChecks - before, 1, 'the waiters share the first verdict')
})

t.test('a removed key stops being accepted after the next background refresh', async (t) => {
  const [oldKey] = testKeys()
  const newKey = generateSigningKey()
  const issuer = await startIssuer(t, { keys: [oldKey, newKey] })
  const { lines, stream } = logLines()
  const { call } = await warmApp(t, issuer, { CLERK_JWKS_REFRESH_INTERVAL_MS: 200 }, { logger: stream })
  const oldToken = issuer.sign(undefined, { key: oldKey })
  t.equal((await call(oldToken)).statusCode, 200)
  issuer.publishKeys([newKey])
  await waitFor(() => lines.some((line) => line.includes('Issuer signing keys loaded') && line.includes('"removed":1')))
  t.equal((await call(oldToken)).json().code, 'token_key_unknown', 'the cached verdict went with the key')
  t.equal((await call(issuer.sign(undefined, { key: newKey }))).statusCode, 200)
})

t.test('a 60 s outage after warm-up fails zero valid requests, and is logged once', async (t) => {
  const clock = testClock()
  const issuer = await startIssuer(t, { now: clock.now })
  const { lines, stream } = logLines()
  const { app, call } = await warmApp(t, issuer, { CLERK_JWKS_REFRESH_INTERVAL_MS: 100 }, { logger: stream, now: clock.now })
  issuer.jwksFault = 'reset'
  const fetchesBefore = issuer.jwksRequests()
  let sent = 0
  let failed = 0
  // Three failed refresh attempts, and 60 s of requests on the service's clock between them.
  for (let attempt = 0; attempt < 3; attempt++) {
    await issuer.nextJwksRequest()
    for (let second = 0; second < 20; second++) {
      clock.advance(1000)
      // tokens live 60 s: mint fresh ones as a frontend would
      const res = await call(issuer.sign())
      sent++
      if (res.statusCode !== 200) failed++
    }
  }
  t.equal(failed, 0, `${sent} valid requests during the outage, ${failed} failed`)
  t.ok(issuer.jwksRequests() - fetchesBefore >= 3, 'the service kept trying')
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200, 'still ready on the last good set')
  const warnings = lines.filter((line) => line.includes('Cannot refresh the issuer signing keys'))
  t.equal(warnings.length, 1, 'the failure is logged once, not per request or per attempt')

  issuer.jwksFault = undefined
  await waitFor(() => lines.some((line) => line.includes('Issuer signing keys loaded') && line.includes('"added":0')))
  t.equal((await call(issuer.sign())).statusCode, 200, 'recovers by itself')
})

t.test('a fetch that hangs is aborted at the timeout, and cached keys are unaffected', async (t) => {
  const issuer = await startIssuer(t)
  const { call } = await warmApp(t, issuer, { CLERK_JWKS_REFRESH_INTERVAL_MS: 200, CLERK_JWKS_TIMEOUT_MS: 300 })
  issuer.jwksFault = 'hang'
  const hangFrom = issuer.jwksRequests()
  await waitFor(() => issuer.jwksRequests() > hangFrom)
  const res = await call(issuer.sign())
  t.equal(res.statusCode, 200, 'a known key is served while the refresh hangs')
  t.equal(issuer.abandonedJwksRequests(), 0, 'the hung fetch is still open')
  // Without the timeout the fetch would stay open, and no other would start.
  await waitFor(() => issuer.abandonedJwksRequests() >= 1)
  await issuer.nextJwksRequest()
  t.equal((await call(issuer.sign())).statusCode, 200)
})

for (const mode of ['garbage', 'not-array', 'oversized', 'oversized-chunked', 'error', 'reset'] as const) {
  t.test(`an issuer answering ${mode}: 503 before warm-up, the last good set after`, async (t) => {
    const issuer = await startIssuer(t)
    issuer.jwksFault = mode
    const cold = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
    await waitFor(() => issuer.jwksRequests() >= 1)
    t.equal((await cold.inject({ method: 'GET', url: '/ready' })).statusCode, 503)
    const refused = await cold.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign()}` } })
    t.equal(refused.statusCode, 503)
    t.equal(refused.json().code, 'issuer_unavailable')

    issuer.jwksFault = undefined
    const { call } = await warmApp(t, issuer, { CLERK_JWKS_REFRESH_INTERVAL_MS: 100 })
    issuer.jwksFault = mode
    const before = issuer.jwksRequests()
    await waitFor(() => issuer.jwksRequests() >= before + 2)
    t.equal((await call(issuer.sign())).statusCode, 200, 'served from the last good set')
  })
}

t.test('the last good set expires after the maximum staleness, then the service recovers', async (t) => {
  const clock = testClock()
  const issuer = await startIssuer(t, { now: clock.now })
  const { app, call } = await warmApp(t, issuer, { CLERK_JWKS_REFRESH_INTERVAL_MS: 100, CLERK_JWKS_MAX_STALE_MS: 400 }, { now: clock.now })
  const token = issuer.sign()
  t.equal((await call(token)).statusCode, 200)
  issuer.jwksFault = 'error'
  await issuer.nextJwksRequest()
  clock.advance(401)
  const res = await call(issuer.sign(issuer.sessionClaims({ sid: 'sess_new' })))
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'issuer_unavailable')
  t.equal((await call(token)).statusCode, 503, 'a cached verdict does not outlive its keys either')
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 503)
  issuer.jwksFault = undefined
  await waitFor(() => app.clerkAuth.isReady())
  t.equal((await call(issuer.sign())).statusCode, 200)
  t.equal((await call(token)).statusCode, 200)
})

t.test('an issuer down at start-up: ready flips and requests pass once it is up, without a restart', async (t) => {
  const issuer = await startIssuer(t)
  issuer.jwksFault = 'reset'
  // retried every 100 ms at most, the refresh interval
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_JWKS_REFRESH_INTERVAL_MS: 100 })
  const token = issuer.sign()
  await waitFor(() => issuer.jwksRequests() >= 2)
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 503)
  issuer.jwksFault = undefined
  await waitFor(() => app.clerkAuth.isReady(), 10_000)
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
})

t.test('a key replaced under the same kid: verdicts given with the old one no longer stand', async (t) => {
  const [oldKey, otherKey] = testKeys()
  const issuer = await startIssuer(t, { keys: [oldKey] })
  const { lines, stream } = logLines()
  const { call } = await warmApp(t, issuer, { CLERK_JWKS_REFRESH_INTERVAL_MS: 200 }, { logger: stream })
  const token = issuer.sign()
  t.equal((await call(token)).statusCode, 200)
  // the same kid, another key: what a compromised or rotated-in-place key looks like
  issuer.publishKeys([{ privateKey: otherKey.privateKey, publicJwk: { ...otherKey.publicJwk, kid: oldKey.publicJwk.kid } }])
  await waitFor(() => lines.some((line) => line.includes('Issuer signing keys loaded') && line.includes('"replaced":1')))
  const refused = await call(token)
  t.equal(refused.statusCode, 401, 'the cached verdict went with the old key')
  t.equal(refused.json().code, 'token_signature_invalid')
  t.equal((await call(issuer.sign())).statusCode, 200, 'tokens signed with the new key pass')
})

t.test('jwksMaxStaleMs shorter than the refresh interval is refused, in the plugin and in the settings', async (t) => {
  t.throws(() => createVerifier({ issuer: 'https://clerk.example.com', jwksMaxStaleMs: 0 }), {
    code: 'FST_CLERK_AUTH_INVALID_OPTION', option: 'jwksMaxStaleMs', message: /at least jwksRefreshIntervalMs \(300000 ms\)/
  })
  t.throws(() => createVerifier({ issuer: 'https://clerk.example.com', jwksRefreshIntervalMs: 1000, jwksMaxStaleMs: 999 }), { message: /option jwksMaxStaleMs must be at least/ })
  const verifier = createVerifier({ issuer: 'https://clerk.example.com', jwtKey: publicPem(testKeys()[0]), jwksRefreshIntervalMs: 1000, jwksMaxStaleMs: 1000 })
  verifier.close()
  await t.rejects(buildApp(t, { CLERK_JWKS_MAX_STALE_MS: 0 }), {
    name: 'ConfigError',
    message: 'Invalid configuration: CLERK_JWKS_MAX_STALE_MS must be at least CLERK_JWKS_REFRESH_INTERVAL_MS (300000 ms)'
  })
})
