// The verifier against hostile tokens and answers: forged headers and claims, wrong keys, odd
// encodings and oversized inputs, one attack per test.
import { sign } from 'node:crypto'
import t from 'tap'
import { createVerifier, isRefusal, type SessionAuth, type Verdict } from '../plugins/clerk-auth/index.js'
import { parseJwks } from '../plugins/clerk-auth/jwks.js'
import { buildApp, publicPem, startIssuer, testKeys } from './helper.js'

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

t.test('2. a cached caller is not accepted once the key set is older than jwksMaxStaleMs', async (t) => {
  const issuer = await startIssuer(t)
  let nowMs = Date.now()
  const verifier = createVerifier({ issuer: issuer.url, now: () => nowMs, jwksRefreshIntervalMs: 60_000, jwksMaxStaleMs: 60_000, jwksUnknownKidCooldownMs: 0 })
  t.teardown(verifier.close)
  const token = issuer.sign(issuer.claims({ exp: Math.floor(nowMs / 1000) + 3600 }))
  callerOf(await verifier.verify(token))
  t.ok(!isRefusal(verifier.verify(token) as Verdict), 'cached while the keys are fresh')
  issuer.mode = 'error'
  nowMs += 60_001
  t.equal(await verifier.verify(token), 'issuer_unavailable', 'the cached verdict does not outlive its keys')
  issuer.mode = 'ok'
  callerOf(await verifier.verify(token))
})

t.test('3. jwksMaxStaleMs shorter than the refresh interval is refused, in the plugin and in the settings', async (t) => {
  t.throws(() => createVerifier({ issuer: 'https://clerk.example.com', jwksMaxStaleMs: 0 }), {
    code: 'FST_CLERK_AUTH_INVALID_OPTION', option: 'jwksMaxStaleMs', message: /at least jwksRefreshIntervalMs \(300000 ms\)/
  })
  t.throws(() => createVerifier({ issuer: 'https://clerk.example.com', jwksRefreshIntervalMs: 1000, jwksMaxStaleMs: 999 }), { message: /option jwksMaxStaleMs must be at least/ })
  const verifier = createVerifier({ issuer: 'https://clerk.example.com', jwtKey: publicPem(firstKey), jwksRefreshIntervalMs: 1000, jwksMaxStaleMs: 1000 })
  verifier.close()
  await t.rejects(buildApp(t, { CLERK_JWKS_MAX_STALE_MS: 0 }), {
    name: 'ConfigError',
    message: 'Invalid configuration: CLERK_JWKS_MAX_STALE_MS must be at least CLERK_JWKS_REFRESH_INTERVAL_MS (300000 ms)'
  })
})

t.test('4. the clock is read again after waiting on a key fetch', async (t) => {
  const issuer = await startIssuer(t)
  let nowMs = Date.now()
  const verifier = createVerifier({ issuer: issuer.url, now: () => nowMs, clockSkewMs: 0, jwksUnknownKidCooldownMs: 0 })
  t.teardown(verifier.close)
  callerOf(await verifier.verify(issuer.sign()))
  // A token under a key published later: verifying it waits on a fetch that the test holds.
  issuer.keys = [firstKey, otherKey]
  issuer.mode = 'held'
  const token = issuer.sign(issuer.claims({ exp: Math.floor(nowMs / 1000) + 2 }), { key: otherKey })
  const arrived = issuer.nextRequest()
  const verdict = verifier.verify(token)
  t.ok(verdict instanceof Promise, 'the unknown key is looked up')
  await arrived
  nowMs += 3000
  issuer.release()
  t.equal(await verdict, 'token_expired', 'expired while it waited')
})

t.test('5. a refresh applies the key filters to keys it already holds', async (t) => {
  const jwk = firstKey.publicJwk
  const first = parseJwks({ keys: [jwk] })
  t.equal(first.keys.size, 1)
  for (const changed of [{ use: 'enc' }, { alg: 'RS512' }, { kty: 'EC' }]) {
    t.throws(() => parseJwks({ keys: [{ ...jwk, ...changed }] }, first.keys), /no usable RS256 signing key/, `republished with ${JSON.stringify(changed)}`)
  }
  t.equal(parseJwks({ keys: [jwk] }, first.keys).keys.get(jwk.kid), first.keys.get(jwk.kid), 'an unchanged key is reused')
})

t.test('6, 10: claims a session token cannot have are refused, after the signature', async (t) => {
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
    t.equal(await verifier.verify(issuer.sign(issuer.claims(claims))), 'token_claims_invalid', name)
  }
  t.equal(callerOf(await verifier.verify(issuer.sign(issuer.claims({ act: { sub: 'user_actor' } })))).actor?.sub, 'user_actor')
  callerOf(await verifier.verify(issuer.sign(issuer.claims({ sts: 'active' }))))
  t.equal(await verifier.verify(issuer.sign(issuer.claims({ sts: 'pending' }))), 'session_pending')
})

t.test('6. act as an array gets 401 on /me, not 500', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const response = await app.inject({ url: '/me', headers: { authorization: `Bearer ${issuer.sign(issuer.claims({ act: ['user_actor'] }))}` } })
  t.equal(response.statusCode, 401)
  t.equal(response.json().code, 'token_claims_invalid')
})

t.test('8. a stream of junk does not evict verified callers', async (t) => {
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

t.test('9. one spelling per token: canonical base64url, valid UTF-8', async (t) => {
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
  const payload = withSpareBits((pad) => issuer.claims({ pad }))
  t.ok(Buffer.from(respell(header), 'base64url').equals(Buffer.from(header, 'base64url')), 'the re-spelt header decodes to the same bytes')
  t.ok(Buffer.from(respell(payload), 'base64url').equals(Buffer.from(payload, 'base64url')), 'so does the payload')
  callerOf(await verifier.verify(signSegments(header, payload)))
  t.equal(await verifier.verify(signSegments(respell(header), payload)), 'token_malformed', 'a re-spelt header, validly signed')
  t.equal(await verifier.verify(signSegments(header, respell(payload))), 'token_malformed', 'a re-spelt payload, validly signed')

  // Invalid UTF-8 inside a claim: Buffer would read it as U+FFFD, the same as another sub.
  const bytes = Buffer.from(JSON.stringify(issuer.claims({ sub: 'user_' })))
  const at = bytes.indexOf('"user_"') + 6
  const invalid = Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff]), bytes.subarray(at)])
  t.equal(await verifier.verify(signSegments(header, invalid.toString('base64url'))), 'token_malformed', 'invalid UTF-8 in a claim')
  const replaced = Buffer.concat([bytes.subarray(0, at), Buffer.from('\uFFFD'), bytes.subarray(at)])
  t.equal(callerOf(await verifier.verify(signSegments(header, replaced.toString('base64url')))).userId, 'user_\uFFFD', 'a real U+FFFD is fine')
  const badHeader = Buffer.concat([Buffer.from(`{"alg":"RS256","kid":"${firstKey.publicJwk.kid}","x":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])
  t.equal(await verifier.verify(signSegments(badHeader.toString('base64url'), payload)), 'token_malformed', 'invalid UTF-8 in the header')
})

t.test('10. an empty Authorization header leaves the cookie to speak', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const token = issuer.sign()
  const withCookie = await app.inject({ url: '/rest-endpoints/7', headers: { authorization: '', cookie: `__session=${token}` } })
  t.equal(withCookie.statusCode, 200)
  t.equal(withCookie.body, 'REST Ping #7!')
  const without = await app.inject({ url: '/rest-endpoints/7', headers: { authorization: '' } })
  t.equal(without.json().code, 'token_missing')
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
    const verdict = await verifier.verify(issuer.sign(issuer.claims(claims), forger))
    t.equal(verdict, 'token_signature_invalid', name)
    answers.add(verdict)
  }
  t.equal(answers.size, 1, 'one and the same answer')
  // A token's kind is read before its key, as Clerk does: that answer is the same for every instance.
  t.equal(await verifier.verify(issuer.sign(issuer.claims({ sub: 'mch_1' }), forger)), 'token_type_not_accepted', 'a machine subject where sessions only are accepted')
  t.equal(await verifier.verify(issuer.sign(issuer.claims({ sub: 'mch_1' }), forger), ['m2m_token']), 'token_signature_invalid', 'where M2M tokens are accepted, the signature first')
  // Signed by the issuer, the same lies get their own codes.
  t.equal(await verifier.verify(issuer.sign(issuer.claims(lies['a foreign azp']))), 'token_unauthorized_party')
  t.equal(await verifier.verify(issuer.sign(issuer.claims(lies['a wrong iss']))), 'token_issuer_invalid')
  t.equal(await verifier.verify(issuer.sign(issuer.claims(lies['an old exp']))), 'token_expired')
})

t.test('tokens Clerk signs with the same key but that are not sessions get token_type_not_accepted on a sessions-only route', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const kinds: Record<string, string> = {
    'a JWT-template token (cat 222AAA)': issuer.sign(issuer.claims({ sid: undefined }), { header: { cat: 'cl_B7d4PD222AAA' } }),
    'an M2M JWT (cat 333AAA)': issuer.sign(issuer.claims({ sub: 'mch_1', sid: undefined }), { header: { cat: 'cl_B7d4PD333AAA' } }),
    'an M2M JWT from before the category (sub mch_)': issuer.sign(issuer.claims({ sub: 'mch_1', sid: undefined })),
    'an OAuth access token (typ at+jwt)': issuer.sign(issuer.claims({ sid: undefined }), { header: { typ: 'at+jwt' } }),
    'an OAuth access token (typ application/at+jwt)': issuer.sign(issuer.claims({ sid: undefined }), { header: { typ: 'application/at+jwt' } })
  }
  for (const [name, token] of Object.entries(kinds)) {
    for (const headers of [{ authorization: `Bearer ${token}` }, { cookie: `__session=${token}` }]) {
      const response = await app.inject({ url: '/rest-endpoints/1', headers })
      t.equal(response.statusCode, 401, name)
      t.equal(response.json().code, 'token_type_not_accepted', `${name} in the ${Object.keys(headers)[0] as string}`)
    }
  }
  for (const header of [{ cat: 'cl_I7d4PD111III' }, { cat: 'cl_B7d4PD111AAA' }, {}]) {
    const response = await app.inject({ url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign(undefined, { header })}` } })
    t.equal(response.statusCode, 200, `a session with ${JSON.stringify(header)} in its header`)
  }
})
