// npm run bench -- --tracing: what traces cost. The compiled service, started as npm start starts it
// (dist/src/tracing.js loaded first), three times and measured in the same rounds: tracing off (no
// OTEL_* variables), on with every request sampled, and on with 1 in 100. Spans go over OTLP/HTTP
// (protobuf, the default) to a receiver in this process that reads and drops them.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createTestIssuer, generateSigningKey, signJwt } from '../plugins/clerk-auth/testing/index.js'
import { compareInRounds, printRatios, SERVER_CORE, startServer, type RatioRow, type Scenario, type Server } from './harness.js'

export async function runTracingBench ({ rounds, durationSeconds, connections }: { rounds: number, durationSeconds: number, connections: number }): Promise<void> {
  const root = join(import.meta.dirname, '../..')
  let exports = 0
  let exportedBytes = 0
  const receiver = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => { exportedBytes += chunk.length })
    request.on('end', () => {
      exports++
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
  const issuer = await createTestIssuer({ key: generateSigningKey() })
  const preload = `--import ${join(root, 'dist/src/tracing.js')}`
  const env = { CLERK_ISSUER_URL: issuer.url, METRICS_PORT: '0', SHUTDOWN_DRAIN_MS: '0', HOST: '127.0.0.1', PORT: '0', NODE_ENV: 'production', NODE_OPTIONS: preload }
  const traced = (ratio: string): Record<string, string> => ({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: ratio })
  const listening = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/
  const servers: Server[] = []
  let rows: RatioRow[] = []
  try {
    const off = await startServer('tracing off', join(root, 'dist/src/server.js'), env, listening, SERVER_CORE)
    servers.push(off)
    const all = await startServer('tracing on, 1.0', join(root, 'dist/src/server.js'), traced('1'), listening, SERVER_CORE)
    servers.push(all)
    const some = await startServer('tracing on, 0.01', join(root, 'dist/src/server.js'), traced('0.01'), listening, SERVER_CORE)
    servers.push(some)
    const token = issuer.sessionToken({ sid: 'sess_tracing_bench' })
    const forged = signJwt({ kid: issuer.kid }, issuer.sessionClaims({ sid: 'sess_forged' }), generateSigningKey().privateKey)
    const scenarios: Scenario[] = [
      { scenario: 'REST, one token', status: 200, spec: { method: 'GET', path: '/rest-endpoints/12345', headers: { authorization: `Bearer ${token}` } } },
      { scenario: 'GraphQL pingOne, one token', status: 200, spec: { method: 'POST', path: '/graphql', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ pingOne(id: "12345") }' }) } },
      { scenario: 'REST, forged token (cached refusal)', status: 401, spec: { method: 'GET', path: '/rest-endpoints/12345', headers: { authorization: `Bearer ${forged}` } } }
    ]
    rows = await compareInRounds({ base: off, targets: [{ name: 'on, 1.0', server: all }, { name: 'on, 0.01', server: some }], scenarios, rounds, durationSeconds, connections })
  } finally {
    for (const server of servers) {
      const exited = new Promise((resolve) => server.child.once('exit', resolve))
      server.child.kill('SIGTERM')
      await exited
    }
    await issuer.close()
    receiver.close()
  }
  process.stdout.write(`\nTracing on over off, same rounds (${rounds} rounds of ${durationSeconds} s, ${connections} connections; 1.00: no cost):\n`)
  printRatios(rows)
  process.stdout.write(`  exported: ${exports} OTLP requests, ${(exportedBytes / 1024 / 1024).toFixed(1)} MiB\n`)
}
