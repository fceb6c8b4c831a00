// Multi-app cookies: __session or __session_<suffix>, chosen as Clerk's SDK chooses, with
// Clerk's own suffix vectors and one case per rule of usesSuffixedCookies().
import t from 'tap'
import { resolveOptions } from '../../plugins/clerk-auth/options.js'
import { cookieSuffix, createSessionCookieReader, parsePublishableKey, readPlainSessionCookie } from '../../plugins/clerk-auth/session-cookie.js'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { forgeToken } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp } from '../support/app.js'

const publishableKeyOf = (frontendApi: string, type = 'test'): string => `pk_${type}_${Buffer.from(`${frontendApi}$`).toString('base64')}`

t.test("the suffix: Clerk's vectors", async (t) => {
  const vectors: Array<[string, string]> = [
    ['pk_live_Y2xlcmsuY2xlcmsuZGV2JA', '1Z8AzTQD'],
    ['pk_test_Y2xlcmsuY2xlcmsuZGV2JA', 'QvfNY2dr'],
    ['pk_live_ZmFrZS1jbGVyay10ZXN0LmNsZXJrLmFjY291bnRzLmRldiQ=', 'qReyu04C'],
    ['pk_test_ZW5vdWdoLWFscGFjYS04Mi5jbGVyay5hY2NvdW50cy5sY2xjbGVyay5jb20k', 'jtYvyt_H'],
    ['pk_test_eHh4eHh4LXhhYWFhYS1hYS5jbGVyay5hY2NvdW50cy5sY2xjbGVyay5jb20k', 'tZJdb-5s']
  ]
  for (const [key, suffix] of vectors) t.equal(cookieSuffix(key), suffix, key)
})

t.test("publishable keys: Clerk's parsing vectors", async (t) => {
  const keys: Array<[string, string, string]> = [
    ['pk_live_ZmFrZS1jbGVyay10ZXN0LmNsZXJrLmFjY291bnRzLmRldiQ=', 'production', 'fake-clerk-test.clerk.accounts.dev'],
    ['pk_test_Zm9vLWJhci0xMy5jbGVyay5hY2NvdW50cy5kZXYk', 'development', 'foo-bar-13.clerk.accounts.dev'],
    ['pk_test_Y2xlcmsuY2xlcmsuZGV2JA==', 'development', 'clerk.clerk.dev']
  ]
  for (const [key, instanceType, frontendApi] of keys) t.same(parsePublishableKey(key), { key, instanceType, frontendApi }, key)
  for (const key of [
    '', 'whatever', 'fake_pk', 'pk_live', 'pk_live_', 'pk_live_invalid', 'pk_live_invalid!@#$',
    'pk_live_ZmFrZS1jbGVyay1tYWxmb3JtZWQuY2xlcmsuYWNjb3VudHMuZGV2JGV4dHJh', // text after the $
    'pk_live_ZmFrZS1jbGVyay1tdWx0aXBsZS5jbGVyay5hY2NvdW50cy5kZXYkJA==', // two $
    'pk_live_aW52YWxpZGtleSQ=', // not a domain
    'sk_live_Y2xlcmsuY2xlcmsuZGV2JA==',
    'xpk_test_Y2xlcmsuY2xlcmsuZGV2JA==', // something before the prefix
    'pk_test_Y2xlcmsuY2xlcmsuZGV2JA==!', // something after the key
    `pk_test_${Buffer.from('clerk.clerk.dev').toString('base64')}`, // no $ at the end
    `pk_test_${Buffer.from('x/clerk.clerk.dev$').toString('base64')}` // not a host
  ]) t.equal(parsePublishableKey(key), undefined, key)
})

t.test('which cookie: each of Clerk\'s rules, first match wins', async (t) => {
  const frontendApi = 'clerk.example.com'
  const nowS = 1_800_000_000
  const token = (claims: Record<string, unknown>): string => forgeToken({ alg: 'RS256', kid: 'ins_1' }, claims, 'c2ln')
  const ours = (iat: number, exp = iat + 60): string => token({ iss: `https://${frontendApi}`, iat, exp })
  const theirs = token({ iss: 'https://clerk.other.com', iat: nowS, exp: nowS + 60 })
  const pick = (cookies: Record<string, string>, type = 'test'): string | undefined => {
    const key = publishableKeyOf(frontendApi, type)
    const suffix = cookieSuffix(key)
    const header = Object.entries(cookies).map(([name, value]) => `${name.replace('<s>', suffix)}=${value}`).join('; ')
    return createSessionCookieReader(parsePublishableKey(key) as NonNullable<ReturnType<typeof parsePublishableKey>>, () => nowS * 1000)(header)
  }
  const plain = ours(nowS - 10)
  const suffixed = ours(nowS - 20)
  const cases: Array<[string, Record<string, string>, string | undefined, string?]> = [
    ['1. a plain session without iss: plain', { __session: token({ iat: nowS }), '__session_<s>': suffixed, '__client_uat_<s>': '1' }, token({ iat: nowS })],
    ['1. a plain session that is no JWT: plain', { __session: 'junk', '__session_<s>': suffixed, '__client_uat_<s>': '1' }, 'junk'],
    ['1. an iss of 0 is none', { __session: token({ iss: 0, iat: nowS }), '__session_<s>': suffixed, '__client_uat_<s>': '1' }, token({ iss: 0, iat: nowS })],
    ['1. an iss of false is none', { __session: token({ iss: false, iat: nowS }), '__session_<s>': suffixed, '__client_uat_<s>': '1' }, token({ iss: false, iat: nowS })],
    ['2. an http iss of this instance is this instance (then rule 4)', { __session: token({ iss: `http://${frontendApi}`, iat: nowS - 5 }), '__session_<s>': suffixed, '__client_uat_<s>': '1', __client_uat: '1' }, token({ iss: `http://${frontendApi}`, iat: nowS - 5 })],
    ['2. a plain session of another instance: suffixed', { __session: theirs, '__session_<s>': suffixed, '__client_uat_<s>': '1', __client_uat: '1' }, suffixed],
    ['2. ... even without a suffixed one', { __session: theirs }, undefined],
    ['3. no suffixed cookies: plain', { __session: plain, __client_uat: '1' }, plain],
    ['3. an empty suffixed uat is none', { __session: plain, '__client_uat_<s>': '' }, plain],
    ['4. both signed in, plain newer: plain', { __session: ours(nowS - 5), '__session_<s>': suffixed, '__client_uat_<s>': '1', __client_uat: '1' }, ours(nowS - 5)],
    ['4. plain signed out, plain newer: not this rule', { __session: ours(nowS - 5), '__session_<s>': suffixed, '__client_uat_<s>': '1', __client_uat: '0' }, suffixed],
    ['4. both signed in, issued the same second: suffixed', { __session: ours(nowS - 20, nowS + 100), '__session_<s>': suffixed, '__client_uat_<s>': '1', __client_uat: '1' }, suffixed],
    ['4. both signed in, suffixed newer: suffixed', { __session: ours(nowS - 30), '__session_<s>': suffixed, '__client_uat_<s>': '1', __client_uat: '1' }, suffixed],
    ['5. suffixed signed out, plain signed in: plain', { __session: ours(nowS - 30), '__session_<s>': suffixed, '__client_uat_<s>': '0', __client_uat: '1' }, ours(nowS - 30)],
    ['6. development: suffixed expired, plain signed out: plain', { '__session_<s>': ours(nowS - 120, nowS - 60), '__client_uat_<s>': '1', __client_uat: '0' }, undefined],
    ['6. production: the same cookies, suffixed', { '__session_<s>': ours(nowS - 120, nowS - 60), '__client_uat_<s>': '1', __client_uat: '0' }, ours(nowS - 120, nowS - 60), 'live'],
    ['6. development, suffixed expiring this very second: plain', { '__session_<s>': ours(nowS - 60, nowS), '__client_uat_<s>': '1', __client_uat: '0' }, undefined],
    ['6. development, suffixed not expired: suffixed', { '__session_<s>': ours(nowS - 20), '__client_uat_<s>': '1', __client_uat: '0' }, ours(nowS - 20)],
    ['7. a suffixed session without its uat: plain', { __session: ours(nowS - 30), '__session_<s>': suffixed }, ours(nowS - 30)],
    ['7. ... an empty suffixed uat is none', { __session: ours(nowS - 30), '__session_<s>': suffixed, '__client_uat_<s>': '' }, ours(nowS - 30)],
    ['1. an iss of "" is none', { __session: token({ iss: '', iat: nowS }), '__session_<s>': suffixed, '__client_uat_<s>': '1' }, token({ iss: '', iat: nowS })],
    ['2. an iss that is not a string is not this instance', { __session: token({ iss: 42, iat: nowS }), '__session_<s>': suffixed, '__client_uat_<s>': '1', __client_uat: '1' }, suffixed],
    ['3. no suffixed cookies, plain signed out: plain', { __session: plain, __client_uat: '0' }, plain],
    ['3. no suffixed cookies, a plain session without iat: plain', { __session: token({ iss: `https://${frontendApi}` }), __client_uat: '1' }, token({ iss: `https://${frontendApi}` })],
    ['4. a suffixed session that is no JWT, both signed in: plain', { __session: plain, '__session_<s>': 'junk', '__client_uat_<s>': '1', __client_uat: '1' }, plain],
    ['5. both signed out: suffixed', { __session: plain, '__session_<s>': suffixed, '__client_uat_<s>': '0', __client_uat: '0' }, suffixed],
    ['6. development, suffixed signed out and expired, plain signed out: suffixed', { __session: plain, '__session_<s>': ours(nowS - 120, nowS - 60), '__client_uat_<s>': '0', __client_uat: '0' }, ours(nowS - 120, nowS - 60)],
    ['6. development, suffixed expired and newer, both signed in: suffixed', { __session: ours(nowS - 130), '__session_<s>': ours(nowS - 120, nowS - 60), '__client_uat_<s>': '1', __client_uat: '1' }, ours(nowS - 120, nowS - 60)],
    ['6. development, a suffixed session that is no JWT, plain signed out: suffixed', { __session: plain, '__session_<s>': 'junk', '__client_uat_<s>': '1', __client_uat: '0' }, 'junk'],
    ['8. suffixed signed in without its session, plain signed out: suffixed (none)', { __session: plain, '__client_uat_<s>': '1', __client_uat: '0' }, undefined],
    ['8. otherwise: suffixed', { '__session_<s>': suffixed, '__client_uat_<s>': '1' }, suffixed]
  ]
  for (const [name, cookies, expected, type] of cases) t.equal(pick(cookies, type), expected, name)
  t.equal(readPlainSessionCookie('a=1; __session=x; __session_abc=y'), 'x', 'without a publishable key, __session only')
})

t.test('CLERK_PUBLISHABLE_KEY: the app reads the suffixed cookie of its instance, and refuses a key of another', async (t) => {
  const issuer = await startIssuer(t)
  const frontendApi = issuer.url.replace('http://', '')
  const key = publishableKeyOf(frontendApi)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_PUBLISHABLE_KEY: key })
  const suffix = cookieSuffix(key)
  const mine = issuer.sign(issuer.sessionClaims({ sub: 'user_suffixed' }))
  const other = issuer.sign(issuer.sessionClaims({ sub: 'user_plain', iss: 'https://clerk.other.com' }))
  const res = await app.inject({ url: '/me', headers: { cookie: `__session=${other}; __session_${suffix}=${mine}; __client_uat_${suffix}=1` } })
  t.equal(res.json().userId, 'user_suffixed', 'another app\'s __session is left alone')
  const plainOnly = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  t.equal((await plainOnly.inject({ url: '/me', headers: { cookie: `__session=${other}; __session_${suffix}=${mine}` } })).json().code, 'token_issuer_invalid', 'without the key, __session is read')
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_PUBLISHABLE_KEY: publishableKeyOf('clerk.other.com') }), /CLERK_PUBLISHABLE_KEY must belong to the CLERK_ISSUER_URL's instance: it names another Frontend API/)
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_PUBLISHABLE_KEY: 'sk_test_abc' }), /CLERK_PUBLISHABLE_KEY must be your instance's publishable key, pk_live_… or pk_test_…/)
  t.throws(() => resolveOptions({ issuer: 'https://clerk.example.com', publishableKey: 'pk_live_x' }), { message: 'clerk-auth option publishableKey must be a Clerk publishable key, pk_live_… or pk_test_…' })
})
