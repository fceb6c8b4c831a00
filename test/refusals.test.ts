import t from 'tap'
import { RefusalError, buildRefusalResponses, refusalForVerifyError, refusalTexts } from '../plugins/clerk-auth/refusals.js'

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

t.test('verifier errors map to codes, never to a 500', async (t) => {
  const cases: Array<[string, string | undefined, string]> = [
    ['FST_JWT_AUTHORIZATION_TOKEN_EXPIRED', 'Authorization token expired', 'token_expired'],
    ['FAST_JWT_EXPIRED', '', 'token_expired'],
    ['FAST_JWT_INACTIVE', 'The token will be active at ...', 'token_not_yet_valid'],
    ['FAST_JWT_INVALID_ALGORITHM', '', 'token_algorithm_invalid'],
    ['FAST_JWT_MISSING_SIGNATURE', '', 'token_algorithm_invalid'],
    ['FAST_JWT_INVALID_KEY', '', 'token_algorithm_invalid'],
    ['FAST_JWT_INVALID_CRIT_HEADER', '', 'token_header_invalid'],
    ['FAST_JWT_MALFORMED', '', 'token_malformed'],
    ['FAST_JWT_INVALID_SIGNATURE', '', 'token_signature_invalid'],
    ['FST_JWT_AUTHORIZATION_TOKEN_INVALID', 'Authorization token is invalid: The token signature is invalid.', 'token_signature_invalid'],
    ['FST_JWT_AUTHORIZATION_TOKEN_INVALID', 'Authorization token is invalid: The iss claim value is not allowed.', 'token_issuer_invalid'],
    ['FST_JWT_AUTHORIZATION_TOKEN_INVALID', 'Authorization token is invalid: The sid claim is required.', 'token_claims_invalid'],
    ['FAST_JWT_MISSING_REQUIRED_CLAIM', '', 'token_claims_invalid']
  ]
  for (const [code, message, expected] of cases) {
    t.equal(refusalForVerifyError({ code, message }), expected, `${code} ${message ?? ''}`)
  }
  t.equal(refusalForVerifyError(new RefusalError('issuer_unavailable')), 'issuer_unavailable')
  t.equal(refusalForVerifyError(new Error('a bug')), undefined, 'anything else is a real error')
})
