import t from 'tap'
import { buildRefusalResponses, refusalTexts } from '../refusals.js'

t.test('every refusal has a stable response', async (t) => {
  const responses = buildRefusalResponses({ realm: 'api', retryAfterSeconds: 7 })
  for (const [code, response] of Object.entries(responses)) {
    const body = JSON.parse(response.body)
    t.equal(body.code, code)
    t.equal(body.statusCode, response.statusCode)
    t.equal(body.message, refusalTexts[code as keyof typeof refusalTexts].message)
  }
  t.equal(responses.issuer_unavailable.statusCode, 503)
  t.same(responses.issuer_unavailable.headers, { 'retry-after': '7' })
  t.same(responses.token_missing.headers, { 'www-authenticate': 'Bearer realm="api"' })
  t.same(responses.token_expired.headers, { 'www-authenticate': 'Bearer realm="api", error="invalid_token", error_description="token expired"' })
})

// The wording clients see is part of the contract (docs/callers-and-refusals.md, Refusals): a change here is a change to it.
t.test('every refusal says what is wrong in its own words', async (t) => {
  const expected: Array<[string, string, string | null]> = [
    ['token_missing', 'No token: send "Authorization: Bearer <token>" (a session token may also come in the __session cookie).', null],
    ['token_scheme_invalid', 'The Authorization header must use the Bearer scheme.', null],
    ['token_malformed', 'The token is not a well-formed JWT.', 'malformed token'],
    ['token_header_invalid', 'The token header is not accepted: it carries its own key, an unsupported type or critical extensions.', 'unacceptable token header'],
    ['token_algorithm_invalid', 'The token must be signed with RS256.', 'unsupported algorithm'],
    ['token_key_unknown', 'The token is signed with a key that the issuer does not publish.', 'unknown signing key'],
    ['token_signature_invalid', 'The token signature is invalid.', 'invalid signature'],
    ['token_expired', 'The token has expired: fetch a fresh one (for a session, getToken()) and retry.', 'token expired'],
    ['token_not_yet_valid', 'The token is not valid yet (nbf is in the future).', 'token not yet valid'],
    ['token_issued_in_future', 'The token was issued in the future (iat): check the clocks.', 'token issued in the future'],
    ['token_issuer_invalid', 'The token was issued by another issuer.', 'wrong issuer'],
    ['token_unauthorized_party', 'The session token was issued to an origin that is not allowed (azp).', 'unauthorized party'],
    ['token_claims_invalid', 'The token lacks a required claim or has one of the wrong type or value (sessions: iss, sub, sid, exp, iat, nbf, sts, act; machine tokens: iss, sub, exp, nbf, iat, jti, client_id, scope, scopes, aud).', 'invalid claims'],
    ['token_type_not_accepted', 'This route does not accept this kind of token (session, M2M, OAuth access token, API key; JWT templates never).', 'token type not accepted'],
    ['token_audience_invalid', "The machine token was not issued for this service: its aud or scopes do not name this service's machine.", 'token not issued for this service'],
    ['session_pending', 'The session is pending: it still has a task to finish (for example choosing an organization).', 'session pending'],
    ['session_revoked', 'Access has ended since the token was issued (signed out, session revoked, user banned or deleted, membership removed or role changed): sign in again.', 'session revoked'],
    ['token_revoked', 'The machine token or API key has been revoked.', 'token revoked'],
    ['token_unknown', 'Clerk does not know this machine token or API key.', 'unknown token'],
    ['issuer_unavailable', "The issuer's signing keys cannot be fetched right now; retry shortly.", null],
    ['clerk_api_unavailable', "Clerk's Backend API cannot verify this token right now; retry shortly.", null]
  ]
  const responses = buildRefusalResponses({ realm: 'api', retryAfterSeconds: 5 })
  t.same(Object.keys(responses), expected.map(([code]) => code))
  for (const [code, message, description] of expected) {
    const response = responses[code as keyof typeof responses]
    const unavailable = code.endsWith('_unavailable')
    t.same(JSON.parse(response.body), unavailable
      ? { statusCode: 503, error: 'Service Unavailable', code, message }
      : { statusCode: 401, error: 'Unauthorized', code, message })
    if (unavailable) {
      t.same(response.headers, { 'retry-after': '5' }, code)
      continue
    }
    t.equal(response.headers['www-authenticate'], description === null
      ? 'Bearer realm="api"'
      : `Bearer realm="api", error="invalid_token", error_description="${description}"`, code)
  }
})
