// GraphiQL in headless Chromium with no route off the machine: it must render, run pingOne with the
// development token, show the refusal without one, and ask nothing of any other origin.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import t from 'tap'
import { offlinePage } from '../support/browser.js'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { buildApp } from '../support/app.js'
import { tempDir } from '../../plugins/clerk-auth/test/support/temp-dir.js'

const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts')

async function runQuery (page: Page): Promise<void> {
  await page.click('.graphiql-execute-button')
}

async function resultText (page: Page): Promise<string> {
  return await page.locator('.result-window').innerText()
}

t.test('GraphiQL works offline, with and without a token', async (t) => {
  const dir = tempDir(t)
  const app = await buildApp(t, { DEV_ISSUER_PORT: 0, DEV_ISSUER_DIR: dir })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })

  const { page, requested, problems } = await offlinePage(t)

  await page.goto(`${base}/graphiql`)
  await page.locator('.graphiql-query-editor .CodeMirror').waitFor({ state: 'visible', timeout: 20_000 })
  t.pass('the editor rendered')
  t.match(await page.locator('#token-hint').innerText(), /development token/)

  // The development token is already in the Headers tab. (Locators, not waitForFunction: a page
  // function is evaluated with eval in the page, which the page's own CSP rightly refuses.)
  await page.locator('.graphiql-editor-tool', { hasText: 'Bearer' }).first().waitFor({ timeout: 10_000 })
  await runQuery(page)
  await page.locator('.result-window', { hasText: 'GraphQL Ping #12345!' }).waitFor({ timeout: 10_000 })
  t.match(await resultText(page), /GraphQL Ping #12345!/, 'pingOne answered with the token')
  t.match(await resultText(page), /user_graphiql/, 'and me shows who the backend sees')
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: join(ARTIFACTS, 'graphiql.png') })

  // A subscription: over a socket to /graphql, the Headers tab's token in connection_init.
  await page.evaluate(`document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror
    .setValue('subscription {\\n  pings(id: "42", everyMs: 250)\\n}\\n')`)
  // GraphiQL parses the editor's text a moment after it changes, and picks HTTP or the socket by that
  const parsedAs = async (operation: string): Promise<boolean> => await page.evaluate(`document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror
    .documentAST?.definitions[0]?.operation === '${operation}'`)
  for (let check = 0; check < 200 && !await parsedAs('subscription'); check++);
  t.ok(await parsedAs('subscription'), 'GraphiQL sees a subscription')
  await runQuery(page)
  await page.locator('.result-window', { hasText: 'GraphQL Ping #42!' }).waitFor({ timeout: 10_000 })
  t.match(await resultText(page), /GraphQL Ping #42!/, 'the subscription streams over the socket')
  await page.screenshot({ path: join(ARTIFACTS, 'graphiql-subscription.png') })
  await runQuery(page) // the run button stops a running subscription
  await page.evaluate(`document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror
    .setValue('query {\\n  pingOne(id: "12345")\\n}\\n')`)
  for (let check = 0; check < 200 && !await parsedAs('query'); check++);

  // Without a token: empty the headers editor and run again.
  await page.evaluate(`[...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]
    .find((editor) => editor.CodeMirror.getValue().includes('Bearer'))
    .CodeMirror.setValue('{}')`)
  await runQuery(page)
  await page.locator('.result-window', { hasText: 'UNAUTHENTICATED' }).waitFor({ timeout: 10_000 })
  t.match(await resultText(page), /token_missing/, 'the refusal is shown')
  await page.screenshot({ path: join(ARTIFACTS, 'graphiql-refused.png') })

  const origin = new URL(base).origin
  const foreign = requested.filter((url) => new URL(url).origin !== origin)
  t.same(foreign, [], 'no request left the service\'s origin')
  t.ok(requested.some((url) => url.endsWith('/graphql')), 'queries went to /graphql')
  t.same(problems.filter((text) => /Content Security Policy|Refused to/.test(text)), [], 'no CSP violation')
})

t.test('in production the page mints nothing and says where a token comes from', async (t) => {
  // A loopback issuer: the service fetches keys at start-up, and nothing may leave the machine.
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, NODE_ENV: 'production' })
  const page = await app.inject({ method: 'GET', url: '/graphiql' })
  t.equal(page.statusCode, 200)
  t.match(page.body, /getToken\(\)/)
  t.match(page.body, /data-dev-token="false"/)
  t.match(page.headers['content-security-policy'], /script-src 'self'/)
  t.notMatch(page.body, /https?:\/\//, 'no absolute URL in the page')
  t.equal((await app.inject({ method: 'GET', url: '/graphiql/dev-token' })).statusCode, 401, 'no token minting route (unknown routes need a token)')
  const assetPath = /href="([^"]+)\/graphiql\.css"/.exec(page.body)?.[1] as string
  t.equal((await app.inject({ method: 'GET', url: `${assetPath}/graphiql.css` })).statusCode, 200)
  for (const name of ['constructor', '__proto__', 'package.json']) {
    t.equal((await app.inject({ method: 'GET', url: `${assetPath}/${name}` })).statusCode, 404, `${name} is not an asset`)
  }
})
