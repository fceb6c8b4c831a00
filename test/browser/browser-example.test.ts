// The frontend flow in headless Chromium: examples/browser/ served from a second origin calls the
// service cross-origin, as a Next.js + Clerk page does, and shows what it could read.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { serveExamplePage } from '../../examples/browser/serve.js'
import { offlinePage } from '../support/browser.js'
import { testClock } from '../../plugins/clerk-auth/test/support/observe.js'
import { buildApp } from '../support/app.js'

const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts')

async function examplePage (t: Test): Promise<string> {
  const { url, server } = await serveExamplePage(0)
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return url
}

/** Clicks a button and waits until its output shows a final answer; returns that text. */
async function press (page: Page, id: string): Promise<string> {
  const output = page.locator(`#${id}-result`)
  await page.evaluate(`document.getElementById('${id}-result').textContent = ''`)
  await page.click(`#${id}`)
  await output.filter({ hasText: /^(\d{3} |blocked: )/ }).waitFor({ timeout: 15_000 })
  return await output.innerText()
}

t.test('a page on a listed origin calls REST and GraphQL, reads refusals, retries on token_expired, and uses the cookie', async (t) => {
  const pageOrigin = await examplePage(t)
  const clock = testClock()
  const app = await buildApp(t, { CORS_ORIGINS: pageOrigin }, { now: clock.now })
  const api = await app.listen({ host: '127.0.0.1', port: 0 })
  const { page, problems } = await offlinePage(t, { width: 1100, height: 520 })
  await page.goto(`${pageOrigin}/?api=${encodeURIComponent(api)}`)

  t.equal(await press(page, 'rest'), '200 REST Ping #42!')
  t.equal(await press(page, 'graphql'), '200 {"data":{"pingOne":"GraphQL Ping #42!"}}')
  t.equal(await press(page, 'no-token'), '401 token_missing (WWW-Authenticate: Bearer realm="api")', 'the page read the code and the challenge')
  t.equal(await press(page, 'greeting'), '200 Hello, guest!', 'optional sign-in, signed out')
  t.equal(await press(page, 'cookie'), '200 REST Ping #7!', 'the __session cookie with credentials: include')

  // The page still holds its first token; two hours on (the development token lives one) it has expired.
  clock.advance(2 * 3600 * 1000)
  t.equal(await press(page, 'rest'), '200 REST Ping #42! (after token_expired: fetched a fresh token and retried)')
  t.equal(await press(page, 'graphql'), '200 {"data":{"pingOne":"GraphQL Ping #42!"}}', 'the fresh token is reused')
  const refused = app.clerkAuth.stats().decisions.filter((decision) => decision.result === 'refused')
  t.same(refused.map(({ code, count }) => [code, count]).sort(), [['token_expired', 1], ['token_missing', 1]], 'one expiry, one call without a token')
  t.same(app.cors.refusedOrigins(), { preflight: 0, request: 0 })
  t.same(problems.filter((text) => !text.includes('401')), [], 'no other error in the page')

  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: join(ARTIFACTS, 'browser-example.png') })
})

t.test('a page on an origin that is not listed is blocked by the browser', async (t) => {
  const listed = await examplePage(t)
  const foreign = await examplePage(t)
  const app = await buildApp(t, { CORS_ORIGINS: listed })
  const api = await app.listen({ host: '127.0.0.1', port: 0 })
  const { page, problems } = await offlinePage(t, { width: 1100, height: 520 })
  await page.goto(`${foreign}/?api=${encodeURIComponent(api)}`)

  t.match(await press(page, 'rest'), /^blocked: /, 'the token request and the call are withheld')
  t.match(await press(page, 'no-token'), /^blocked: /, 'even the refusal')
  t.match(await press(page, 'graphql'), /^blocked: /)
  t.ok(problems.some((text) => /blocked by CORS policy/.test(text)), 'Chromium says why')
  t.ok(app.cors.refusedOrigins().request >= 3, 'the refused origin is counted')
  await page.screenshot({ path: join(ARTIFACTS, 'browser-example-blocked.png') })
})
