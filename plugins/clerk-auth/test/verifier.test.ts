// The verifier from plain Node: no Fastify anywhere in this file.
import { sign } from 'node:crypto'
import t from 'tap'
import { createVerifier, isRefusal, type SessionAuth, type Verdict } from '../index.js'
import { startIssuer, testKeys } from './support/issuer.js'
import { forgeToken } from './support/tokens.js'

const [firstKey, otherKey] = testKeys()

/** A token over exactly these segment texts, signed (RS256) with key. */
function signSegments (header: string, payload: string, key = firstKey): string {
  const input = `${header}.${payload}`
  return `${input}.${sign('sha256', Buffer.from(input), key.privateKey).toString('base64url')}`
}

const segment = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

function callerOf (verdict: Verdict): SessionAuth {
  if (isRefusal(verdict) || verdict.tokenType !== 'session_token') throw new Error(`not a session: ${JSON.stringify(verdict)}`)
  return verdict
}

t.test('createVerifier checks tokens and credentials without any framework', async (t) => {
  let nowMs = Date.now()
  const issuer = await startIssuer(t, { now: () => nowMs })
  const verifier = createVerifier({ issuer: `${issuer.url}/`, now: () => nowMs, clockSkewMs: 0 })
  t.teardown(verifier.close)
  t.equal(verifier.options.issuer, issuer.url, 'a trailing slash is dropped: tokens carry the bare URL')

  const token = issuer.sign()
  const first = await verifier.verify(token)
  if (isRefusal(first) || first.tokenType !== 'session_token') throw new Error(`not a session: ${JSON.stringify(first)}`)
  t.equal(first.userId, 'user_test')
  t.equal(first.sessionId, 'sess_test')
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
  t.equal(await verifier.verify(issuer.sign(undefined, { key: testKeys()[1], header: { kid: issuer.kid } })), 'token_signature_invalid')
  t.equal(await verifier.verify(forgeToken({ alg: 'none' }, issuer.sessionClaims())), 'token_algorithm_invalid')
  // refusals given before the token's kind was known come back the same from the cache, whatever the route accepts
  const hits = verifier.stats().cacheHits
  t.equal(verifier.verify('junk'), 'token_malformed')
  t.equal(verifier.verify('junk', ['m2m_token']), 'token_malformed')
  t.equal(verifier.verify(forgeToken({ alg: 'none' }, issuer.sessionClaims()), ['oauth_token']), 'token_algorithm_invalid')
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

t.test('a cached caller is not accepted once the key set is older than jwksMaxStaleMs', async (t) => {
  const issuer = await startIssuer(t)
  let nowMs = Date.now()
  const verifier = createVerifier({ issuer: issuer.url, now: () => nowMs, jwksRefreshIntervalMs: 60_000, jwksMaxStaleMs: 60_000, jwksUnknownKidCooldownMs: 0 })
  t.teardown(verifier.close)
  const token = issuer.sign(issuer.sessionClaims({ exp: Math.floor(nowMs / 1000) + 3600 }))
  callerOf(await verifier.verify(token))
  t.ok(!isRefusal(verifier.verify(token) as Verdict), 'cached while the keys are fresh')
  issuer.jwksFault = 'error'
  nowMs += 60_001
  t.equal(await verifier.verify(token), 'issuer_unavailable', 'the cached verdict does not outlive its keys')
  issuer.jwksFault = undefined
  callerOf(await verifier.verify(token))
})

t.test('the clock is read again after waiting on a key fetch', async (t) => {
  const issuer = await startIssuer(t)
  let nowMs = Date.now()
  const verifier = createVerifier({ issuer: issuer.url, now: () => nowMs, clockSkewMs: 0, jwksUnknownKidCooldownMs: 0 })
  t.teardown(verifier.close)
  callerOf(await verifier.verify(issuer.sign()))
  // A token under a key published later: verifying it waits on a fetch that the test holds.
  issuer.publishKeys([firstKey, otherKey])
  issuer.jwksFault = 'held'
  const token = issuer.sign(issuer.sessionClaims({ exp: Math.floor(nowMs / 1000) + 2 }), { key: otherKey })
  const arrived = issuer.nextJwksRequest()
  const verdict = verifier.verify(token)
  t.ok(verdict instanceof Promise, 'the unknown key is looked up')
  await arrived
  nowMs += 3000
  issuer.releaseHeldJwks()
  t.equal(await verdict, 'token_expired', 'expired while it waited')
})

t.test('claims a session token cannot have are refused, after the signature', async (t) => {
  const issuer = await startIssuer(t)
  const nowMs = Date.now()
  const nowS = Math.floor(nowMs / 1000)
  const verifier = createVerifier({ issuer: issuer.url, now: () => nowMs })
  t.teardown(verifier.close)
  const refused = {
    'act as an array': { act: [{ sub: 'user_actor' }] },
    'act without sub': { act: { iss: 'x' } },
    'act null': { act: null },
    'a float exp': { exp: nowS + 60.5 },
    'a float iat': { iat: nowS - 0.25 },
    'a float nbf': { nbf: nowS - 1.5 },
    'a negative iat': { iat: -1 },
    'exp 1e308': { exp: 1e308 },
    'exp past year 9999': { exp: 253_402_300_800 },
    'a string nbf': { nbf: String(nowS) },
    'sts banned': { sts: 'banned' },
    'sts empty': { sts: '' },
    'sts not a string': { sts: 1 }
  }
  for (const [name, claims] of Object.entries(refused)) {
    t.equal(await verifier.verify(issuer.sign(issuer.sessionClaims(claims))), 'token_claims_invalid', name)
  }
  t.equal(callerOf(await verifier.verify(issuer.sign(issuer.sessionClaims({ act: { sub: 'user_actor' } })))).actor?.sub, 'user_actor')
  callerOf(await verifier.verify(issuer.sign(issuer.sessionClaims({ sts: 'active' }))))
  t.equal(await verifier.verify(issuer.sign(issuer.sessionClaims({ sts: 'pending' }))), 'session_pending')
})

t.test('a stream of junk does not evict verified callers', async (t) => {
  const issuer = await startIssuer(t)
  const verifier = createVerifier({ issuer: issuer.url, verificationCacheSize: 10 })
  t.teardown(verifier.close)
  const token = issuer.sign()
  callerOf(await verifier.verify(token))
  const forged = issuer.sign(undefined, { key: otherKey, header: { kid: firstKey.publicJwk.kid } }).slice(0, -8)
  for (let i = 0; i < 100; i++) {
    t.equal(await verifier.verify(`junk.${i}`), 'token_malformed')
    t.equal(await verifier.verify(`${forged}${String(i).padStart(7, 'A')}A`), 'token_signature_invalid')
  }
  const checks = verifier.stats().signatureChecks
  callerOf(verifier.verify(token) as Verdict)
  t.equal(verifier.stats().signatureChecks, checks, 'the valid token is still answered from the cache')
})

t.test('one spelling per token: canonical base64url, valid UTF-8', async (t) => {
  const issuer = await startIssuer(t)
  const verifier = createVerifier({ issuer: issuer.url })
  t.teardown(verifier.close)
  const token = issuer.sign()
  callerOf(await verifier.verify(token))
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = token.at(-1) as string
  // 256 signature bytes take 342 characters: the last one carries 2 bits and 4 unused ones.
  t.equal(token.length - token.lastIndexOf('.') - 1, 342)
  const spellings = [...alphabet].filter((char) => char !== last && Buffer.from(`A${char}`, 'base64url')[0] === Buffer.from(`A${last}`, 'base64url')[0])
  t.equal(spellings.length, 15, 'fifteen other spellings decode to the same bytes')
  for (const char of spellings) {
    t.equal(await verifier.verify(token.slice(0, -1) + char), 'token_malformed', `signature ending ${char}`)
  }
  // The same for the header and the payload: the last character re-spelt, the token validly signed.
  const withSpareBits = (build: (pad: string) => unknown): string => {
    for (let pad = ''; ; pad += 'x') {
      const text = segment(build(pad))
      if (text.length % 4 !== 0) return text
    }
  }
  const respell = (text: string): string => text.slice(0, -1) + (alphabet[alphabet.indexOf(text.at(-1) as string) + 1] as string)
  const header = withSpareBits((pad) => ({ alg: 'RS256', typ: 'JWT', kid: firstKey.publicJwk.kid, pad }))
  const payload = withSpareBits((pad) => issuer.sessionClaims({ pad }))
  t.ok(Buffer.from(respell(header), 'base64url').equals(Buffer.from(header, 'base64url')), 'the re-spelt header decodes to the same bytes')
  t.ok(Buffer.from(respell(payload), 'base64url').equals(Buffer.from(payload, 'base64url')), 'so does the payload')
  callerOf(await verifier.verify(signSegments(header, payload)))
  t.equal(await verifier.verify(signSegments(respell(header), payload)), 'token_malformed', 'a re-spelt header, validly signed')
  t.equal(await verifier.verify(signSegments(header, respell(payload))), 'token_malformed', 'a re-spelt payload, validly signed')

  // Invalid UTF-8 inside a claim: Buffer would read it as U+FFFD, the same as another sub.
  const bytes = Buffer.from(JSON.stringify(issuer.sessionClaims({ sub: 'user_' })))
  const at = bytes.indexOf('"user_"') + 6
  const invalid = Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff]), bytes.subarray(at)])
  t.equal(await verifier.verify(signSegments(header, invalid.toString('base64url'))), 'token_malformed', 'invalid UTF-8 in a claim')
  const replaced = Buffer.concat([bytes.subarray(0, at), Buffer.from('\uFFFD'), bytes.subarray(at)])
  t.equal(callerOf(await verifier.verify(signSegments(header, replaced.toString('base64url')))).userId, 'user_\uFFFD', 'a real U+FFFD is fine')
  const badHeader = Buffer.concat([Buffer.from(`{"alg":"RS256","kid":"${firstKey.publicJwk.kid}","x":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])
  t.equal(await verifier.verify(signSegments(badHeader.toString('base64url'), payload)), 'token_malformed', 'invalid UTF-8 in the header')
})

t.test("Clerk's order: a forged token gets token_signature_invalid whatever it claims", async (t) => {
  const issuer = await startIssuer(t)
  const nowMs = Date.now()
  const nowS = Math.floor(nowMs / 1000)
  const verifier = createVerifier({ issuer: issuer.url, now: () => nowMs, authorizedParties: ['http://localhost:3000'] })
  t.teardown(verifier.close)
  const lies = {
    'a foreign azp': { azp: 'https://evil.example' },
    'no azp': { azp: undefined },
    'a wrong iss': { iss: 'https://other.clerk.accounts.dev' },
    'an old exp': { exp: nowS - 3600, iat: nowS - 3660 },
    'a future nbf': { nbf: nowS + 3600 },
    'a future iat': { iat: nowS + 3600 },
    'no sid': { sid: undefined },
    'a pending session': { sts: 'pending' },
    'nothing wrong': {}
  }
  const forger = { key: otherKey, header: { kid: firstKey.publicJwk.kid } }
  const answers = new Set<Verdict>()
  for (const [name, claims] of Object.entries(lies)) {
    const verdict = await verifier.verify(issuer.sign(issuer.sessionClaims(claims), forger))
    t.equal(verdict, 'token_signature_invalid', name)
    answers.add(verdict)
  }
  t.equal(answers.size, 1, 'one and the same answer')
  // A token's kind is read before its key, as Clerk does: that answer is the same for every instance.
  t.equal(await verifier.verify(issuer.sign(issuer.sessionClaims({ sub: 'mch_1' }), forger)), 'token_type_not_accepted', 'a machine subject where sessions only are accepted')
  t.equal(await verifier.verify(issuer.sign(issuer.sessionClaims({ sub: 'mch_1' }), forger), ['m2m_token']), 'token_signature_invalid', 'where M2M tokens are accepted, the signature first')
  // Signed by the issuer, the same lies get their own codes.
  t.equal(await verifier.verify(issuer.sign(issuer.sessionClaims(lies['a foreign azp']))), 'token_unauthorized_party')
  t.equal(await verifier.verify(issuer.sign(issuer.sessionClaims(lies['a wrong iss']))), 'token_issuer_invalid')
  t.equal(await verifier.verify(issuer.sign(issuer.sessionClaims(lies['an old exp']))), 'token_expired')
})
