import { generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { startIssuer, testKeys } from '../../plugins/clerk-auth/test/support/issuer.js'
import { publicPem } from '../../plugins/clerk-auth/test/support/tokens.js'
import { buildApp } from '../support/app.js'
import { tempDir } from '../../plugins/clerk-auth/test/support/temp-dir.js'

t.test('networkless mode: CLERK_JWT_KEY verifies tokens and no JWKS request is ever made', async (t) => {
  const issuer = await startIssuer(t)
  const pem = issuer.publicKeyPem
  // on one line with \n escapes, the way it usually lands in an environment variable
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_JWT_KEY: pem.trim().replace(/\n/g, '\\n') })

  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200, 'ready at once')
  const ok = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign()}` } })
  t.equal(ok.statusCode, 200)
  const gql = await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ pingOne(id: "2") }' }, headers: { authorization: `Bearer ${issuer.sign()}` } })
  t.same(gql.json(), { data: { pingOne: 'GraphQL Ping #2!' } })

  const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const forged = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign(undefined, { key: { privateKey: other.privateKey, publicJwk: testKeys()[0].publicJwk } })}` } })
  t.equal(forged.json().code, 'token_signature_invalid', 'every other check stays the same')
  const expired = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ exp: 1 }))}` } })
  t.equal(expired.json().code, 'token_expired')
  const wrongIssuer = await app.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ iss: 'https://other.example' }))}` } })
  t.equal(wrongIssuer.json().code, 'token_issuer_invalid')

  t.equal(issuer.jwksRequests(), 0, 'the issuer saw no request at all')
})

t.test('a CLERK_JWT_KEY that is not an RSA public key stops start-up, naming the variable', async (t) => {
  const dir = tempDir(t)
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const bad = [
    'not a key',
    rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  ]
  for (const value of bad) {
    await t.rejects(buildApp(t, { CLERK_ISSUER_URL: 'https://clerk.example.com', CLERK_JWT_KEY: value, DEV_ISSUER_DIR: dir }), {
      name: 'ConfigError',
      message: /^Invalid configuration: CLERK_JWT_KEY must be/
    })
  }
  await t.rejects(buildApp(t, { CLERK_JWT_KEY: rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(), DEV_ISSUER_DIR: dir, DEV_ISSUER_PORT: 0 }), {
    name: 'ConfigError',
    message: /CLERK_ISSUER_URL is required with CLERK_JWT_KEY/
  })
})

t.test('networkless mode accepts its one key whatever kid a token names, and never fetches', async (t) => {
  const issuer = await startIssuer(t)
  const [key] = testKeys()
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_JWT_KEY: publicPem(key) })
  for (const kid of ['ins_anything', 'ins_rotated_later', key.publicJwk.kid]) {
    const response = await app.inject({ url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign(undefined, { header: { kid } })}` } })
    t.equal(response.statusCode, 200, `kid ${kid}`)
  }
  const noKid = await app.inject({ url: '/rest-endpoints/1', headers: { authorization: `Bearer ${issuer.sign(undefined, { header: { kid: undefined } })}` } })
  t.equal(noKid.json().code, 'token_key_unknown', 'a kid is still required')
  t.equal(issuer.jwksRequests(), 0)
})
