// The verifier from plain Node: no Fastify anywhere in this file.
import t from 'tap'
import { createVerifier, isRefusal } from '../plugins/clerk-auth/index.js'
import { forgeToken, startIssuer, testKeys } from './helper.js'

t.test('createVerifier checks tokens and credentials without any framework', async (t) => {
  const issuer = await startIssuer(t)
  let nowMs = Date.now()
  issuer.now = () => nowMs
  const verifier = createVerifier({ issuer: `${issuer.url}/`, now: () => nowMs, clockSkewMs: 0 })
  t.teardown(verifier.close)
  t.equal(verifier.options.issuer, issuer.url, 'a trailing slash is dropped: tokens carry the bare URL')

  const token = issuer.sign()
  const first = await verifier.verify(token)
  if (isRefusal(first) || first.tokenType !== 'session_token') throw new Error(`not a session: ${JSON.stringify(first)}`)
  t.equal(first.userId, 'user_123')
  t.equal(first.sessionId, 'sess_123')
  t.ok(verifier.isReady(), 'the first verification waited for the keys')
  t.equal(verifier.verify(token), first, 'the second answer comes from the cache, synchronously')
  t.match(verifier.stats(), {
    signatureChecks: 1,
    cacheHits: 1,
    cacheMisses: 1,
    cachedVerdicts: 1,
    machineApiCalls: 0,
    verdicts: [{ tokenType: 'session_token', code: 'ok', count: 2 }],
    keySet: { fetches: { ok: 1, timeout: 0, failed: 0 } }
  })

  t.equal(await verifier.verify('junk'), 'token_malformed')
  t.equal(await verifier.verify(issuer.sign(undefined, { key: testKeys()[1], header: { kid: issuer.keys[0]?.publicJwk.kid } })), 'token_signature_invalid')
  t.equal(await verifier.verify(forgeToken({ alg: 'none' }, issuer.claims())), 'token_algorithm_invalid')
  // refusals given before the token's kind was known come back the same from the cache, whatever the route accepts
  const hits = verifier.stats().cacheHits
  t.equal(verifier.verify('junk'), 'token_malformed')
  t.equal(verifier.verify('junk', ['m2m_token']), 'token_malformed')
  t.equal(verifier.verify(forgeToken({ alg: 'none' }, issuer.claims()), ['oauth_token']), 'token_algorithm_invalid')
  t.equal(verifier.stats().cacheHits, hits + 3, 'all three from the cache')

  t.equal(await verifier.verifyCredentials(undefined, undefined), 'token_missing')
  t.equal(await verifier.verifyCredentials('Basic abc', undefined), 'token_scheme_invalid')
  t.equal(await verifier.verifyCredentials(undefined, `theme=dark; __session=${token}`), first, 'the __session cookie')
  t.equal(await verifier.verifyCredentials(`Bearer ${token}`, '__session=junk'), first, 'the header wins over the cookie')

  // The clock is the verifier's own: a minute and more later the same token has expired.
  nowMs += 120_000
  t.equal(await verifier.verify(token), 'token_expired')
  t.equal(isRefusal('token_expired'), true)
})
