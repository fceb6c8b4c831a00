import t from 'tap'
import { checkClaims, checkHeader, checkTypedHeader, m2mScopes, oauthScopes, type ClaimPolicy } from '../token-checks.js'
import { acceptsTokenProblem, M2M_CATEGORY, TEMPLATE_CATEGORY } from '../token-types.js'

const NOW = 1_800_000_000_000
const nowS = NOW / 1000
const policy: ClaimPolicy = { issuer: 'https://clerk.example.com', clockSkewMs: 5000 }
const valid = { iss: 'https://clerk.example.com', sub: 'user_1', sid: 'sess_1', exp: nowS + 60, iat: nowS, nbf: nowS - 5, azp: 'https://app.example.com' }

t.test('checkHeader', async (t) => {
  t.equal(checkHeader({ alg: 'RS256', typ: 'JWT', kid: 'ins_1' }), undefined)
  t.equal(checkHeader({ alg: 'RS256', kid: 'ins_1' }), undefined, 'typ is optional')
  t.equal(checkHeader({ alg: 'rs256', kid: 'ins_1' }), 'token_algorithm_invalid', 'alg is case-sensitive')
  t.equal(checkHeader({ kid: 'ins_1' }), 'token_algorithm_invalid')
  for (const name of ['jwk', 'jku', 'x5u', 'x5c']) {
    t.equal(checkHeader({ alg: 'RS256', kid: 'ins_1', [name]: 'x' }), 'token_header_invalid', name)
  }
  t.equal(checkHeader({ alg: 'RS256', kid: 'ins_1', crit: [] }), 'token_header_invalid', 'even an empty crit')
  t.equal(checkHeader({ alg: 'RS256', kid: 'ins_1', typ: 'JWS' }), 'token_header_invalid')
  t.equal(checkHeader({ alg: 'RS256', kid: '' }), 'token_key_unknown')
  t.equal(checkHeader({ alg: 'RS256', kid: 7 }), 'token_key_unknown')
  t.equal(checkHeader({ alg: 'RS256', kid: 'ins_1', typ: 'at+jwt' }), undefined, 'an OAuth access token: its kind is told apart later')
  t.equal(checkHeader({ alg: 'RS256', kid: 'ins_1', typ: 'application/at+jwt' }), undefined)
  t.equal(checkHeader({ alg: 'RS256', kid: 'ins_1', cat: 'cl_I7d4PD111III' }), undefined, 'the ignore category says nothing')
  t.equal(checkHeader({ alg: 'RS256', kid: 'ins_1', cat: 'cl_B7d4PD111AAA' }), undefined, 'the session category')
})

t.test('checkClaims session status', async (t) => {
  t.equal(checkClaims({ ...valid, sts: 'pending' }, policy, NOW), 'session_pending')
  t.equal(checkClaims({ ...valid, sts: 'pending' }, { ...policy, acceptPendingSessions: true }, NOW), undefined)
  t.equal(checkClaims({ ...valid, sts: 'active' }, policy, NOW), undefined)
  for (const sts of ['banned', '', 'ACTIVE', 1, null]) t.equal(checkClaims({ ...valid, sts }, policy, NOW), 'token_claims_invalid', `sts ${JSON.stringify(sts)}`)
})

t.test('checkClaims boundaries (skew 5 s)', async (t) => {
  t.equal(checkClaims(valid, policy, NOW), undefined)
  t.equal(checkClaims({ ...valid, exp: nowS - 4 }, policy, NOW), undefined, 'expired 4 s ago: inside the skew')
  t.equal(checkClaims({ ...valid, exp: nowS - 5 }, policy, NOW), 'token_expired', 'exp <= now - skew is expired')
  t.equal(checkClaims({ ...valid, nbf: nowS + 5 }, policy, NOW), undefined, 'nbf = now + skew is active')
  t.equal(checkClaims({ ...valid, nbf: nowS + 6 }, policy, NOW), 'token_not_yet_valid')
  t.equal(checkClaims({ ...valid, iat: nowS + 5 }, policy, NOW), undefined)
  t.equal(checkClaims({ ...valid, iat: nowS + 6 }, policy, NOW), 'token_issued_in_future')
  const { nbf: _nbf, ...withoutNbf } = valid
  t.equal(checkClaims(withoutNbf, policy, NOW), undefined, 'nbf is optional')
})

t.test('checkClaims types and values', async (t) => {
  for (const claim of ['iss', 'sub', 'sid', 'exp', 'iat']) {
    const { [claim]: _dropped, ...rest } = valid as Record<string, unknown>
    t.equal(checkClaims(rest, policy, NOW), 'token_claims_invalid', `without ${claim}`)
  }
  t.equal(checkClaims({ ...valid, sub: '' }, policy, NOW), 'token_claims_invalid')
  t.equal(checkClaims({ ...valid, sid: 12 }, policy, NOW), 'token_claims_invalid')
  t.equal(checkClaims({ ...valid, exp: 'soon' }, policy, NOW), 'token_claims_invalid')
  t.equal(checkClaims({ ...valid, exp: Number.POSITIVE_INFINITY }, policy, NOW), 'token_claims_invalid')
  t.equal(checkClaims({ ...valid, nbf: null }, policy, NOW), 'token_claims_invalid')
  t.equal(checkClaims({ ...valid, iss: 'https://clerk.example.com/' }, policy, NOW), 'token_issuer_invalid', 'iss must match exactly')
  t.equal(checkClaims({ ...valid, exp: 253_402_300_799 }, policy, NOW), undefined, 'the last second of year 9999 is a time')
  t.equal(checkClaims({ ...valid, exp: 253_402_300_800 }, policy, NOW), 'token_claims_invalid', 'the next one is not')
  t.equal(checkClaims({ ...valid, iat: 0, nbf: 0 }, policy, NOW), undefined, '0 is a time')
  t.equal(checkClaims({ ...valid, iat: 'x' }, policy, NOW), 'token_claims_invalid', 'a wrong-typed iat')
  for (const act of [null, 'user_1', 7, [], ['user_1'], {}, { sub: '' }, { sub: 7 }]) {
    t.equal(checkClaims({ ...valid, act }, policy, NOW), 'token_claims_invalid', `act ${JSON.stringify(act)}`)
  }
  t.equal(checkClaims({ ...valid, act: { sub: 'user_admin' } }, policy, NOW), undefined)
})

t.test('checkClaims authorized parties', async (t) => {
  const withParties = { ...policy, authorizedParties: new Set(['https://app.example.com']) }
  t.equal(checkClaims(valid, withParties, NOW), undefined)
  t.equal(checkClaims({ ...valid, azp: 'https://app.example.com.evil.com' }, withParties, NOW), 'token_unauthorized_party')
  t.equal(checkClaims({ ...valid, azp: undefined }, withParties, NOW), 'token_unauthorized_party')
  t.equal(checkClaims({ ...valid, azp: ['https://app.example.com'] }, withParties, NOW), 'token_unauthorized_party')
})

t.test('the kinds\' header rules: what an M2M and an OAuth token may carry', async (t) => {
  t.equal(checkTypedHeader('m2m_token', { alg: 'RS256', kid: 'ins_1', typ: 'JWT', cat: M2M_CATEGORY }), undefined, 'typed JWT, of the M2M category')
  t.equal(checkTypedHeader('m2m_token', { alg: 'RS256', kid: 'ins_1' }), undefined, 'neither said')
  t.equal(checkTypedHeader('m2m_token', { alg: 'RS256', kid: 'ins_1', typ: 'at+jwt' }), 'token_header_invalid')
  t.equal(checkTypedHeader('m2m_token', { alg: 'RS256', kid: 'ins_1', cat: TEMPLATE_CATEGORY }), 'token_header_invalid')
  t.equal(checkTypedHeader('oauth_token', { alg: 'RS256', kid: 'ins_1', typ: 'at+jwt' }), undefined)
  t.equal(checkTypedHeader('oauth_token', { alg: 'RS256', kid: 'ins_1', typ: 'at+jwt', cat: TEMPLATE_CATEGORY }), 'token_header_invalid')
  t.equal(checkTypedHeader('session_token', { alg: 'RS256', kid: 'ins_1', typ: 'at+jwt', cat: TEMPLATE_CATEGORY }), undefined, 'sessions have no such rule')
})

t.test('machine claims: lists hold non-empty strings only, and space-separated scopes drop empty entries', async (t) => {
  const m2m = { iss: policy.issuer, sub: 'mch_caller', exp: nowS + 60, iat: nowS, jti: 'mt_1' }
  const oauth = { iss: policy.issuer, sub: 'user_1', client_id: 'client_1', exp: nowS + 60, iat: nowS }
  t.equal(checkClaims({ ...m2m, aud: ['mch_a', 'mch_b'] }, policy, NOW, 'm2m_token'), undefined)
  t.equal(checkClaims({ ...m2m, aud: ['mch_a', ''] }, policy, NOW, 'm2m_token'), 'token_claims_invalid', 'one empty entry spoils the list')
  t.equal(checkClaims({ ...oauth, scp: ['read', 'write'] }, policy, NOW, 'oauth_token'), undefined)
  t.equal(checkClaims({ ...oauth, scp: ['read', 7] }, policy, NOW, 'oauth_token'), 'token_claims_invalid')
  t.equal(checkClaims({ ...oauth, scope: 'read write' }, policy, NOW, 'oauth_token'), undefined)
  t.equal(checkClaims({ ...oauth, scope: ['read'] }, policy, NOW, 'oauth_token'), 'token_claims_invalid')
  t.same(m2mScopes({ scopes: ' mch_a  mch_b ' }), ['mch_a', 'mch_b'])
  t.same(m2mScopes({ aud: 'mch_a' }), ['mch_a'])
  t.same(m2mScopes({ aud: ['mch_a', 'mch_b'] }), ['mch_a', 'mch_b'])
  t.same(m2mScopes({}), [], 'neither scopes nor aud: no machine')
  t.same(oauthScopes({ scope: 'read  write ' }), ['read', 'write'])
  t.same(oauthScopes({ scp: ['a'], scope: 'b' }), ['a'], 'scp wins')
  t.same(oauthScopes({}), [])
  t.same(oauthScopes({ scope: 7 }), [])
})

t.test('checkClaims judges by session rules unless told the kind', async (t) => {
  t.equal(checkClaims(valid, policy, NOW), undefined)
  const m2m = { iss: policy.issuer, sub: 'mch_caller', exp: nowS + 60, iat: nowS }
  t.equal(checkClaims(m2m, policy, NOW), 'token_claims_invalid', 'an M2M payload has no sid')
  t.equal(checkClaims(m2m, policy, NOW, 'm2m_token'), undefined)
})

t.test('acceptsTokenProblem names what is wrong', async (t) => {
  t.equal(acceptsTokenProblem(['session_token', 'jwt']), 'has an unknown token type "jwt" (known: session_token, m2m_token, oauth_token, api_key)')
  t.equal(acceptsTokenProblem([]), 'must be a non-empty array of session_token, m2m_token, oauth_token, api_key')
  t.equal(acceptsTokenProblem(['api_key', 'api_key']), 'names a token type twice')
  t.equal(acceptsTokenProblem(['api_key', 'session_token']), undefined)
})
