// A flood meant to deny machine tokens, over real sockets: four connections send
// random API keys from one address for a few seconds while another address presents new valid keys
// and a key verified before the flood, which Clerk's answer expires for every second.
import { request } from 'node:http'
import { randomBytes } from 'node:crypto'
import autocannon from 'autocannon'
import t from 'tap'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { buildApp } from '../support/app.js'

/** A GET from a chosen loopback address, as another client would send it. */
async function getFrom (localAddress: string, url: string, token: string): Promise<{ status: number, code?: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { localAddress, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, code: res.statusCode === 200 ? undefined : (JSON.parse(body) as { code: string }).code }) })
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('under a flood of random API keys from one address, another address\'s keys are served', async (t) => {
  const issuer = await startIssuer(t)
  const api = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_SECRET_KEY: api.secretKey, CLERK_API_URL: api.url, CLERK_MACHINE_TOKEN_CACHE_MS: 1000 })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `${base}/machine-pings/1`
  const known = api.apiKey()
  t.equal((await getFrom('127.0.0.2', url, known)).status, 200, 'verified before the flood')

  const flood = autocannon({
    url,
    connections: 4,
    duration: 4,
    requests: [{ method: 'GET', setupRequest: (req: Record<string, unknown>) => ({ ...req, headers: { authorization: `Bearer ak_${randomBytes(16).toString('hex')}` } }) }] as never
  })
  // While it runs, four times a second: a new valid key and the known one, from 127.0.0.2.
  const fresh: Array<{ status: number, code?: string }> = []
  const again: Array<{ status: number, code?: string }> = []
  const state = { running: true }
  const finished = (flood as unknown as Promise<autocannon.Result>).then((result) => { state.running = false; return result })
  while (state.running) {
    fresh.push(await getFrom('127.0.0.2', url, api.apiKey()))
    again.push(await getFrom('127.0.0.2', url, known))
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  const result = await finished
  const stats = app.clerkAuth.stats()
  const flooded = (result as unknown as { statusCodeStats: Record<string, { count: number }> }).statusCodeStats
  t.comment(`flood: ${result.requests.total} requests in ${result.duration} s, statuses ${JSON.stringify(Object.fromEntries(Object.entries(flooded).map(([code, s]) => [code, s.count])))}; ` +
    `Backend API calls ${api.backendApiCalls().length}; refused by budget: ${JSON.stringify(stats.machineApiBudgetRefusals)}; new valid keys ${fresh.length}, known key ${again.length} times`)
  t.ok(result.requests.total > 1000, 'a flood it was')
  t.ok(fresh.length >= 8, `${fresh.length} new keys sent during it`)
  t.same(fresh.filter((answer) => answer.status !== 200), [], 'every new valid key from the other address: 200')
  t.same(again.filter((answer) => answer.status !== 200), [], 'the key verified before: 200 all along, re-checked every second')
  t.ok(stats.machineApiBudgetRefusals.client > 1000, 'the flood spent its own share only')
})
