import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { fetchJson, parseJwks, parsePemPublicKey, withTimeout } from '../jwks.js'
import { testKeys } from './support/issuer.js'
import { publicPem } from './support/tokens.js'

const [key, other] = testKeys()
const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })

t.test('parseJwks keeps RSA signing keys with a kid, and nothing else', async (t) => {
  const parsed = parseJwks({
    keys: [
      key.publicJwk,
      { ...other.publicJwk, use: undefined, alg: undefined },
      { ...rsa1024, kid: 'weak' },
      { ...ec, kid: 'ec' },
      { ...other.publicJwk, kid: 'enc', use: 'enc' },
      { ...other.publicJwk, kid: 'rs512', alg: 'RS512' },
      { ...other.publicJwk, kid: undefined },
      { ...other.publicJwk, kid: 'broken', n: 'not-base64!' },
      { ...other.publicJwk, kid: key.publicJwk.kid },
      { ...other.publicJwk, kid: '' },
      // an RSA modulus and exponent under another key type are not an RSA key
      { ...other.publicJwk, kid: 'oct', kty: 'oct' },
      { ...other.publicJwk, kid: 'no-n', n: undefined },
      { ...other.publicJwk, kid: 'no-e', e: undefined },
      null,
      'text'
    ]
  })
  t.same([...parsed.keys.keys()], [key.publicJwk.kid, other.publicJwk.kid])
  t.equal(parsed.skipped, 13)
  t.ok(parsed.keys.get(key.publicJwk.kid)?.key.equals(createPublicKey(key.privateKey)), 'the JWK becomes a ready key object')
})

t.test('RSA moduli from 2048 to 8192 bits are usable, in a JWKS or a PEM', async (t) => {
  // n as bytes of 0xff: exactly 8 bits per byte
  const modulus = (bits: number): string => Buffer.alloc(bits / 8, 0xff).toString('base64url')
  const parsed = parseJwks({ keys: [{ kty: 'RSA', kid: 'max', n: modulus(8192), e: 'AQAB' }, { kty: 'RSA', kid: 'over', n: modulus(8200), e: 'AQAB' }] })
  t.same([...parsed.keys.keys()], ['max'])
  t.equal(parsed.skipped, 1)
  const pem = (bits: number): string => createPublicKey({ key: { kty: 'RSA', n: modulus(bits), e: 'AQAB' }, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
  t.ok(parsePemPublicKey(pem(8192)))
  t.equal(parsePemPublicKey(pem(8200)), undefined)
  t.equal(parsePemPublicKey(pem(2040)), undefined)
})

t.test('parseJwks refuses documents without a usable key', async (t) => {
  t.throws(() => parseJwks(null), /no "keys" array/)
  t.throws(() => parseJwks({ keys: { 0: key.publicJwk } }), /no "keys" array/)
  t.throws(() => parseJwks({ keys: [] }), /no usable RS256 signing key/)
  t.throws(() => parseJwks({ keys: [{ ...ec, kid: 'ec' }] }), /no usable RS256 signing key/)
})

t.test('parseJwks builds each key once: a refresh reuses what it already has', async (t) => {
  const first = parseJwks({ keys: [key.publicJwk, other.publicJwk] })
  const second = parseJwks({ keys: [key.publicJwk, other.publicJwk] }, first.keys)
  t.equal(second.keys.get(key.publicJwk.kid), first.keys.get(key.publicJwk.kid), 'the same object, not a rebuilt one')
  const replaced = parseJwks({ keys: [{ ...other.publicJwk, kid: key.publicJwk.kid }] }, first.keys)
  t.not(replaced.keys.get(key.publicJwk.kid), first.keys.get(key.publicJwk.kid), 'a different key under the same kid is rebuilt')
  t.ok(replaced.keys.get(key.publicJwk.kid)?.key.equals(createPublicKey(other.privateKey)))
})

t.test('parsePemPublicKey takes the dashboard PEM, with real newlines or \\n escapes', async (t) => {
  const pem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const spki = publicPem(key)
  t.ok(parsePemPublicKey(spki)?.equals(createPublicKey(key.privateKey)))
  t.ok(parsePemPublicKey(spki.trim().replace(/\n/g, '\\n'))?.equals(createPublicKey(key.privateKey)))
  t.equal(parsePemPublicKey(pem), undefined, 'a private key is refused: it must never be configured here')
  t.equal(parsePemPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()), undefined)
  t.equal(parsePemPublicKey(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()), undefined)
  t.equal(parsePemPublicKey('-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----'), undefined)
  t.equal(parsePemPublicKey('hello'), undefined)
  t.ok(parsePemPublicKey(`\n  ${spki}\n`)?.equals(createPublicKey(key.privateKey)), 'surrounding blank space, as a pasted value has')
  t.equal(parsePemPublicKey(`comment\n${spki}`), undefined, 'the PEM header comes first')
  const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  t.equal(parsePemPublicKey(pss), undefined, 'an RSA-PSS key is not an RS256 key')
})

t.test('fetchJson: asks for JSON; redirects, non-2xx answers and bodies over the cap are failures', async (t) => {
  const accepts: Array<string | undefined> = []
  const server = createServer((req, res) => {
    accepts.push(req.headers.accept)
    if (req.url === '/redirect') res.writeHead(302, { location: '/ok' }).end()
    else if (req.url === '/ok') res.writeHead(200, { 'content-type': 'application/json', 'content-length': '7' }).end('{"a":1}')
    else if (req.url === '/chunked') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"a":')
      res.end('1}')
    } else if (req.url === '/empty') res.writeHead(204).end()
    else if (req.url === '/not-modified') res.writeHead(304).end()
    else res.writeHead(404).end('{}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.same(await fetchJson(`${base}/ok`, { timeoutMs: 1000, maxBytes: 100 }), { a: 1 })
  t.same(accepts, ['application/json'])
  t.same(await fetchJson(`${base}/ok`, { timeoutMs: 1000, maxBytes: 7 }), { a: 1 }, 'a declared size of exactly the cap')
  t.same(await fetchJson(`${base}/chunked`, { timeoutMs: 1000, maxBytes: 7 }), { a: 1 }, 'a streamed size of exactly the cap')
  await t.rejects(fetchJson(`${base}/redirect`, { timeoutMs: 1000, maxBytes: 100 }), { name: 'TypeError', message: 'fetch failed' })
  await t.rejects(fetchJson(`${base}/missing`, { timeoutMs: 1000, maxBytes: 100 }), { message: 'HTTP 404' })
  await t.rejects(fetchJson(`${base}/not-modified`, { timeoutMs: 1000, maxBytes: 100 }), { message: 'HTTP 304' }, 'an answer without a body')
  await t.rejects(fetchJson(`${base}/empty`, { timeoutMs: 1000, maxBytes: 100 }), { name: 'SyntaxError' }, 'no body is not JSON')
  await t.rejects(fetchJson(`${base}/ok`, { timeoutMs: 1000, maxBytes: 6 }), { message: 'the response is larger than 6 bytes' })
  await t.rejects(fetchJson(`${base}/chunked`, { timeoutMs: 1000, maxBytes: 6 }), { message: 'the response is larger than 6 bytes' })
})

t.test('a refresh applies the key filters to keys it already holds', async (t) => {
  const jwk = key.publicJwk
  const first = parseJwks({ keys: [jwk] })
  t.equal(first.keys.size, 1)
  for (const changed of [{ use: 'enc' }, { alg: 'RS512' }, { kty: 'EC' }]) {
    t.throws(() => parseJwks({ keys: [{ ...jwk, ...changed }] }, first.keys), /no usable RS256 signing key/, `republished with ${JSON.stringify(changed)}`)
  }
  t.equal(parseJwks({ keys: [jwk] }, first.keys).keys.get(jwk.kid), first.keys.get(jwk.kid), 'an unchanged key is reused')
})

t.test('a JWKS whose Content-Length is over the cap is refused before any byte of its body', async (t) => {
  // Declares a huge body and never sends it: only the declared size can end this fetch before its timeout.
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) })
    res.flushHeaders()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`
  await t.rejects(fetchJson(url, { timeoutMs: 60_000, maxBytes: 1024 * 1024 }), /larger than 1048576 bytes/)
})

t.test('withTimeout(): the signal aborts at the deadline, and the call ends then even if the work never gives up', async (t) => {
  // withTimeout's timer does not keep a process alive by itself (a server's sockets do): this does here
  const alive = setInterval(() => {}, 1000)
  t.teardown(() => { clearInterval(alive) })
  let seen: AbortSignal | undefined
  const stubborn = withTimeout(50, async (signal) => {
    seen = signal
    return await new Promise<never>(() => {})
  })
  await t.rejects(stubborn, { name: 'TimeoutError', message: 'no answer within 50 ms' })
  t.equal(seen?.aborted, true)
  t.equal(await withTimeout(10_000, async () => 'answered'), 'answered', 'work that ends first gives its result')
})
