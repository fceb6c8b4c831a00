// The rolling-restart drill: two replicas behind a real nginx running the shipped
// deploy/nginx/load-balancer.conf, steady REST and GraphQL load with valid tokens through nginx, and
// each replica restarted in turn (SIGTERM, drained, exited; a new one started; ready). Every request
// is counted by the load generator: none may fail and none may get an unexpected status. Run without
// a shared store and with one (REDIS_URL, a real redis-server).
import t from 'tap'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { tempDir } from '../../plugins/clerk-auth/test/support/temp-dir.js'
import { freePort } from '../support/loopback.js'
import { metricValue, parseMetrics } from '../support/metrics.js'
import { shippedConfig, startNginx } from '../support/nginx.js'
import { startServer, waitForStatus, type Started } from '../support/processes.js'
import { startRedis } from '../support/redis.js'

const CONCURRENCY = 8
const DRAIN_MS = 1500

interface Tally { total: number, ok: number, unexpected: Array<{ status: number, body: string }>, failed: string[] }

for (const withStore of [false, true]) {
  t.test(`a rolling restart behind nginx, under steady REST and GraphQL load, fails no request${withStore ? ', with REDIS_URL' : ''}`, async (t) => {
    const store: Record<string, string> = withStore ? { REDIS_URL: (await startRedis(t)).url } : {}
    const issuer = await startIssuer(t)
    const token = issuer.sign(issuer.sessionClaims({ exp: Math.floor(Date.now() / 1000) + 3600 }))
    const ports = [await freePort(), await freePort()] as const
    const dir = tempDir(t)
    const replicas: Array<Started | undefined> = [undefined, undefined]
    t.teardown(() => { for (const replica of replicas) replica?.child.kill('SIGKILL') })

    const metricsPorts = [await freePort(), await freePort()] as const
    async function startReplica (i: 0 | 1): Promise<void> {
      const replica = startServer({
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(ports[i]),
        CLERK_ISSUER_URL: issuer.url,
        SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
        LOG_LEVEL: 'warn',
        METRICS_PORT: String(metricsPorts[i]),
        ...store
      }, dir)
      replicas[i] = replica
      await waitForStatus(`http://127.0.0.1:${ports[i]}/ready`, 200)
    }
    /** Requests a replica has answered with 200, by its own metrics. */
    async function served (i: 0 | 1): Promise<number> {
      const samples = parseMetrics(await (await fetch(`http://127.0.0.1:${metricsPorts[i]}/metrics`)).text())
      return metricValue(samples, 'http_request_duration_seconds_count', { route: '/rest-endpoints/:id', status_code: '200' }) +
      metricValue(samples, 'http_request_duration_seconds_count', { route: '/graphql', status_code: '200' })
    }
    await Promise.all([startReplica(0), startReplica(1)])

    // the shipped configuration, with this test's replicas
    let replicaIndex = 0
    const config = shippedConfig('deploy/nginx/load-balancer.conf')
      .replace(/server 127\.0\.0\.1:\d+/g, () => `server 127.0.0.1:${ports[replicaIndex++] as number}`)
    t.equal(replicaIndex, 2, 'the shipped upstream names two replicas')
    const nginx = await startNginx(t, config)

    // steady load: each worker alternates a REST request and a GraphQL query until told to stop
    const tally: Tally = { total: 0, ok: 0, unexpected: [], failed: [] }
    const state = { running: true }
    async function worker (w: number): Promise<void> {
      for (let n = 0; state.running; n++) {
        const id = `${w}-${n}`
        const graphql = n % 2 === 1
        try {
          const res = graphql
            ? await fetch(`${nginx.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ query: `{ pingOne(id: "${id}") }` }) })
            : await fetch(`${nginx.url}/rest-endpoints/${id}`, { headers: { authorization: `Bearer ${token}` } })
          const body = await res.text()
          const expected = graphql ? JSON.stringify({ data: { pingOne: `GraphQL Ping #${id}!` } }) : `REST Ping #${id}!`
          if (res.status === 200 && body === expected) tally.ok++
          else tally.unexpected.push({ status: res.status, body: body.slice(0, 200) })
        } catch (err) {
          tally.failed.push(String((err as Error).cause ?? err))
        }
        tally.total++
      }
    }
    const load = Promise.all(Array.from({ length: CONCURRENCY }, async (_, w) => await worker(w)))
    /** Waits until the load generator has completed n more requests: the load is flowing, whatever the machine's speed. */
    async function moreRequests (n: number): Promise<void> {
      const target = tally.total + n
      while (tally.total < target && state.running) await new Promise((resolve) => setImmediate(resolve))
    }

    await moreRequests(200)
    const phases: Array<{ replica: number, requestsDuringRestart: number }> = []
    for (const i of [0, 1] as const) {
      const before = tally.total
      const old = replicas[i] as Started
      old.child.kill('SIGTERM')
      t.equal(await old.exited, 0, `replica ${i + 1} drained and exited 0`)
      t.equal(old.stderr(), '', `replica ${i + 1} wrote no error`)
      await startReplica(i)
      phases.push({ replica: i + 1, requestsDuringRestart: tally.total - before })
      // As a careful rollout does: the next replica goes only once nginx sends this one traffic again
      // (it keeps a replica that refused connections out for fail_timeout).
      while (await served(i) === 0) await moreRequests(50)
      await moreRequests(200)
    }
    state.running = false
    await load

    t.comment(`${tally.total} requests through nginx (${CONCURRENCY} at a time, REST and GraphQL alternating); during each restart: ${phases.map((p) => `replica ${p.replica} ${p.requestsDuringRestart}`).join(', ')}`)
    t.same(tally.failed, [], 'no request failed')
    t.same(tally.unexpected, [], 'no unexpected status or body')
    t.equal(tally.ok, tally.total)
    for (const phase of phases) t.ok(phase.requestsDuringRestart > 0, `load kept flowing while replica ${phase.replica} restarted`)
    // what nginx saw and hid by trying the other replica (it logs each at [error])
    const hidden = nginx.errors().split('\n').filter((line) => line.includes('[error]'))
    t.comment(`nginx retried on the other replica ${hidden.length} times (${[...new Set(hidden.map((line) => /\] \d+#\d+: \*\d+ ([^,(]+)/.exec(line)?.[1]?.trim()))].join('; ')})`)
    t.notMatch(nginx.errors(), /\[(crit|alert|emerg)\]/)
    if (withStore) {
      for (const i of [0, 1] as const) {
        const samples = parseMetrics(await (await fetch(`http://127.0.0.1:${metricsPorts[i]}/metrics`)).text())
        t.equal(metricValue(samples, 'shared_store_up', {}), 1, `the new replica ${i + 1} shares through the store`)
      }
    }
  })
}
