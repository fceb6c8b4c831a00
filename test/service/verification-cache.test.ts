import t from 'tap'
import { authFromClaims } from '../../plugins/clerk-auth/auth-object.js'
import { VerificationCache, reusableUntil } from '../../plugins/clerk-auth/verification-cache.js'
import { startIssuer, testKeys } from '../../plugins/clerk-auth/test/support/issuer.js'
import { testClock } from '../../plugins/clerk-auth/test/support/observe.js'
import { buildApp } from '../support/app.js'

const NOW = 1_800_000_000_000

t.test('reusableUntil', async (t) => {
  const auth = authFromClaims({ sub: 'u', sid: 's' })
  t.equal(reusableUntil(auth, NOW / 1000 + 60, NOW), NOW + 60_000, 'a verified token: until its exp, not a moment longer')
  t.equal(reusableUntil(auth, undefined, NOW), undefined)
  t.equal(reusableUntil('token_signature_invalid', undefined, NOW), NOW + 60_000, 'a lasting refusal: a minute')
  t.equal(reusableUntil('token_expired', NOW / 1000 - 10, NOW), NOW + 60_000)
  for (const code of ['token_key_unknown', 'token_not_yet_valid', 'token_issued_in_future', 'issuer_unavailable', 'token_missing', 'token_scheme_invalid'] as const) {
    t.equal(reusableUntil(code, undefined, NOW), undefined, `${code} is judged afresh every time`)
  }
  // The same token always gets these, whatever the time and however the issuer fares.
  const lasting = [
    'token_malformed', 'token_header_invalid', 'token_algorithm_invalid', 'token_signature_invalid', 'token_expired',
    'token_issuer_invalid', 'token_unauthorized_party', 'token_claims_invalid', 'token_audience_invalid', 'token_type_not_accepted', 'session_pending'
  ] as const
  for (const code of lasting) t.equal(reusableUntil(code, undefined, NOW), NOW + 60_000, `${code} is held for a minute`)
})

t.test('VerificationCache is bounded, honours expiry and key withdrawals', async (t) => {
  const cache = new VerificationCache(3)
  for (let i = 0; i < 5; i++) cache.remember(`token${i}`, 'token_expired', NOW + 1000, 0)
  t.equal(cache.size, 3, 'never more than its bound')
  const auth = authFromClaims({ sub: 'u', sid: 's' })
  for (let i = 0; i < 5; i++) cache.remember(`caller${i}`, auth, NOW + 1000, 0)
  t.equal(cache.size, 6, 'callers have a bound of their own')
  t.equal(cache.find('caller0', NOW, 0)?.verdict, undefined)
  t.equal(cache.find('caller4', NOW, 0)?.verdict, auth)
  t.equal(cache.find('token0', NOW, 0)?.verdict, undefined, 'the oldest were evicted')
  t.equal(cache.find('token4', NOW, 0)?.verdict, 'token_expired')
  t.equal(cache.find('token4', NOW + 1000, 0)?.verdict, undefined, 'not at or after its until')
  cache.remember('token5', 'token_expired', NOW + 1000, 0)
  t.equal(cache.find('token5', NOW, 1)?.verdict, undefined, 'not after a key was withdrawn')
  cache.remember('x'.repeat(4097), 'token_malformed', NOW + 1000, 0)
  t.equal(cache.find('x'.repeat(4097), NOW, 0)?.verdict, undefined, 'tokens over 4096 characters are not held')
  cache.remember('y'.repeat(4096), 'token_malformed', NOW + 1000, 0)
  t.equal(cache.find('y'.repeat(4096), NOW, 0)?.verdict, 'token_malformed', '4096 characters are')
})

t.test('VerificationCache: a verdict without an until takes no place, so it evicts nothing', async (t) => {
  const cache = new VerificationCache(1)
  cache.remember('held', 'token_expired', NOW + 1000, 0)
  cache.remember('unknown-key', 'token_key_unknown', undefined, 0)
  t.equal(cache.find('unknown-key', NOW, 0)?.verdict, undefined, 'no until, no entry')
  t.equal(cache.find('held', NOW, 0)?.verdict, 'token_expired', 'the entry held before is still there')
  t.equal(cache.size, 1)
})

t.test('VerificationCache answers for the whole token only, even when two tokens end alike', async (t) => {
  const cache = new VerificationCache(10)
  const auth = authFromClaims({ sub: 'u', sid: 's' })
  const ending = 'S'.repeat(64)
  cache.remember(`header.payload.${ending}`, auth, NOW + 1000, 0)
  t.equal(cache.find(`header.payload.${ending}`, NOW, 0)?.verdict, auth)
  t.equal(cache.find(`header.forged.${ending}`, NOW, 0)?.verdict, undefined, 'another token with the same ending is not a hit')
  cache.remember(`header.forged.${ending}`, 'token_signature_invalid', NOW + 1000, 0)
  t.equal(cache.find(`header.forged.${ending}`, NOW, 0)?.verdict, 'token_signature_invalid')
  t.equal(cache.find(`header.payload.${ending}`, NOW, 0)?.verdict, auth, 'a refusal is held apart: the caller stays')
  const other = authFromClaims({ sub: 'v', sid: 's' })
  cache.remember(`header.other.${ending}`, other, NOW + 1000, 0)
  t.equal(cache.find(`header.other.${ending}`, NOW, 0)?.verdict, other)
  t.equal(cache.find(`header.payload.${ending}`, NOW, 0)?.verdict, undefined, 'a caller ending alike only pushes the other out: that one is verified again')
  cache.remember('short', 'token_malformed', NOW + 1000, 0)
  t.equal(cache.find('short', NOW, 0)?.verdict, 'token_malformed')
  t.equal(cache.find('shorter', NOW, 0)?.verdict, undefined)
})

t.test('through the app', async (t) => {
  const clock = testClock()
  const issuer = await startIssuer(t, { now: clock.now })
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_CLOCK_SKEW_MS: 0, CLERK_VERIFICATION_CACHE_SIZE: 50 }, { now: clock.now })
  const call = async (token: string) =>
    await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${token}` } })

  t.test('a token seen before costs no second signature check', async (t) => {
    const token = issuer.sign(issuer.sessionClaims({ sid: 'sess_cache_1' }))
    const before = app.clerkAuth.stats()
    for (let i = 0; i < 20; i++) t.equal((await call(token)).statusCode, 200)
    const after = app.clerkAuth.stats()
    t.equal(after.signatureChecks - before.signatureChecks, 1)
    t.equal(after.cacheHits - before.cacheHits, 19)
  })

  t.test('concurrent requests with one new token, waiting on the same key lookup, share one signature check', async (t) => {
    const [, newKey] = testKeys()
    issuer.publishKeys([testKeys()[0], newKey])
    const token = issuer.sign(issuer.sessionClaims({ sid: 'sess_burst' }), { key: newKey })
    const fetches = issuer.jwksRequests()
    const before = app.clerkAuth.stats().signatureChecks
    const answers = await Promise.all(Array.from({ length: 30 }, async () => await call(token)))
    t.ok(answers.every((res) => res.statusCode === 200))
    t.equal(issuer.jwksRequests() - fetches, 1, 'they all waited on one fetch of the new key')
    t.equal(app.clerkAuth.stats().signatureChecks - before, 1, 'and the first to wake verified for all')
  })

  t.test('a cached verification never outlives its token', async (t) => {
    const exp = Math.floor(clock.now() / 1000) + 2
    const token = issuer.sign(issuer.sessionClaims({ sid: 'sess_short', exp }))
    t.equal((await call(token)).statusCode, 200)
    clock.advance(exp * 1000 - clock.now() - 1)
    t.equal((await call(token)).statusCode, 200, 'a millisecond before exp: still the cached verdict')
    clock.advance(1)
    const res = await call(token)
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'token_expired')
  })

  t.test('a flood of one badly signed token costs one signature check, and stays refused', async (t) => {
    const [, otherKey] = testKeys()
    const forged = issuer.sign(issuer.sessionClaims({ sid: 'sess_forged' }), { key: otherKey, header: { kid: issuer.kid } })
    const before = app.clerkAuth.stats().signatureChecks
    for (let i = 0; i < 100; i++) {
      const res = await call(forged)
      if (res.statusCode !== 401 || res.json().code !== 'token_signature_invalid') t.fail(`request ${i} was not refused`)
    }
    t.equal(app.clerkAuth.stats().signatureChecks - before, 1)
  })

  t.test('a forged payload under a cached token\'s signature is refused, and the real token still works', async (t) => {
    const token = issuer.sign(issuer.sessionClaims({ sid: 'sess_original' }))
    t.equal((await call(token)).statusCode, 200)
    const [header, , signature] = token.split('.') as [string, string, string]
    const payload = Buffer.from(JSON.stringify(issuer.sessionClaims({ sid: 'sess_original', sub: 'user_someone_else' }))).toString('base64url')
    const forged = await call(`${header}.${payload}.${signature}`)
    t.equal(forged.statusCode, 401)
    t.equal(forged.json().code, 'token_signature_invalid')
    const again = await call(token)
    t.equal(again.statusCode, 200)
    t.equal(again.body, 'REST Ping #1!')
  })

  t.test('the cache stays within its bound', async (t) => {
    for (let i = 0; i < 120; i++) await call(issuer.sign(issuer.sessionClaims({ sid: `sess_many_${i}` })))
    // callers and refusals are held apart, each within the bound
    t.ok(app.clerkAuth.stats().cachedVerdicts <= 50 + 50, `${app.clerkAuth.stats().cachedVerdicts} cached verdicts`)
  })

  t.test('auth objects shared from the cache cannot be changed by a handler', async (t) => {
    const token = issuer.sign(issuer.sessionClaims({ sid: 'sess_frozen' }))
    await call(token)
    const auth = await app.clerkAuth.authenticate({ headers: { authorization: `Bearer ${token}` } } as never)
    if (typeof auth === 'string') throw new Error(auth)
    t.throws(() => { (auth as { userId: string }).userId = 'someone_else' })
    t.throws(() => { (auth.claims as Record<string, unknown>).sub = 'someone_else' })
  })

  t.test('a token under a known key is verified without waiting on a promise; an unknown kid waits for the lookup', async (t) => {
    const request = (token: string) => ({ headers: { authorization: `Bearer ${token}` } }) as never
    const fresh = app.clerkAuth.authenticate(request(issuer.sign(issuer.sessionClaims({ sid: 'sess_sync' }))))
    t.notOk(fresh instanceof Promise, 'first sight, known key: answered at once')
    t.match(fresh, { sessionId: 'sess_sync' })
    const forged = app.clerkAuth.authenticate(request(issuer.sign(issuer.sessionClaims({ sid: 'sess_sync_forged' }), { key: testKeys()[1], header: { kid: issuer.kid } })))
    t.equal(forged, 'token_signature_invalid', 'a bad signature too')
    const unknown = app.clerkAuth.authenticate(request(issuer.sign(undefined, { header: { kid: 'ins_not_published' } })))
    t.ok(unknown instanceof Promise)
    t.equal(await unknown, 'token_key_unknown')
  })
})
