// npm run bench -- --gateway: what gateway mode costs. Debian's nginx runs the shipped
// deploy/nginx/gateway.conf (addresses swapped) in front of a backend that costs nothing (nginx's own
// `return 200`), and asks the compiled service about each request (auth_request). Measured against the
// same nginx forwarding to the same backend with no authentication (the config's public /status), in
// the same rounds: ratios are req/s over that, per round. nginx and the service share the server core.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestIssuer, generateSigningKey, mintSessionToken } from '../plugins/clerk-auth/testing/index.js'
import { freePort } from './free-port.js'
import { cpuMicros, load, median, pinned, SERVER_CORE, startServer, unexpectedOf, withChildren } from './harness.js'
import type { LoadResult, LoadSpec } from './load.js'
import { runNginx } from './nginx.js'

const root = join(import.meta.dirname, '../..')

export interface GatewayBenchOptions { rounds: number, durationSeconds: number, connections: number }

/** CPU time of a process and its children (nginx's worker), in microseconds. */
const treeCpuMicros = (pid: number): number => withChildren(pid).reduce((sum, p) => sum + cpuMicros(p), 0)

export async function runGatewayBench ({ rounds, durationSeconds, connections }: GatewayBenchOptions): Promise<void> {
  const key = generateSigningKey()
  const issuer = await createTestIssuer({ key, authorizedParty: 'http://localhost:3000' })
  const mint = (sid: string): string => mintSessionToken(key, issuer.url, { sub: 'user_bench', sid, azp: 'http://localhost:3000', ttlSeconds: 3600 })
  // As in the main bench: more distinct tokens than the 1,000-entry cache holds, so each is a first sight (an RSA check).
  const tokensFile = join(tmpdir(), `bench-gateway-tokens-${process.pid}.txt`)
  writeFileSync(tokensFile, Array.from({ length: 2000 }, (_, i) => mint(`sess_gateway_${i}`)).join('\n'))
  const oneToken = mint('sess_gateway_one')

  const service = await startServer('service', join(root, 'dist/src/server.js'), {
    CLERK_ISSUER_URL: issuer.url,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
    METRICS_PORT: String(await freePort()),
    CLERK_VERIFICATION_CACHE_SIZE: '1000'
  }, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/, SERVER_CORE)
  const backendPort = await freePort()
  const config = readFileSync(join(root, 'deploy/nginx/gateway.conf'), 'utf8')
    .replace('server 127.0.0.1:3000;', `server ${new URL(service.url).host};`)
    .replace('server 127.0.0.1:9000;', `server 127.0.0.1:${backendPort};`) +
    `\nserver {\n    listen 127.0.0.1:${backendPort};\n    location / { return 200 "backend\\n"; }\n}\n`
  const prefix = mkdtempSync(join(tmpdir(), 'bench-gateway-'))
  const nginx = await runNginx(prefix, config, pinned ? SERVER_CORE : undefined)

  interface Scenario { name: string, expect: number, spec: Omit<LoadSpec, 'url' | 'connections' | 'pipelining'> }
  const baseline: Scenario = { name: 'nginx -> backend, no authentication', expect: 200, spec: { method: 'GET', path: '/status', headers: {} } }
  const scenarios: Scenario[] = [
    { name: 'through auth_request, one token', expect: 200, spec: { method: 'GET', path: '/orders/1', headers: { authorization: `Bearer ${oneToken}` } } },
    { name: 'through auth_request, 2000 distinct tokens', expect: 200, spec: { method: 'GET', path: '/orders/1', headers: {}, tokensFile } },
    { name: 'through auth_request, no token (401)', expect: 401, spec: { method: 'GET', path: '/orders/1', headers: {} } }
  ]
  type Measured = LoadResult & { cpuMicrosPerRequest: number, serviceCpuMicrosPerRequest: number }
  const measure = async (scenario: Scenario): Promise<Measured> => {
    const nginxBefore = treeCpuMicros(nginx.pid)
    const serviceBefore = cpuMicros(service.pid)
    const result = await load({ ...scenario.spec, url: nginx.url, connections, pipelining: 1, durationSeconds })
    const serviceUsed = cpuMicros(service.pid) - serviceBefore
    const used = treeCpuMicros(nginx.pid) - nginxBefore + serviceUsed
    const unexpected = unexpectedOf(result, scenario.expect)
    if (unexpected > 0) process.stdout.write(`  ${scenario.name}: ${unexpected} unexpected answers (${JSON.stringify(result.statusCodes)})\n`)
    return { ...result, cpuMicrosPerRequest: used / Math.max(result.total, 1), serviceCpuMicrosPerRequest: serviceUsed / Math.max(result.total, 1) }
  }

  for (const scenario of [baseline, ...scenarios]) await load({ ...scenario.spec, url: nginx.url, connections, pipelining: 1, durationSeconds: 1 })
  const samples = new Map<string, Array<{ scenario: Measured, baseline: Measured }>>(scenarios.map((s) => [s.name, []]))
  for (let round = 1; round <= rounds; round++) {
    for (const scenario of scenarios) {
      // alternate which goes first, so neither always gets the warmer machine
      const first = round % 2 === 1 ? scenario : baseline
      const second = first === scenario ? baseline : scenario
      const a = await measure(first)
      const b = await measure(second)
      const pair = first === scenario ? { scenario: a, baseline: b } : { scenario: b, baseline: a }
      samples.get(scenario.name)?.push(pair)
      process.stdout.write(`round ${round}/${rounds} ${scenario.name}: ${pair.scenario.requestsPerSecond.toFixed(0)} vs ${pair.baseline.requestsPerSecond.toFixed(0)} req/s\n`)
    }
  }

  const rows = scenarios.map((scenario) => {
    const list = samples.get(scenario.name) ?? []
    const ratios = list.map((s) => s.scenario.requestsPerSecond / s.baseline.requestsPerSecond)
    return {
      scenario: scenario.name,
      reqPerSec: median(list.map((s) => s.scenario.requestsPerSecond)),
      baselineReqPerSec: median(list.map((s) => s.baseline.requestsPerSecond)),
      ratioMedian: median(ratios),
      ratios: ratios.map((ratio) => Number(ratio.toFixed(3))),
      cpuMicrosPerRequest: median(list.map((s) => s.scenario.cpuMicrosPerRequest)),
      serviceCpuMicrosPerRequest: median(list.map((s) => s.scenario.serviceCpuMicrosPerRequest)),
      baselineCpuMicrosPerRequest: median(list.map((s) => s.baseline.cpuMicrosPerRequest)),
      p99Ms: median(list.map((s) => s.scenario.p99)),
      baselineP99Ms: median(list.map((s) => s.baseline.p99))
    }
  })
  process.stdout.write(`\n${'scenario'.padEnd(45)}req/s   no-auth req/s  ratio  rounds       CPU µs/req  of it service  no-auth CPU µs  p99 ms  no-auth p99 ms\n`)
  for (const row of rows) {
    process.stdout.write(`${row.scenario.padEnd(45)}${row.reqPerSec.toFixed(0).padEnd(8)}${row.baselineReqPerSec.toFixed(0).padEnd(15)}${row.ratioMedian.toFixed(2).padEnd(7)}` +
      `${`${Math.min(...row.ratios).toFixed(2)}-${Math.max(...row.ratios).toFixed(2)}`.padEnd(13)}${row.cpuMicrosPerRequest.toFixed(1).padEnd(12)}${row.serviceCpuMicrosPerRequest.toFixed(1).padEnd(15)}${row.baselineCpuMicrosPerRequest.toFixed(1).padEnd(16)}` +
      `${row.p99Ms.toFixed(1).padEnd(8)}${row.baselineP99Ms.toFixed(1)}\n`)
  }
  process.stdout.write(`\n${rounds} rounds of ${durationSeconds} s, ${connections} connections; nginx (one worker) and the service ${pinned ? 'pinned to core 0, load generator to core 1' : 'unpinned'}.\n` +
    'ratio: req/s through auth_request over nginx -> backend with no authentication, same round (median; "rounds" is the lowest and highest).\n' +
    'CPU µs/req: nginx (master and worker) plus the service, per answered request; "of it service": the service\'s part.\n')

  const resultsDir = join(root, 'bench/results')
  mkdirSync(resultsDir, { recursive: true })
  const file = join(resultsDir, `gateway-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds, durationSeconds, connections, pinned, rows }, null, 2))
  process.stdout.write(`results: ${file}\n`)

  await nginx.stop()
  service.child.kill('SIGTERM')
  await issuer.close()
  rmSync(prefix, { recursive: true, force: true })
  rmSync(tokensFile, { force: true })
}
