// The socket rules that are plain functions: where a connection_init or ping payload carries its token,
// when a session's socket must close, with which code, and which pages count as the service's own.
import t from 'tap'
import type { SessionAuth } from '../../plugins/clerk-auth/index.js'
import { CLOSE_CODES, closeCodeOf, deadlineOf, initAuthorization, sameHost } from '../../plugins/graphql/subscriptions.js'

t.test('initAuthorization: the token at the top level or under headers, in any case; null for a payload that cannot carry one', async (t) => {
  const cases: Array<[string, unknown, string | undefined | null]> = [
    ['no payload', undefined, undefined],
    ['a null payload', null, undefined],
    ['an empty object', {}, undefined],
    ['a string', 'Bearer x', null],
    ['a number', 42, null],
    ['a list', ['Bearer x'], null],
    ['at the top', { authorization: 'Bearer top' }, 'Bearer top'],
    ['any case', { AUTHORIZATION: 'Bearer upper' }, 'Bearer upper'],
    ['under headers', { headers: { Authorization: 'Bearer nested' } }, 'Bearer nested'],
    ['the top level first', { authorization: 'Bearer top', headers: { authorization: 'Bearer nested' } }, 'Bearer top'],
    ['headers that are null', { headers: null }, undefined],
    ['headers that are a list', { headers: [{ authorization: 'Bearer listed' }] }, undefined],
    ['headers that are a string', { headers: 'authorization' }, undefined],
    ['a token that is not a string', { authorization: 42 }, null],
    ['under headers, not a string', { headers: { authorization: ['Bearer x'] } }, null]
  ]
  for (const [name, payload, expected] of cases) t.equal(initAuthorization(payload), expected, name)
})

t.test('deadlineOf: the token\'s exp plus the skew, in milliseconds', async (t) => {
  t.equal(deadlineOf({ claims: { exp: 1_800_000_000 } } as unknown as SessionAuth, 5000), 1_800_000_005_000)
})

t.test('closeCodeOf: 1013 when Clerk cannot be reached (try again later), 4401 for every refusal of the token', async (t) => {
  t.equal(closeCodeOf('issuer_unavailable'), CLOSE_CODES.tryAgainLater)
  t.equal(closeCodeOf('clerk_api_unavailable'), CLOSE_CODES.tryAgainLater)
  t.equal(CLOSE_CODES.tryAgainLater, 1013)
  for (const code of ['token_expired', 'token_missing', 'token_signature_invalid', 'session_revoked'] as const) t.equal(closeCodeOf(code), CLOSE_CODES.unauthorized, code)
})

t.test('sameHost: a page of the Host the upgrade names, whatever its case; never without a Host or with an origin that is no URL', async (t) => {
  t.equal(sameHost('http://api.example.com:3000', 'api.example.com:3000'), true)
  t.equal(sameHost('http://api.example.com:3000', 'Api.Example.COM:3000'), true, 'hosts compare without case')
  t.equal(sameHost('http://api.example.com:3000', 'api.example.com:3001'), false, 'another port')
  t.equal(sameHost('http://evil.example', 'api.example.com'), false)
  t.equal(sameHost('http://api.example.com', undefined), false, 'no Host header')
  t.equal(sameHost('null', 'api.example.com'), false, 'an opaque origin')
  t.equal(sameHost('not a url', 'not a url'), false)
})
