// Option validation word for word: what an operator reads when clerk-auth refuses to start.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { clerkAuthOptionsSchema, isBareOrigin, resolveOptions, type ClerkAuthOptions } from '../options.js'
import { testKeys } from './support/issuer.js'
import { publicPem } from './support/tokens.js'

const issuer = 'https://clerk.example.com'
const ignore = (): void => {}

t.test('each refusal names the option and says what is wrong, in these words', async (t) => {
  const cases: Array<[unknown, string, string]> = [
    [null, 'options', 'must be an object with at least { issuer }'],
    [issuer, 'options', 'must be an object with at least { issuer }'],
    [{}, 'issuer', "must have required property 'issuer'"],
    [{ issuer, clockSkew: 5 }, 'clockSkew', 'is not an option of clerk-auth'],
    [{ issuer, clockSkewMs: '5' }, 'clockSkewMs', 'must be integer'],
    [{ issuer: 'clerk' }, 'issuer', 'must be an absolute URL, e.g. https://your-app.clerk.accounts.dev'],
    [{ issuer: 'http://clerk.example.com' }, 'issuer', 'must use https (plain http only for a loopback host)'],
    [{ issuer: 'ftp://127.0.0.1' }, 'issuer', 'must use https (plain http only for a loopback host)'],
    [{ issuer: 'http://127.0.0.1.example.com' }, 'issuer', 'must use https (plain http only for a loopback host)'],
    [{ issuer: 'http://localhost.example.com' }, 'issuer', 'must use https (plain http only for a loopback host)'],
    [{ issuer: 'https://user@clerk.example.com' }, 'issuer', 'must not carry credentials, a query or a fragment'],
    [{ issuer: 'https://:secret@clerk.example.com' }, 'issuer', 'must not carry credentials, a query or a fragment'],
    [{ issuer: 'https://clerk.example.com?tenant=a' }, 'issuer', 'must not carry credentials, a query or a fragment'],
    [{ issuer: 'https://clerk.example.com#a' }, 'issuer', 'must not carry credentials, a query or a fragment'],
    [{ issuer, authorizedParties: ['null'] }, 'authorizedParties', 'must list bare origins such as https://app.example.com (got "null")'],
    [{ issuer, authorizedParties: ['https://app.example.com', 'https://app.example.com/'] }, 'authorizedParties', 'must list bare origins such as https://app.example.com (got "https://app.example.com/")'],
    [{ issuer, now: 5 }, 'now', 'must be a function returning ms since the epoch'],
    [{ issuer, log: { error: ignore } }, 'log', 'must have error, warn, info and debug methods'],
    [{ issuer, log: { error: ignore, warn: ignore, info: ignore, debug: 'yes' } }, 'log', 'must have error, warn, info and debug methods'],
    [{ issuer, sharedVerdicts: {} }, 'sharedVerdicts', 'must have get, set, claim, release and countCall methods'],
    [{ issuer, sharedVerdicts: { get: ignore, set: ignore, claim: ignore, release: ignore, countCall: 1 } }, 'sharedVerdicts', 'must have get, set, claim, release and countCall methods'],
    [{ issuer, jwksMaxStaleMs: 299_999 }, 'jwksMaxStaleMs', 'must be at least jwksRefreshIntervalMs (300000 ms)'],
    [{ issuer, jwksRefreshIntervalMs: 1000, jwksMaxStaleMs: 999 }, 'jwksMaxStaleMs', 'must be at least jwksRefreshIntervalMs (1000 ms)'],
    [{ issuer, jwtKey: 'abc' }, 'jwtKey', 'must be an RSA public key (2048 to 8192 bits) in PEM form']
  ]
  for (const [options, option, detail] of cases) {
    const name = JSON.stringify(options)
    t.throws(() => resolveOptions(options as ClerkAuthOptions), {
      code: 'FST_CLERK_AUTH_INVALID_OPTION',
      option,
      detail,
      message: `clerk-auth option ${option} ${detail}`
    }, name)
  }
})

t.test('accepted issuers, as tokens carry them', async (t) => {
  const cases: Array<[string, string]> = [
    ['https://clerk.example.com', 'https://clerk.example.com'],
    ['https://clerk.example.com//', 'https://clerk.example.com'],
    ['http://localhost:3000/', 'http://localhost:3000'],
    ['http://[::1]:8080', 'http://[::1]:8080'],
    ['http://127.0.0.1:4000', 'http://127.0.0.1:4000'],
    ['http://127.10.200.30', 'http://127.10.200.30']
  ]
  for (const [given, resolved] of cases) t.equal(resolveOptions({ issuer: given }).issuer, resolved, given)
})

t.test('undefined means the default, as if the option were left out', async (t) => {
  const resolved = resolveOptions({ issuer, clockSkewMs: undefined, authorizedParties: undefined, log: undefined, now: undefined, misspelt: undefined } as unknown as ClerkAuthOptions)
  t.equal(resolved.clockSkewMs, 5000)
  t.equal(resolved.authorizedParties, undefined)
  t.equal(resolved.now, Date.now)
})

t.test('what is given is what is used', async (t) => {
  const now = (): number => 42
  const log = { error: ignore, warn: ignore, info: ignore, debug: ignore }
  const resolved = resolveOptions({ issuer, now, log, authorizedParties: ['https://a.example.com', 'http://localhost:3000'], jwtKey: publicPem(testKeys()[0]) })
  t.equal(resolved.now, now)
  t.equal(resolved.log, log)
  t.same([...resolved.authorizedParties ?? []], ['https://a.example.com', 'http://localhost:3000'])
  t.equal(resolved.jwtKey?.asymmetricKeyType, 'rsa')
})

t.test('the package README lists every option with its default and range, and the schema describes each', async (t) => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8')
  const rows = new Map([...readme.matchAll(/^\| `(\w+)` \| ([^|]+) \| (.+) \|$/gm)].map(([, name, fallback, meaning]) => [name as string, { fallback: (fallback as string).trim(), meaning: meaning as string }]))
  const properties = clerkAuthOptionsSchema.properties as Record<string, { type?: string, description?: string, default?: unknown, minimum?: number, maximum?: number }>
  t.same([...rows.keys()].sort(), Object.keys(properties).sort(), 'the table lists exactly the options')
  for (const [name, property] of Object.entries(properties)) {
    t.ok((property.description ?? '').length > 10, `${name} has a description`)
    const row = rows.get(name)
    if (row === undefined) continue
    if (property.default !== undefined) t.equal(row.fallback, `\`${String(property.default)}\``, `${name}: the default`)
    else if (property.type !== undefined) t.notMatch(row.fallback, /^`/, `${name}: no default value`)
    if (property.minimum !== undefined) t.ok(row.meaning.includes(`(${property.minimum} to ${property.maximum ?? ''})`), `${name}: the range ${property.minimum} to ${property.maximum ?? ''}`)
  }
})

t.test('URL options name the right example, and isBareOrigin refuses what is no URL', async (t) => {
  t.throws(() => resolveOptions({ issuer: 'clerk' }), { option: 'issuer', message: /issuer must be an absolute URL, e.g. https:\/\/your-app\.clerk\.accounts\.dev$/ })
  t.throws(() => resolveOptions({ issuer: 'https://clerk.example.com', apiUrl: 'api' }), { option: 'apiUrl', message: /apiUrl must be an absolute URL, e.g. https:\/\/api\.clerk\.com$/ })
  for (const value of ['', 'null', 'app.example.com']) t.equal(isBareOrigin(value), false, JSON.stringify(value))
  t.equal(isBareOrigin('https://app.example.com'), true)
})
