// OpenAPI: /docs/json describes every REST route with its security, /docs renders offline.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { offlinePage } from '../support/browser.js'
import { buildApp } from '../support/app.js'
import { tempDir } from '../../plugins/clerk-auth/test/support/temp-dir.js'

const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts')

type Operation = { security?: unknown[], responses: Record<string, { content?: { 'application/json': { schema: { required?: string[] } } } }>, description?: string }

t.test('/docs/json: every REST route, the bearer scheme on the protected ones, their refusal bodies', async (t) => {
  const app = await buildApp(t, { DEV_ISSUER_PORT: 0, DEV_ISSUER_DIR: tempDir(t) })
  const res = await app.inject({ url: '/docs/json' })
  t.equal(res.statusCode, 200, 'public: no token')
  const doc = res.json() as { openapi: string, paths: Record<string, { get: Operation }>, components: { securitySchemes: Record<string, unknown> } }
  t.equal(doc.openapi, '3.1.0')
  t.same(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: doc.components.securitySchemes.bearer && (doc.components.securitySchemes.bearer as { description: string }).description })
  t.same(Object.keys(doc.paths).sort(), ['/greeting', '/health', '/machine-pings/{id}', '/me', '/org-pings/{id}', '/ready', '/rest-endpoints/{id}'], 'the REST routes; GraphQL, GraphiQL and the docs themselves are left out')
  const refusalKeys = ['statusCode', 'error', 'code', 'message']
  for (const path of ['/rest-endpoints/{id}', '/org-pings/{id}', '/me', '/machine-pings/{id}']) {
    const operation = doc.paths[path]?.get as Operation
    t.same(operation.security, [{ bearer: [] }], `${path}: bearer`)
    for (const status of ['401', '503']) t.same(operation.responses[status]?.content?.['application/json'].schema.required, refusalKeys, `${path}: ${status}`)
  }
  t.same(doc.paths['/org-pings/{id}']?.get.responses['403']?.content?.['application/json'].schema.required, [...refusalKeys, 'missing'], 'a route with a requirement: 403 and what is missing')
  t.notOk('403' in (doc.paths['/rest-endpoints/{id}']?.get.responses ?? {}), 'no 403 where nothing is required')
  t.match(doc.paths['/machine-pings/{id}']?.get.description, /Accepts: m2m_token, oauth_token, api_key/)
  for (const path of ['/health', '/ready']) t.equal(doc.paths[path]?.get.security, undefined, `${path}: public`)
  t.same(doc.paths['/greeting']?.get.security, [{ bearer: [] }, {}], 'optional sign-in: the bearer scheme or nothing')
  t.match(doc.paths['/greeting']?.get.description, /Sign-in is optional/)
  // the ping routes answer plain text, and say so
  for (const path of ['/rest-endpoints/{id}', '/org-pings/{id}', '/machine-pings/{id}', '/greeting']) {
    t.same(Object.keys(doc.paths[path]?.get.responses['200']?.content ?? {}), ['text/plain'], `${path}: 200 is text/plain`)
  }
  t.same(Object.keys(doc.paths['/me']?.get.responses['200']?.content ?? {}), ['application/json'], '/me: 200 is JSON')
  // the documented body is the one sent
  const refused = await app.inject({ url: '/rest-endpoints/1' })
  t.same(Object.keys(refused.json()).sort(), [...refusalKeys].sort())
})

t.test('/docs renders in Chromium from local files only', async (t) => {
  const app = await buildApp(t, { DEV_ISSUER_PORT: 0, DEV_ISSUER_DIR: tempDir(t) })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const csp = (await app.inject({ url: '/docs/' })).headers['content-security-policy'] as string
  t.notMatch(csp, /https:|validator|upgrade-insecure-requests/, 'the page may load nothing from elsewhere')
  const { page, requested, problems } = await offlinePage(t, { width: 1280, height: 900 })
  await page.goto(`${base}/docs`)
  await page.locator('.opblock-summary-path', { hasText: '/rest-endpoints/{id}' }).waitFor({ timeout: 20_000 })
  t.ok(await page.locator('.opblock-summary-path', { hasText: '/machine-pings/{id}' }).count() > 0, 'every route listed')
  t.ok(await page.locator('.authorize').count() > 0, 'the bearer scheme can be filled in')
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: join(ARTIFACTS, 'docs.png') })
  t.same(requested.filter((url) => !url.startsWith(base) && !url.startsWith('data:')), [], 'nothing asked of any other origin')
  t.same(problems, [], 'no error in the page')
})
