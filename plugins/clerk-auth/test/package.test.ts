// The plugin as a user installs it: `npm pack -w plugins/clerk-auth`, installed offline into an empty
// project with only what the package declares, then used from an ES module, a CommonJS module and a
// TypeScript module under a strict configuration.
import { execFile } from 'node:child_process'
import { builtinModules } from 'node:module'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { tempDir } from './support/temp-dir.js'
import { startIssuer } from './support/issuer.js'
import { installOffline, pack } from './support/offline-install.js'

const run = promisify(execFile)

const dir = tempDir(t)
const packed = await pack('plugins/clerk-auth', dir)
const project = join(dir, 'consumer')
await run('mkdir', [project])
await installOffline(project, packed, ['fastify', 'typescript', '@types/node'])
const installed = join(project, 'node_modules', packed.manifest.name)

/** Registers the plugin on a bare Fastify app and asks a route twice, with and without a token. */
const useIt = (load: string): string => `
${load}
const app = Fastify()
await app.register(clerkAuth, { issuer: process.env.ISSUER })
app.get('/hello', async (request) => ({ hello: request.auth.userId }))
const withToken = await app.inject({ url: '/hello', headers: { authorization: 'Bearer ' + process.env.TOKEN } })
const without = await app.inject({ url: '/hello' })
process.stdout.write(JSON.stringify({ ok: [withToken.statusCode, withToken.json()], refused: [without.statusCode, without.json().code] }))
await app.close()
`

t.test('the tarball holds the built plugin, its types, README and CHANGELOG, and no source or tests', async (t) => {
  const files = readdirSync(installed, { recursive: true }).map(String).sort()
  t.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'))
  t.ok(files.includes('README.md') && files.includes('CHANGELOG.md'))
  t.same(files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts')), [], 'no TypeScript source')
  t.same(files.filter((file) => /\.test\.|(^|\/)test\//.test(file)), [], 'no tests')
  t.ok(files.includes('dist/testing/index.js') && files.includes('dist/testing/index.d.ts'), 'the testing entry')
})

t.test('every package its code imports is one it declares', async (t) => {
  const declared = new Set([...Object.keys(packed.manifest.dependencies ?? {}), ...Object.keys(packed.manifest.peerDependencies ?? {})])
  const builtins = new Set(builtinModules)
  const imported = new Set<string>()
  for (const file of readdirSync(join(installed, 'dist')).filter((name) => name.endsWith('.js') || name.endsWith('.d.ts'))) {
    for (const [, specifier] of readFileSync(join(installed, 'dist', file), 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^'.][^']*)'/g)) {
      const name = (specifier as string).startsWith('@') ? (specifier as string).split('/').slice(0, 2).join('/') : (specifier as string).split('/')[0] as string
      if (!name.startsWith('node:') && !builtins.has(name)) imported.add(name)
    }
  }
  t.ok(imported.size > 0)
  t.same([...imported].filter((name) => !declared.has(name)), [], 'nothing undeclared')
})

t.test('an ES module imports it and registers it on a bare Fastify 5 app', async (t) => {
  const issuer = await startIssuer(t)
  writeFileSync(join(project, 'esm.mjs'), useIt("import Fastify from 'fastify'\nimport clerkAuth from 'fastify-clerk-auth'"))
  const { stdout } = await run(process.execPath, ['esm.mjs'], { cwd: project, env: { PATH: process.env.PATH, ISSUER: issuer.url, TOKEN: issuer.sign() } })
  t.same(JSON.parse(stdout), { ok: [200, { hello: 'user_test' }], refused: [401, 'token_missing'] })
})

t.test('a CommonJS module requires it (Node 20.19 and later load ES modules with require)', async (t) => {
  const issuer = await startIssuer(t)
  writeFileSync(join(project, 'cjs.cjs'), `(async () => {${useIt("const Fastify = require('fastify')\nconst { clerkAuth } = require('fastify-clerk-auth')")}})()`)
  const { stdout } = await run(process.execPath, ['--no-warnings', 'cjs.cjs'], { cwd: project, env: { PATH: process.env.PATH, ISSUER: issuer.url, TOKEN: issuer.sign() } })
  t.same(JSON.parse(stdout), { ok: [200, { hello: 'user_test' }], refused: [401, 'token_missing'] })
})

t.test('the README\'s "Testing your app" example runs as printed, with node --test', async (t) => {
  const readme = readFileSync(join(installed, 'README.md'), 'utf8')
  const example = /## Testing your app[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1]
  t.ok(example, 'the installed README prints it')
  writeFileSync(join(project, 'hello.test.mjs'), example as string)
  const { stdout } = await run(process.execPath, ['--test', 'hello.test.mjs'], { cwd: project, env: { PATH: process.env.PATH } })
  t.match(stdout, /^# pass 1$/m)
  t.match(stdout, /^# fail 0$/m)
})

t.test('a TypeScript module type-checks under a strict configuration, and a misspelled option does not', async (t) => {
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, noEmit: true, skipLibCheck: false, types: ['node'] },
    files: ['app.mts']
  }))
  writeFileSync(join(project, 'app.mts'), `
import Fastify from 'fastify'
import clerkAuth, { type ClerkAuth, type TokenType } from 'fastify-clerk-auth'
import { createTestIssuer, type TestIssuer } from 'fastify-clerk-auth/testing'

const app = Fastify()
await app.register(clerkAuth, { issuer: 'https://example.clerk.accounts.dev', authorizedParties: ['https://app.example.com'] })

app.get('/me', async (request) => {
  const auth: ClerkAuth | null = request.auth
  return { user: auth?.tokenType === 'session_token' ? auth.userId : null }
})
const machines: TokenType[] = ['m2m_token', 'api_key']
app.get('/invoices', { config: { auth: { permission: 'org:invoices:read' }, acceptsToken: machines } }, async () => [])
app.get('/health', { config: { public: true } }, async () => ({ ok: true }))
const decisions: number = app.clerkAuth.stats().decisions.length
const issuer: TestIssuer = await createTestIssuer({ authorizedParty: 'https://app.example.com' })
const member: string = issuer.sessionToken({ org: { id: 'org_1', role: 'admin', permissions: ['org:invoices:read'] }, plans: ['o:pro'] })
const expired: string = issuer.brokenTokens().expired
await issuer.close()

// @ts-expect-error: the option is issuer
await app.register(clerkAuth, { isuer: 'https://example.clerk.accounts.dev' })
// @ts-expect-error: clockSkewMs is spelled so
await app.register(clerkAuth, { issuer: 'https://example.clerk.accounts.dev', clockSkewMS: 5000 })
// @ts-expect-error: no such token type
app.get('/nope', { config: { acceptsToken: ['machine_token'] } }, async () => [decisions, member, expired])
// @ts-expect-error: an organization has an id
issuer.sessionToken({ org: { slug: 'acme' } })
`)
  const tsc = join(project, 'node_modules', '.bin', 'tsc')
  await t.resolves(run(tsc, ['-p', '.'], { cwd: project }), 'tsc passes, each @ts-expect-error met')

  writeFileSync(join(project, 'app.mts'), "import clerkAuth from 'fastify-clerk-auth'\nimport Fastify from 'fastify'\nawait Fastify().register(clerkAuth, { isuer: 'x' })\n")
  const failed = await run(tsc, ['-p', '.'], { cwd: project }).then(() => '', (err: { stdout: string }) => err.stdout)
  t.match(failed, /app\.mts\(3,\d+\): error TS\d+[\s\S]*'isuer' does not exist/, 'without the directive, the misspelling is an error')
})
