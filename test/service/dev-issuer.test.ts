import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { waitFor } from '../../plugins/clerk-auth/test/support/observe.js'
import { buildApp } from '../support/app.js'
import { tempDir } from '../../plugins/clerk-auth/test/support/temp-dir.js'
import { freePort } from '../support/loopback.js'

const run = promisify(execFile)
const MINT_CLI = join(import.meta.dirname, '../../dist/src/dev-issuer/mint-token.js')
const WEBHOOK_CLI = join(import.meta.dirname, '../../dist/src/dev-issuer/send-webhook.js')

t.test('with no CLERK_ISSUER_URL the built-in issuer starts and its tokens pass the same JWKS path', async (t) => {
  const dir = tempDir(t)
  const app = await buildApp(t, { DEV_ISSUER_PORT: 0, DEV_ISSUER_DIR: dir }, {
    extend: (app) => app.get('/whoami', async (request) => request.auth)
  })
  const issuer = app.devIssuer
  if (issuer === null) throw new Error('no development issuer')
  t.match(issuer.url, /^http:\/\/127\.0\.0\.1:\d+$/)

  await waitFor(() => app.clerkAuth.isReady())
  const fetchedBefore = issuer.jwksRequests()
  const jwks = await (await fetch(`${issuer.url}/.well-known/jwks.json`)).json() as { keys: Array<Record<string, string>> }
  t.equal(issuer.jwksRequests(), fetchedBefore + 1, 'the issuer counts JWKS fetches')
  t.ok(fetchedBefore >= 1, 'clerk-auth fetched the keys to become ready')
  t.equal(jwks.keys.length, 1)
  t.match(jwks.keys[0], { kty: 'RSA', alg: 'RS256', use: 'sig', kid: issuer.kid, e: 'AQAB' })
  t.equal(Buffer.from(jwks.keys[0]?.n as string, 'base64url').length, 256, 'RSA-2048')
  t.notOk('d' in (jwks.keys[0] as object), 'no private part is published')
  t.equal(statSync(join(dir, 'signing-key.pem')).mode & 0o777, 0o600, 'the private key is readable by its owner only')

  await waitFor(() => app.clerkAuth.isReady())
  const token = issuer.sessionToken({ sub: 'user_dev_1' })
  const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()))
  t.match(header, { alg: 'RS256', typ: 'JWT', kid: issuer.kid })
  t.match(payload, { iss: issuer.url, sub: 'user_dev_1', sid: /^sess_/, azp: String, v: 2 })
  t.equal(payload.exp - payload.iat, 60, 'tokens live 60 s like Clerk\'s')

  const rest = await app.inject({ method: 'GET', url: '/rest-endpoints/12345', headers: { authorization: `Bearer ${token}` } })
  t.equal(rest.body, 'REST Ping #12345!')
  const gql = await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ pingOne(id: "9") }' }, headers: { authorization: `Bearer ${token}` } })
  t.same(gql.json(), { data: { pingOne: 'GraphQL Ping #9!' } })
  const whoami = await app.inject({ method: 'GET', url: '/whoami', headers: { authorization: `Bearer ${token}` } })
  t.equal(whoami.json().userId, 'user_dev_1')

  const longLived = issuer.sessionToken({ sub: 'user_dev_1', ttlSeconds: 3600 })
  const longPayload = JSON.parse(Buffer.from(longLived.split('.')[1] as string, 'base64url').toString())
  t.equal(longPayload.exp - longPayload.iat, 3600)
})

t.test('the key survives a restart, so tokens minted before it stay valid', async (t) => {
  const dir = tempDir(t)
  const port = await freePort()
  const env = { DEV_ISSUER_PORT: port, DEV_ISSUER_DIR: dir }
  const first = await buildApp(t, env)
  const token = first.devIssuer?.sessionToken({ sub: 'user_1' }) as string
  const kid = first.devIssuer?.kid
  await first.close()

  const second = await buildApp(t, env)
  t.equal(second.devIssuer?.kid, kid, 'same key id')
  const res = await second.inject({ method: 'GET', url: '/rest-endpoints/1', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 200)
})

t.test('npm run token: the CLI mints a token the service accepts', async (t) => {
  const dir = tempDir(t)
  const port = await freePort()
  const env = { ...process.env, DEV_ISSUER_PORT: String(port), DEV_ISSUER_DIR: dir, CLERK_ISSUER_URL: '' }
  const { stdout } = await run(process.execPath, [MINT_CLI, '--sub', 'user_cli', '--ttl', '120'], { env, cwd: dir })
  const token = stdout.trim()
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'stdout is the token alone')

  const app = await buildApp(t, { DEV_ISSUER_PORT: port, DEV_ISSUER_DIR: dir }, {
    extend: (app) => app.get('/whoami', async (request) => request.auth)
  })
  const res = await app.inject({ method: 'GET', url: '/whoami', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().userId, 'user_cli')
  t.equal(res.json().claims.exp - res.json().claims.iat, 120)

  const refused = await run(process.execPath, [MINT_CLI], { env: { ...env, CLERK_ISSUER_URL: 'https://clerk.example.com' }, cwd: dir }).catch((err: { code: number, stderr: string }) => err)
  t.equal((refused as { code: number }).code, 1)
  t.match((refused as { stderr: string }).stderr, /CLERK_ISSUER_URL is set/)
  const badTtl = await run(process.execPath, [MINT_CLI, '--ttl', 'soon'], { env, cwd: dir }).catch((err: { code: number, stderr: string }) => err)
  t.match((badTtl as { stderr: string }).stderr, /--ttl/)
})

t.test('npm run token -- --m2m / --oauth: machine JWTs the machine route accepts', async (t) => {
  const dir = tempDir(t)
  const port = await freePort()
  const env = { ...process.env, DEV_ISSUER_PORT: String(port), DEV_ISSUER_DIR: dir, CLERK_ISSUER_URL: '', CLERK_MACHINE_ID: 'mch_api' }
  const mint = async (...args: string[]): Promise<string> => (await run(process.execPath, [MINT_CLI, ...args], { env, cwd: dir })).stdout.trim()
  const m2m = await mint('--m2m')
  const named = await mint('--m2m', '--sub', 'mch_reporter', '--ttl', '600')
  const oauth = await mint('--oauth', '--sub', 'user_7', '--client-id', 'client_cli', '--scope', 'pings:read pings:write')
  const app = await buildApp(t, { DEV_ISSUER_PORT: port, DEV_ISSUER_DIR: dir, CLERK_MACHINE_ID: 'mch_api' })
  const get = async (url: string, token: string) => await app.inject({ url, headers: { authorization: `Bearer ${token}` } })
  t.equal((await get('/machine-pings/7', m2m)).body, 'Machine Ping #7 for mch_devcaller!')
  t.equal((await get('/machine-pings/7', named)).body, 'Machine Ping #7 for mch_reporter!')
  t.equal((await get('/machine-pings/7', oauth)).body, 'Machine Ping #7 for user_7!')
  t.match((await get('/me', named)).json(), { tokenType: 'm2m_token', scopes: ['mch_api'], claims: { aud: ['mch_api'] } }, 'made for CLERK_MACHINE_ID')
  t.match((await get('/me', oauth)).json(), { tokenType: 'oauth_token', clientId: 'client_cli', scopes: ['pings:read', 'pings:write'] })
  t.equal((await get('/rest-endpoints/7', m2m)).json().code, 'token_type_not_accepted')
  const notMachine = await run(process.execPath, [MINT_CLI, '--m2m', '--sub', 'user_1'], { env, cwd: dir }).catch((err: { code: number, stderr: string }) => err)
  t.match((notMachine as { stderr: string }).stderr, /--sub of an M2M token is the calling machine/)
  const both = await run(process.execPath, [MINT_CLI, '--m2m', '--oauth'], { env, cwd: dir }).catch((err: { code: number, stderr: string }) => err)
  t.match((both as { stderr: string }).stderr, /pick one/)
})

t.test('npm run token -- --api-key / --opaque: opaque tokens the development issuer\'s Backend API verifies', async (t) => {
  const dir = tempDir(t)
  const port = await freePort()
  const env = { ...process.env, DEV_ISSUER_PORT: String(port), DEV_ISSUER_DIR: dir, CLERK_ISSUER_URL: '' }
  const mint = async (...args: string[]): Promise<string> => (await run(process.execPath, [MINT_CLI, ...args], { env, cwd: dir })).stdout.trim()
  const apiKey = await mint('--api-key', '--sub', 'user_key', '--name', 'ci', '--scope', 'pings:read')
  const revoked = await mint('--api-key', '--revoked')
  const m2m = await mint('--m2m', '--opaque')
  const oauth = await mint('--oauth', '--opaque', '--sub', 'user_o')
  t.match(apiKey, /^ak_/)
  t.match(m2m, /^mt_/)
  t.match(oauth, /^oat_/)
  const app = await buildApp(t, { DEV_ISSUER_PORT: port, DEV_ISSUER_DIR: dir })
  const get = async (url: string, token: string) => await app.inject({ url, headers: { authorization: `Bearer ${token}` } })
  t.equal((await get('/machine-pings/7', apiKey)).body, 'Machine Ping #7 for user_key!')
  t.equal((await get('/machine-pings/7', m2m)).body, 'Machine Ping #7 for mch_devcaller!')
  t.equal((await get('/machine-pings/7', oauth)).body, 'Machine Ping #7 for user_o!')
  t.equal((await get('/machine-pings/7', revoked)).json().code, 'token_revoked')
  t.equal((await get('/machine-pings/7', `${apiKey.slice(0, -2)}xx`)).json().code, 'token_unknown', 'a key the issuer did not mint')
  t.match((await get('/me', apiKey)).json(), { tokenType: 'api_key', name: 'ci', userId: 'user_key', scopes: ['pings:read'] })
  t.equal(app.devIssuer?.backendApiCalls().length, 5, 'one call per new token: /me was answered from the cache')
  const stranger = await fetch(`${app.devIssuer?.url ?? ''}/api_keys/verify`, { method: 'POST', headers: { authorization: 'Bearer sk_test_guess' }, body: JSON.stringify({ secret: apiKey }) })
  t.equal(stranger.status, 401, 'the development Backend API wants its secret key too')
})

t.test('in production without CLERK_ISSUER_URL the service refuses to start', async (t) => {
  const dir = tempDir(t)
  await t.rejects(buildApp(t, { NODE_ENV: 'production', DEV_ISSUER_DIR: dir, DEV_ISSUER_PORT: 0 }), {
    name: 'ConfigError',
    message: /CLERK_ISSUER_URL is required when NODE_ENV=production/
  })
})

t.test('a development issuer port already in use is a clear configuration error', async (t) => {
  const dir = tempDir(t)
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const { port } = blocker.address() as { port: number }
  await t.rejects(buildApp(t, { DEV_ISSUER_PORT: port, DEV_ISSUER_DIR: dir }), { name: 'ConfigError', message: /DEV_ISSUER_PORT/ })
})

t.test('npm run token -- --org …: organization tokens that /org-pings and /me understand', async (t) => {
  const dir = tempDir(t)
  const port = await freePort()
  const env = { ...process.env, DEV_ISSUER_PORT: String(port), DEV_ISSUER_DIR: dir, CLERK_ISSUER_URL: '' }
  const mint = async (...args: string[]): Promise<string> => (await run(process.execPath, [MINT_CLI, ...args], { env, cwd: dir })).stdout.trim()
  const member = await mint('--org', 'org_acme', '--org-slug', 'acme', '--role', 'admin', '--permission', 'org:pings:read', '--permission', 'org:invoices:manage', '--feature', 'u:dashboard', '--plan', 'o:pro')
  const outsider = await mint('--org', 'org_acme', '--permission', 'org:invoices:read')
  const app = await buildApp(t, { DEV_ISSUER_PORT: port, DEV_ISSUER_DIR: dir })
  const get = async (url: string, token: string) => await app.inject({ url, headers: { authorization: `Bearer ${token}` } })
  t.equal((await get('/org-pings/7', member)).body, 'Org Ping #7 for acme!')
  t.match((await get('/me', member)).json(), { orgId: 'org_acme', orgSlug: 'acme', orgRole: 'org:admin', orgPermissions: ['org:pings:read', 'org:invoices:manage'], claims: { fea: 'u:dashboard,o:pings,o:invoices', pla: 'o:pro' } })
  t.equal((await get('/org-pings/7', outsider)).statusCode, 403, 'another permission is not org:pings:read')
  const orphan = await run(process.execPath, [MINT_CLI, '--role', 'admin'], { env, cwd: dir }).catch((err: { code: number, stderr: string }) => err)
  t.match((orphan as { stderr: string }).stderr, /give its --org too/)
  const badKey = await run(process.execPath, [MINT_CLI, '--org', 'org_1', '--permission', 'pings:read'], { env, cwd: dir }).catch((err: { code: number, stderr: string }) => err)
  t.match(badKey, { code: 1, stderr: /pings:read is not a permission key/ })
})

t.test('npm run token -- --help lists every option; an unknown one is one line, not a stack trace', async (t) => {
  const { stdout } = await run(process.execPath, [MINT_CLI, '--help'], { env: { ...process.env, CLERK_ISSUER_URL: 'https://clerk.example.com' } })
  const source = readFileSync(join(import.meta.dirname, '../../src/dev-issuer/mint-token.ts'), 'utf8')
  const declared = [...source.matchAll(/^ {6}'?([a-z0-9-]+)'?: \{ type: /gm)].map(([, name]) => name as string)
  t.ok(declared.length >= 19, `${declared.length} options`)
  for (const name of declared) t.match(stdout, new RegExp(`--${name}\\b`), `--${name} is explained`)
  const development = readFileSync(join(import.meta.dirname, '../../docs/development.md'), 'utf8')
  for (const name of declared) t.match(development, new RegExp(`--${name}\\b`), `docs/development.md lists --${name}`)
  const unknown = await run(process.execPath, [MINT_CLI, '--bogus'], { env: process.env }).catch((err: { code: number, stderr: string }) => err)
  t.match(unknown, { code: 1, stderr: /^Unknown option '--bogus' \(npm run -s token -- --help lists the options\)\n$/ })
})

t.test('scripts/run-built.mjs builds only when a source changed since its last build', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'scripts'))
  mkdirSync(join(dir, 'src'))
  copyFileSync(join(import.meta.dirname, '../../scripts/run-built.mjs'), join(dir, 'scripts/run-built.mjs'))
  writeFileSync(join(dir, 'src/entry.ts'), '')
  // a build that counts itself and writes the entry
  writeFileSync(join(dir, 'build.mjs'), "import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'\nappendFileSync('builds', 'x')\nmkdirSync('dist', { recursive: true })\nwriteFileSync('dist/entry.mjs', 'process.stdout.write(process.argv.slice(2).join(\" \"))')\n")
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', scripts: { build: 'node build.mjs' } }))
  const launch = async (): Promise<string> => (await run(process.execPath, ['scripts/run-built.mjs', 'dist/entry.mjs', 'a', 'b'], { cwd: dir })).stdout
  const builds = (): number => readFileSync(join(dir, 'builds'), 'utf8').length
  t.equal(await launch(), 'a b', 'the entry runs with the arguments')
  t.equal(builds(), 1, 'built the first time')
  t.equal(await launch(), 'a b')
  t.equal(builds(), 1, 'not again while nothing changed')
  const later = new Date(statSync(join(dir, 'dist/.built')).mtimeMs + 10_000)
  utimesSync(join(dir, 'src/entry.ts'), later, later)
  t.equal(await launch(), 'a b')
  t.equal(builds(), 2, 'again after a source changed')
})

t.test('npm run webhook sends the running service a signed event: a session revoked from the command line', async (t) => {
  const dir = tempDir(t)
  const app = await buildApp(t, { DEV_ISSUER_PORT: 0, DEV_ISSUER_DIR: dir })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/webhooks/clerk`
  const token = app.devIssuer?.sessionToken({ sid: 'sess_cli' }) as string
  const me = async (): Promise<number> => (await app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${token}` } })).statusCode
  t.equal(await me(), 200)
  const env = { PATH: process.env.PATH, DEV_ISSUER_DIR: dir }
  const sent = await run(process.execPath, [WEBHOOK_CLI, 'session.revoked', '--sid', 'sess_cli', '--url', url], { env, cwd: dir })
  t.equal(sent.stdout, '200 {"received":true,"duplicate":false,"revoked":"session"}\n')
  t.equal(await me(), 401)

  const missing = await run(process.execPath, [WEBHOOK_CLI, 'organizationMembership.updated', '--sub', 'user_1'], { env, cwd: dir }).catch((err: { code: number, stderr: string }) => err)
  t.match(missing, { code: 1, stderr: 'organizationMembership.updated needs --org and --role\n' })
  const unknown = await run(process.execPath, [WEBHOOK_CLI, 'session.created'], { env, cwd: dir }).catch((err: { code: number, stderr: string }) => err)
  t.match(unknown, { code: 1, stderr: /^Name one event type: session\.revoked, / })
  const configured = await run(process.execPath, [WEBHOOK_CLI, 'user.deleted', '--sub', 'user_1'], { env: { ...env, CLERK_ISSUER_URL: 'https://clerk.example.com' }, cwd: dir }).catch((err: { code: number, stderr: string }) => err)
  t.match(configured, { code: 1, stderr: /CLERK_WEBHOOK_SIGNING_SECRET is not/ })
  const refused = await run(process.execPath, [WEBHOOK_CLI, 'user.deleted', '--sub', 'user_1', '--url', url], { env: { ...env, CLERK_WEBHOOK_SIGNING_SECRET: 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, cwd: dir }).catch((err: { code: number, stdout: string }) => err)
  t.match(refused, { code: 1, stdout: /^400 .*webhook_signature_invalid/ }, 'a secret the service does not have')
  const { stdout: help } = await run(process.execPath, [WEBHOOK_CLI, '--help'], { env, cwd: dir })
  for (const option of ['--sid', '--sub', '--org', '--role', '--banned', '--url']) t.match(help, option)
})
