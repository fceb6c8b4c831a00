// Generated tokens against REST and GraphQL, judged by a reference check written here, apart from the
// plugin. Fixed seed (FUZZ_SEED overrides it); every failure message carries the seed and the case number.
import { createPublicKey, createVerify, sign, type KeyObject } from 'node:crypto'
import t from 'tap'
import { refusalTexts } from '../../plugins/clerk-auth/index.js'
import { startIssuer, testKeys } from '../../plugins/clerk-auth/test/support/issuer.js'
import { testClock } from '../../plugins/clerk-auth/test/support/observe.js'
import { buildApp } from '../support/app.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20261130)
// npm run mutate runs fewer (FUZZ_CASES): it runs this file once per mutant.
const CASES = Number(process.env.FUZZ_CASES ?? 3000)
const AZP = 'http://localhost:3000'
const SKEW_MS = 5000

/** mulberry32: a small seeded generator, so that a failing run can be replayed. */
function generator (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6D2B79F5) >>> 0
    let x = state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const random = generator(SEED)
const below = (n: number): number => Math.floor(random() * n)
const pick = <T>(items: readonly T[]): T => items[below(items.length)] as T
const chance = (p: number): boolean => random() < p

// --- the reference check: what a Clerk session token must be, from shared/clerk/session-tokens.md
interface Reference { issuer: string, nowMs: number, keys: ReadonlyMap<string, KeyObject> }
const LAST_SECOND = 253_402_300_799
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function decodePart (part: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(part) || Buffer.from(part, 'base64url').toString('base64url') !== part) return undefined
  try {
    const value: unknown = JSON.parse(utf8.decode(Buffer.from(part, 'base64url')))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

const isSecond = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0 && (value as number) <= LAST_SECOND
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0

function referenceAccepts (token: string, ref: Reference): boolean {
  if (token.length > 16 * 1024) return false
  const parts = token.split('.')
  if (parts.length !== 3) return false
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string]
  const header = decodePart(headerPart)
  const claims = decodePart(payloadPart)
  if (header === undefined || claims === undefined || !/^[A-Za-z0-9_-]+$/.test(signaturePart)) return false
  if (Buffer.from(signaturePart, 'base64url').toString('base64url') !== signaturePart) return false
  if (header.alg !== 'RS256' || (header.typ !== undefined && header.typ !== 'JWT') || 'crit' in header) return false
  if (['jwk', 'jku', 'x5u', 'x5c'].some((name) => name in header)) return false
  if (header.cat === 'cl_B7d4PD222AAA' || header.cat === 'cl_B7d4PD333AAA') return false
  const key = typeof header.kid === 'string' ? ref.keys.get(header.kid) : undefined
  if (key === undefined) return false
  const verifier = createVerify('RSA-SHA256')
  verifier.update(`${headerPart}.${payloadPart}`)
  if (!verifier.verify(key, Buffer.from(signaturePart, 'base64url'))) return false
  const { iss, sub, sid, exp, iat, nbf, azp, sts, act } = claims
  if (!isText(sub) || sub.startsWith('mch_') || !isText(sid) || iss !== ref.issuer) return false
  if (!isSecond(exp) || !isSecond(iat) || (nbf !== undefined && !isSecond(nbf))) return false
  if (exp * 1000 <= ref.nowMs - SKEW_MS || iat * 1000 > ref.nowMs + SKEW_MS || (nbf !== undefined && nbf * 1000 > ref.nowMs + SKEW_MS)) return false
  if (azp !== AZP) return false
  if (sts !== undefined && sts !== 'active') return false
  if (act !== undefined && (typeof act !== 'object' || act === null || Array.isArray(act) || !isText((act as { sub?: unknown }).sub))) return false
  return true
}

// --- the generator
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const PRINTABLE = `${ALPHABET}.!#$%&'*+/=?^\`{|}~ ;:,"`

function randomText (alphabet: string, length: number): string {
  let text = ''
  for (let i = 0; i < length; i++) text += alphabet[below(alphabet.length)] as string
  return text
}

t.test(`fuzz: ${CASES} generated tokens (seed ${SEED})`, async (t) => {
  const [key, otherKey] = testKeys()
  const clock = testClock()
  const issuer = await startIssuer(t, { now: clock.now })
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_AUTHORIZED_PARTIES: AZP }, { now: clock.now })
  const ref: Reference = { issuer: issuer.url, nowMs: clock.now(), keys: new Map([[key.publicJwk.kid, createPublicKey(key.privateKey)]]) }
  const nowS = Math.floor(ref.nowMs / 1000)

  const timeValue = (): unknown => pick([
    nowS, nowS - 30, nowS + 30, nowS + 3600, nowS - 3600, nowS + 0.5, -1, 0, 1e308, LAST_SECOND, LAST_SECOND + 1,
    String(nowS), null, undefined, Number.MAX_SAFE_INTEGER, [nowS], true
  ])
  const anyValue = (): unknown => pick([undefined, null, '', 'x', 0, 1.5, -3, [], {}, ['a'], { sub: 'user_actor' }, true, '\u0000', 'ü', 'user_\uFFFD'])

  function claims (): Record<string, unknown> {
    const base: Record<string, unknown> = issuer.sessionClaims()
    if (chance(0.4)) return base
    const mutations = 1 + below(3)
    for (let i = 0; i < mutations; i++) {
      const name = pick(['iss', 'sub', 'sid', 'exp', 'iat', 'nbf', 'azp', 'sts', 'act', 'v', 'o'])
      if (['exp', 'iat', 'nbf'].includes(name)) base[name] = timeValue()
      else if (name === 'iss') base.iss = pick([issuer.url, `${issuer.url}/`, 'https://evil.example', anyValue()])
      else if (name === 'sub') base.sub = pick(['user_1', 'mch_1', '', 'MCH_1', anyValue()])
      else if (name === 'azp') base.azp = pick([AZP, `${AZP}/`, 'https://evil.example', anyValue()])
      else if (name === 'sts') base.sts = pick(['active', 'pending', 'banned', anyValue()])
      else if (name === 'act') base.act = pick([{ sub: 'user_actor' }, [{ sub: 'user_actor' }], { iss: 'x' }, anyValue()])
      else base[name] = anyValue()
      if (base[name] === undefined) delete base[name]
    }
    return base
  }

  function header (): Record<string, unknown> {
    const base: Record<string, unknown> = { alg: 'RS256', typ: 'JWT', kid: key.publicJwk.kid }
    if (chance(0.6)) return base
    const name = pick(['alg', 'typ', 'kid', 'cat', 'crit', 'jwk', 'jku'])
    const values: Record<string, unknown[]> = {
      alg: ['RS512', 'none', 'HS256', 'rs256', undefined],
      typ: ['at+jwt', 'application/at+jwt', 'JWS', undefined, 1],
      kid: [otherKey.publicJwk.kid, 'ins_unknown', '', 7, undefined],
      cat: ['cl_B7d4PD111AAA', 'cl_B7d4PD222AAA', 'cl_B7d4PD333AAA', 'cl_I7d4PD111III', 'x'],
      crit: [['exp'], []],
      jwk: [key.publicJwk],
      jku: ['https://evil.example/jwks.json']
    }
    base[name] = pick(values[name] as unknown[])
    if (base[name] === undefined) delete base[name]
    return base
  }

  const segment = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const signed = (h: string, p: string, signer = key): string =>
    `${h}.${p}.${sign('sha256', Buffer.from(`${h}.${p}`), signer.privateKey).toString('base64url')}`
  const respell = (text: string): string => {
    if (text.length % 4 === 0 || text.length === 0) return text
    return text.slice(0, -1) + (ALPHABET[ALPHABET.indexOf(text.at(-1) as string) + 1] ?? 'A')
  }

  function token (): string {
    switch (below(8)) {
      case 0: case 1: case 2: return signed(segment(header()), segment(claims()))
      case 3: return signed(segment(header()), segment(claims()), otherKey)
      case 4: return `${segment(header())}.${segment(claims())}.${pick(['', randomText(ALPHABET, 342)])}`
      case 5: {
        // a valid token with one character changed, or a segment re-spelt
        const valid = signed(segment(header()), segment(claims()))
        if (chance(0.5)) {
          const parts = valid.split('.')
          const which = below(3)
          parts[which] = respell(parts[which] as string)
          return parts.join('.')
        }
        const at = below(valid.length)
        return valid.slice(0, at) + pick([...ALPHABET, '.']) + valid.slice(at + 1)
      }
      case 6: {
        // invalid UTF-8 or a non-object inside a segment
        const bytes = Buffer.from(JSON.stringify(claims()))
        const at = 1 + below(bytes.length - 2)
        const broken = chance(0.5) ? Buffer.concat([bytes.subarray(0, at), Buffer.from([pick([0xff, 0xc3, 0xe2, 0x80])]), bytes.subarray(at)]) : Buffer.from(JSON.stringify(pick([[], 1, 'x', null])))
        return signed(segment(header()), broken.toString('base64url'))
      }
      default: return randomText(pick([ALPHABET, PRINTABLE]), below(400)).trim()
    }
  }

  const codes = new Set(Object.keys(refusalTexts))
  let accepted = 0
  let failures = 0
  const where = (i: number, value: string): string => `seed ${SEED}, case ${i}: ${value.slice(0, 120)}`
  for (let i = 0; i < CASES && failures < 5; i++) {
    const value = token()
    const expected = referenceAccepts(value, ref)
    // A cookie value ends at ';' or a blank: only token-shaped strings go there, so both sides see the same one.
    const viaCookie = chance(0.2) && /^[\w.-]+$/.test(value)
    const headers = viaCookie ? { cookie: `__session=${value}` } : { authorization: `Bearer ${value}` }
    const rest = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers })
    const restOk = rest.statusCode === (expected ? 200 : 401) &&
      (expected ? rest.body === 'REST Ping #1!' : codes.has(rest.json().code as string))
    if (!restOk) {
      failures++
      t.fail(`REST ${rest.statusCode} ${rest.body.slice(0, 100)}; reference ${expected ? 'accepts' : 'refuses'} (${where(i, value)})`)
    }
    if (expected) accepted++
    if (i % 3 !== 0) continue
    const gql = await app.inject({ method: 'POST', url: '/graphql', headers, payload: { query: '{ pingOne(id: "1") }' } })
    const body = gql.json()
    const gqlOk = expected
      ? gql.statusCode === 200 && body.data?.pingOne === 'GraphQL Ping #1!'
      : gql.statusCode === 401 && codes.has(body.errors?.[0]?.extensions?.reason as string)
    if (!gqlOk) {
      failures++
      t.fail(`GraphQL ${gql.statusCode} ${gql.body.slice(0, 100)}; reference ${expected ? 'accepts' : 'refuses'} (${where(i, value)})`)
    }
  }
  t.equal(failures, 0, `no disagreement with the reference (seed ${SEED})`)
  // The generator must reach both sides, or the test proves little.
  t.ok(accepted > CASES / 20, `${accepted} of ${CASES} tokens accepted`)
  t.ok(accepted < CASES / 2, 'and most refused')
})
