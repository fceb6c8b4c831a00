import t from 'tap'
import { buildRefusalResponses, refusalTexts } from '../plugins/clerk-auth/refusals.js'

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
