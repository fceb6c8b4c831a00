import { createPublicKey } from 'node:crypto'
import t from 'tap'
import { decodeJwt, hasValidRs256Signature, isCanonicalBase64url, type DecodedJwt } from '../jwt.js'
import { signJwt } from '../testing/index.js'
import { testKeys } from './support/issuer.js'
import { forgeToken, hs256WithPublicKey } from './support/tokens.js'

const [key, other] = testKeys()
const publicKey = createPublicKey(key.privateKey)
const claims = { sub: 'user_1', sid: 'sess_1', exp: 2_000_000_000, iat: 1_700_000_000 }
const token = signJwt({ kid: key.publicJwk.kid }, claims, key.privateKey)

t.test('decodeJwt takes a compact JWS apart without trusting it', async (t) => {
  const jwt = decodeJwt(token) as DecodedJwt
  t.same(jwt.header, { alg: 'RS256', typ: 'JWT', kid: key.publicJwk.kid })
  t.same(jwt.payload, claims)
  t.equal(`${jwt.signingInput}.${jwt.signature}`, token, 'the signed part and the signature exactly as sent')
  t.equal(decodeJwt(forgeToken({ alg: 'none' }, claims))?.signature, '', 'an empty signature still decodes: alg none is refused by name later')
})

t.test('a header shared by many tokens is parsed once and cannot be changed by anyone', async (t) => {
  const first = decodeJwt(token) as DecodedJwt
  const second = decodeJwt(signJwt({ kid: key.publicJwk.kid }, { ...claims, sid: 'sess_2' }, key.privateKey)) as DecodedJwt
  t.equal(second.header, first.header, 'the same parsed header')
  t.ok(Object.isFrozen(first.header))
  t.not(second.payload, first.payload, 'payloads are never shared')
  const long = decodeJwt(forgeToken({ alg: 'RS256', kid: key.publicJwk.kid, pad: 'x'.repeat(600) }, claims, 'c2ln')) as DecodedJwt
  const again = decodeJwt(forgeToken({ alg: 'RS256', kid: key.publicJwk.kid, pad: 'x'.repeat(600) }, claims, 'c2ln')) as DecodedJwt
  t.same(again.header, long.header)
  t.not(again.header, long.header, 'unusually long headers are not kept')
})

t.test('decodeJwt refuses what is not two JSON objects and a signature', async (t) => {
  const segment = (value: string): string => Buffer.from(value).toString('base64url')
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const cases: Array<[string, string]> = [
    ['two segments', `${header}.${payload}`],
    ['four segments', `${token}.x`],
    ['a character outside base64url', `${header}.${payload}+.${signature}`],
    ['padding', `${header}=.${payload}.${signature}`],
    ['a header that is not JSON', `${segment('{"alg":')}.${payload}.${signature}`],
    ['a payload that is not JSON', `${header}.${segment('sub=user_1')}.${signature}`],
    ['a payload that is an array', `${header}.${segment('[1,2]')}.${signature}`],
    ['a payload that is a string', `${header}.${segment('"user_1"')}.${signature}`],
    ['a header that is null', `${segment('null')}.${payload}.${signature}`],
    ['an empty payload', `${header}..${signature}`],
    ['an empty string', '']
  ]
  for (const [name, value] of cases) t.equal(decodeJwt(value), undefined, name)
})

t.test('hasValidRs256Signature', async (t) => {
  const jwt = decodeJwt(token) as DecodedJwt
  t.ok(hasValidRs256Signature(jwt, publicKey))
  t.notOk(hasValidRs256Signature(jwt, createPublicKey(other.privateKey)), 'another key')
  const tampered = decodeJwt(forgeToken(jwt.header, { ...claims, sub: 'user_2' }, jwt.signature)) as DecodedJwt
  t.notOk(hasValidRs256Signature(tampered, publicKey), 'a changed payload under the old signature')
  t.notOk(hasValidRs256Signature({ ...jwt, signature: '' }, publicKey), 'no signature')
  t.notOk(hasValidRs256Signature({ ...jwt, signature: jwt.signature.slice(0, 40) }, publicKey), 'a truncated signature')
  t.notOk(hasValidRs256Signature({ ...jwt, signature: `${jwt.signature}AAAA` }, publicKey), 'a signature too long')
  const hs256 = decodeJwt(hs256WithPublicKey(key, claims)) as DecodedJwt
  t.notOk(hasValidRs256Signature(hs256, publicKey), 'an HMAC keyed with the public key is not an RSA signature')
})

t.test('isCanonicalBase64url agrees with re-encoding on every string of up to three characters, and on longer ones', async (t) => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const reference = (text: string): boolean => Buffer.from(text, 'base64url').toString('base64url') === text
  let disagreements = 0
  let canonical = 0
  const check = (text: string): void => {
    if (isCanonicalBase64url(text) !== reference(text)) disagreements++
    if (reference(text)) canonical++
  }
  check('')
  for (const a of alphabet) {
    check(a)
    for (const b of alphabet) {
      check(a + b)
      for (const c of alphabet) check(a + b + c)
    }
  }
  for (let i = 0; i < 2000; i++) check(Buffer.from(String(i * 7919)).toString('base64url') + alphabet[i % 64] + (i % 3 === 0 ? '' : alphabet[(i * 13) % 64]))
  t.equal(disagreements, 0)
  // 1 empty, 0 of one character, 64 × 4 of two, 64 × 64 × 16 of three, and some of the longer ones
  t.ok(canonical > 1 + 256 + 65_536, `${canonical} canonical strings`)
})

t.test('headers up to 512 characters are parsed once and shared; longer ones every time', async (t) => {
  for (const [length, shared] of [[512, true], [514, false]] as const) {
    const header = (() => {
      for (let pad = ''; ; pad += 'x') {
        const segment = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'k', pad })).toString('base64url')
        if (segment.length === length) return segment
        if (segment.length > length) throw new Error(`no header of ${length} characters`)
      }
    })()
    const first = decodeJwt(`${header}.e30.`)?.header
    const second = decodeJwt(`${header}.e30.`)?.header
    t.ok(first !== undefined && second !== undefined)
    t.equal(first === second, shared, `${length} characters: ${shared ? 'one shared object' : 'parsed again'}`)
  }
})
