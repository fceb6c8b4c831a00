// npm run bench -- --replicas: two replicas of the compiled service sharing a real redis-server
// (REDIS_URL). A webhook ends a session on replica A; the time until replica B refuses that session's
// token (B already holds it as accepted in its cache) is measured, as a gateway would see it:
// B is asked over HTTP in a loop from the moment A has answered the webhook. Then the hot path:
// cached-session REST and GraphQL on a replica with REDIS_URL against one without, in the same rounds.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestIssuer, generateSigningKey } from '../plugins/clerk-auth/testing/index.js'
import { freePort } from './free-port.js'
import { compareInRounds, median, printRatios, SERVER_CORE, startServer, type RatioRow, type Scenario, type Server } from './harness.js'
import { runRedis } from './redis.js'

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number

export async function runReplicasBench ({ revocations, rounds, durationSeconds, connections }: { revocations: number, rounds: number, durationSeconds: number, connections: number }): Promise<void> {
  const root = join(import.meta.dirname, '../..')
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'))
  const redis = await runRedis(await freePort(), dir)
  const issuer = await createTestIssuer({ key: generateSigningKey() })
  const env = { CLERK_ISSUER_URL: issuer.url, CLERK_WEBHOOK_SIGNING_SECRET: issuer.webhookSigningSecret, REDIS_URL: redis.url, METRICS_PORT: '0', SHUTDOWN_DRAIN_MS: '0', HOST: '127.0.0.1', PORT: '0', NODE_ENV: 'production' }
  const listening = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/
  const a = await startServer('replica A', join(root, 'dist/src/server.js'), env, listening, undefined)
  const b = await startServer('replica B', join(root, 'dist/src/server.js'), env, listening, undefined)
  const status = async (token: string): Promise<number> => {
    const res = await fetch(`${b.url}/auth/verify`, { headers: { authorization: `Bearer ${token}` } })
    await res.arrayBuffer()
    return res.status
  }
  const afterAnswer: number[] = []
  const polls: number[] = []
  let hotPath: RatioRow[] = []
  let alone: Server | undefined
  try {
    for (let i = 0; i < revocations; i++) {
      const sessionId = `sess_replicas_${i}`
      const token = issuer.sessionToken({ sid: sessionId })
      if (await status(token) !== 200) throw new Error('B did not accept the token')
      const delivery = issuer.webhook('session.revoked', { sessionId })
      const res = await fetch(`${a.url}/webhooks/clerk`, { method: 'POST', headers: delivery.headers, body: delivery.body })
      await res.arrayBuffer()
      if (res.status !== 200) throw new Error(`A answered the webhook ${res.status}`)
      const answered = performance.now()
      let asked = 0
      for (;;) {
        asked++
        if (await status(token) === 401) break
        if (asked > 10_000) throw new Error('B never refused the token')
      }
      afterAnswer.push(performance.now() - answered)
      polls.push(asked)
    }

    // the hot path, pinned like the main bench: the same service with and without the store
    const { REDIS_URL: _shared, ...withoutStore } = env
    const shared = await startServer('REDIS_URL set', join(root, 'dist/src/server.js'), env, listening, SERVER_CORE)
    alone = await startServer('REDIS_URL unset', join(root, 'dist/src/server.js'), withoutStore, listening, SERVER_CORE)
    const token = issuer.sessionToken({ sid: 'sess_replicas_hot' })
    const scenarios: Scenario[] = [
      { scenario: 'REST, one token', status: 200, spec: { method: 'GET', path: '/rest-endpoints/12345', headers: { authorization: `Bearer ${token}` } } },
      { scenario: 'GraphQL pingOne, one token', status: 200, spec: { method: 'POST', path: '/graphql', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ pingOne(id: "12345") }' }) } }
    ]
    try {
      hotPath = await compareInRounds({ base: alone, targets: [{ name: 'REDIS_URL set', server: shared }], scenarios, rounds, durationSeconds, connections })
    } finally {
      shared.child.kill('SIGTERM')
      await new Promise((resolve) => shared.child.once('exit', resolve))
    }
  } finally {
    if (alone !== undefined) {
      alone.child.kill('SIGTERM')
      await new Promise((resolve) => alone?.child.once('exit', resolve))
    }
    const exited = [a, b].map(async ({ child }) => await new Promise((resolve) => child.once('exit', resolve)))
    a.child.kill('SIGTERM')
    b.child.kill('SIGTERM')
    await Promise.all(exited)
    redis.child.kill('SIGTERM')
    await redis.exited
    await issuer.close()
    rmSync(dir, { recursive: true, force: true })
  }
  const sorted = [...afterAnswer].sort((x, y) => x - y)
  process.stdout.write(`\nReplicas: ${revocations} sessions ended by a webhook on replica A, each already accepted and cached by replica B (both with REDIS_URL, one redis-server on loopback).\n`)
  process.stdout.write(`  from A's 200 to B's first 401: median ${median(sorted).toFixed(2)} ms, p95 ${percentile(sorted, 0.95).toFixed(2)} ms, max ${(sorted.at(-1) as number).toFixed(2)} ms\n`)
  process.stdout.write(`  requests B answered 200 after A's answer, median ${median(polls.map((n) => n - 1)).toFixed(0)}, max ${Math.max(...polls) - 1}\n`)
  process.stdout.write(`\nThe hot path with REDIS_URL set over unset, same rounds (${rounds} rounds of ${durationSeconds} s, ${connections} connections; 1.00: no cost):\n`)
  printRatios(hotPath)
}
