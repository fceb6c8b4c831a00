// Headless Chromium that can reach 127.0.0.1 and nothing else, for the pages the service serves.
import { chromium, type Page } from 'playwright-core'
import type { Test } from 'tap'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** A page in a browser closed when the test ends; requested and problems fill as it loads. */
export async function offlinePage (t: Test, viewport = { width: 1280, height: 800 }): Promise<{ page: Page, requested: string[], problems: string[] }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'
    ]
  })
  t.teardown(async () => await browser.close())
  const page = await browser.newPage({ viewport })
  const requested: string[] = []
  const problems: string[] = []
  page.on('request', (request) => { requested.push(request.url()) })
  page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()) })
  page.on('pageerror', (error) => { problems.push(error.message) })
  return { page, requested, problems }
}
