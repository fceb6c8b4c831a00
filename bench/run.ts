// npm run bench: the compiled service against a local issuer, and a bare Fastify + Mercurius twin
// (the ceiling), measured in the same run, interleaved over rounds; ratios are taken per round.
// Options: --rounds N (5), --duration S (2), --connections N (50), --long (adds a 1M-request memory run),
//          --workers N (also measures the service with WORKERS=N, unpinned),
//          --recipe (adds the design card's recipe, @fastify/jwt + get-jwks, as a third target in every round),
//          --gateway (only the gateway bench instead: nginx -> backend through auth_request to the service, against no authentication; bench/gateway.ts),
//          --sockets N (2000; 0 leaves them out): GraphQL sockets held idle (memory per socket), then each subscribed to pings every 250 ms,
//          --replicas (only the replicas bench instead: how soon a webhook on one replica is enforced by another through redis-server; bench/replicas.ts),
//          --tracing (only the tracing bench instead: OpenTelemetry off, on sampling every request, and 1 in 100; bench/tracing.ts).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createTestIssuer, generateSigningKey, mintDevOpaqueToken, mintM2mToken, signJwt } from '../plugins/clerk-auth/testing/index.js'
import { freePort } from './free-port.js'
import { load, LOAD_CORE, measure, median, pinned, rssMiB, runLoadProcess, SERVER_CORE, startServer, unexpectedOf, type Server } from './harness.js'
import type { LoadResult, LoadSpec } from './load.js'
import type { OverloadResult, OverloadSpec } from './overload-load.js'
import type { SocketsResult, SocketsSpec } from './sockets-load.js'

const root = join(import.meta.dirname, '../..')
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    long: { type: 'boolean', default: false },
    recipe: { type: 'boolean', default: false },
    'overload-clients': { type: 'string', default: '2000' },
    workers: { type: 'string' },
    gateway: { type: 'boolean', default: false },
    sockets: { type: 'string', default: '2000' },
    replicas: { type: 'boolean', default: false },
    tracing: { type: 'boolean', default: false }
  }
})
const rounds = Number(args.rounds)
const durationSeconds = Number(args.duration)
const connections = Number(args.connections)
if (args.gateway) {
  const { runGatewayBench } = await import('./gateway.js')
  await runGatewayBench({ rounds, durationSeconds, connections })
  process.exit(0)
}
if (args.tracing) {
  const { runTracingBench } = await import('./tracing.js')
  await runTracingBench({ rounds, durationSeconds, connections })
  process.exit(0)
}
if (args.replicas) {
  const { runReplicasBench } = await import('./replicas.js')
  await runReplicasBench({ revocations: 200, rounds, durationSeconds, connections })
  process.exit(0)
}

// --- set-up: an issuer, tokens, the two servers
const key = generateSigningKey()
const issuer = await createTestIssuer({ key, authorizedParty: 'http://localhost:3000' })
const nowS = Math.floor(Date.now() / 1000)
// Valid for an hour; with expiresIn < 0, issued a minute before it expired.
const claimsFor = (sid: string, expiresIn = 3600): Record<string, unknown> => {
  const iat = expiresIn > 0 ? nowS : nowS + expiresIn - 60
  return { azp: 'http://localhost:3000', exp: nowS + expiresIn, iat, iss: issuer.url, nbf: iat - 5, sid, sub: 'user_bench', v: 2 }
}
const mint = (sid: string, expiresIn?: number): string => signJwt({ kid: key.publicJwk.kid }, claimsFor(sid, expiresIn), key.privateKey)
// More distinct tokens than the service's verification cache holds, so that every request is a first
// sight: the service runs here with a 1,000-entry cache (CLERK_VERIFICATION_CACHE_SIZE; default 10,000).
const DISTINCT_TOKENS = 2_000
const CACHE_SIZE = '1000'
process.stdout.write(`minting ${DISTINCT_TOKENS} tokens...\n`)
const oneToken = mint('sess_bench_one')
const tokensFile = join(tmpdir(), `bench-tokens-${process.pid}.txt`)
writeFileSync(tokensFile, Array.from({ length: DISTINCT_TOKENS }, (_, i) => mint(`sess_bench_${i}`)).join('\n'))
// Expired an hour ago, as an honest client's stale tokens: since the signature is checked before the
// claims, each costs one RSA check before its refusal is cached.
const expiredTokensFile = join(tmpdir(), `bench-expired-tokens-${process.pid}.txt`)
writeFileSync(expiredTokensFile, Array.from({ length: DISTINCT_TOKENS }, (_, i) => mint(`sess_bench_expired_${i}`, -3600)).join('\n'))
// A backend job's M2M JWT, on the machine route (the same cached path as a session token).
const m2mToken = mintM2mToken(key, issuer.url, { machineId: 'mch_bench' })
// An API key, verified once by the issuer's Backend API, then from the cache.
const apiKey = mintDevOpaqueToken(key.privateKey, { type: 'api_key', subject: 'user_bench', scopes: [], claims: null, expiration: null, revoked: false })
const otherKey = generateSigningKey()
const badToken = signJwt({ kid: key.publicJwk.kid }, claimsFor('sess_forged'), otherKey.privateKey)

// A frontend origin listed for CORS, as a real deployment has; the cross-origin scenario sends it.
const FRONTEND_ORIGIN = 'http://localhost:3000'
const serviceEnv = { CORS_ORIGINS: FRONTEND_ORIGIN, METRICS_PORT: '0', CLERK_ISSUER_URL: issuer.url, CLERK_SECRET_KEY: issuer.secretKey, CLERK_API_URL: issuer.url, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', NODE_ENV: 'production', CLERK_VERIFICATION_CACHE_SIZE: CACHE_SIZE }
// The service as shipped, metrics on; and the same with METRICS_PORT=0, to show what counting costs.
const service = await startServer('service', join(root, 'dist/src/server.js'), { ...serviceEnv, METRICS_PORT: String(await freePort()) }, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/, SERVER_CORE)
const metricsOff = await startServer('service, metrics off', join(root, 'dist/src/server.js'), serviceEnv, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/, SERVER_CORE)
const ceiling = await startServer('ceiling', join(import.meta.dirname, 'bare-server.js'), {}, /listening (http:\/\/127\.0\.0\.1:\d+)/, SERVER_CORE)
// The overload scenario: the service as shipped (no shedding) against the same shedding above 100 ms of event-loop delay.
const SHEDDING_MS = '100'
const shedding = await startServer('service, shedding on', join(root, 'dist/src/server.js'), { ...serviceEnv, OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: SHEDDING_MS }, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/, SERVER_CORE)
// For the distinct-token scenario: the ceiling plus one RSA-2048 verification per request.
const rsaLimit = await startServer('RSA limit', join(import.meta.dirname, 'bare-server.js'), { BARE_RSA_VERIFY: '1' }, /listening (http:\/\/127\.0\.0\.1:\d+)/, SERVER_CORE)
// --recipe: the design card's @fastify/jwt + get-jwks, against the same issuer.
const recipe = args.recipe
  ? await startServer('recipe', join(import.meta.dirname, 'recipe-server.js'), { RECIPE_ISSUER_URL: issuer.url }, /listening (http:\/\/127\.0\.0\.1:\d+)/, SERVER_CORE)
  : undefined

/** machine: the design card's recipe knows no machine tokens, so it sits those scenarios out. */
interface Scenario { name: string, expect: number, withRsaLimit?: boolean, machine?: boolean, spec: Omit<LoadSpec, 'url' | 'connections' | 'pipelining'> }
const gqlBody = JSON.stringify({ query: '{ pingOne(id: "12345") }' })
const distinctSpec: Scenario['spec'] = { method: 'GET', path: '/rest-endpoints/12345', headers: {}, tokensFile }
const scenarios: Scenario[] = [
  { name: 'REST, one token', expect: 200, spec: { method: 'GET', path: '/rest-endpoints/12345', headers: { authorization: `Bearer ${oneToken}` } } },
  { name: 'REST, one token, cross-origin', expect: 200, spec: { method: 'GET', path: '/rest-endpoints/12345', headers: { authorization: `Bearer ${oneToken}`, origin: FRONTEND_ORIGIN } } },
  { name: 'REST, one M2M JWT', expect: 200, machine: true, spec: { method: 'GET', path: '/machine-pings/12345', headers: { authorization: `Bearer ${m2mToken}` } } },
  { name: 'REST, one API key (cached)', expect: 200, machine: true, spec: { method: 'GET', path: '/machine-pings/12345', headers: { authorization: `Bearer ${apiKey}` } } },
  // Every request takes the next of 2,000 tokens (see load.ts): with a 1,000-entry cache, none is a hit.
  { name: `REST, ${DISTINCT_TOKENS} distinct tokens`, expect: 200, withRsaLimit: true, spec: distinctSpec },
  { name: `REST, ${DISTINCT_TOKENS} expired tokens (401)`, expect: 401, spec: { method: 'GET', path: '/rest-endpoints/12345', headers: {}, tokensFile: expiredTokensFile } },
  { name: 'REST, no token (401)', expect: 401, spec: { method: 'GET', path: '/rest-endpoints/12345', headers: {} } },
  { name: 'REST, bad signature (401)', expect: 401, spec: { method: 'GET', path: '/rest-endpoints/12345', headers: { authorization: `Bearer ${badToken}` } } },
  { name: 'GraphQL pingOne, one token', expect: 200, spec: { method: 'POST', path: '/graphql', headers: { authorization: `Bearer ${oneToken}`, 'content-type': 'application/json' }, body: gqlBody } }
]

type Measured = LoadResult & { cpuMicrosPerRequest: number }
interface Sample { service: Measured, ceiling: Measured, metricsOff: Measured, ratio: number, cpuRatio: number, unexpected: number, rsaLimit?: Measured, recipe?: Measured }
const samples = new Map<string, Sample[]>(scenarios.map((s) => [s.name, []]))
const peakRss = new Map<string, number>()

// A short warm-up of every path on both servers (JIT, caches, keys).
for (const scenario of scenarios) {
  for (const target of [service, ceiling, metricsOff, ...(scenario.withRsaLimit === true ? [rsaLimit] : []), ...(recipe === undefined || scenario.machine === true ? [] : [recipe])]) {
    await load({ ...scenario.spec, url: target.url, connections, pipelining: 1, durationSeconds: 1 })
  }
}

for (let round = 1; round <= rounds; round++) {
  for (const scenario of scenarios) {
    // alternate which target goes first, so neither always gets the warmer machine
    const order = round % 2 === 1 ? [service, ceiling, metricsOff] : [metricsOff, ceiling, service]
    if (scenario.withRsaLimit === true) order.splice(1, 0, rsaLimit)
    if (recipe !== undefined && scenario.machine !== true) order.splice(1, 0, recipe)
    const results = new Map<Server, Measured>()
    for (const target of order) {
      results.set(target, await measure(target, { ...scenario.spec, url: target.url, connections, pipelining: 1, durationSeconds }))
    }
    const serviceResult = results.get(service) as Measured
    const ceilingResult = results.get(ceiling) as Measured
    samples.get(scenario.name)?.push({
      service: serviceResult,
      ceiling: ceilingResult,
      metricsOff: results.get(metricsOff) as Measured,
      ratio: serviceResult.requestsPerSecond / ceilingResult.requestsPerSecond,
      cpuRatio: ceilingResult.cpuMicrosPerRequest / serviceResult.cpuMicrosPerRequest,
      unexpected: unexpectedOf(serviceResult, scenario.expect) + unexpectedOf(ceilingResult, 200) + unexpectedOf(results.get(metricsOff) as Measured, scenario.expect),
      rsaLimit: results.get(rsaLimit),
      recipe: recipe === undefined ? undefined : results.get(recipe)
    })
    peakRss.set(scenario.name, Math.max(peakRss.get(scenario.name) ?? 0, rssMiB(service.pid).rss))
    process.stdout.write(`round ${round}/${rounds} ${scenario.name}: ${serviceResult.requestsPerSecond.toFixed(0)} vs ${ceilingResult.requestsPerSecond.toFixed(0)} req/s, ` +
      `${serviceResult.cpuMicrosPerRequest.toFixed(1)} vs ${ceilingResult.cpuMicrosPerRequest.toFixed(1)} CPU µs/request` +
      `${results.has(rsaLimit) ? ` (RSA limit ${(results.get(rsaLimit) as Measured).requestsPerSecond.toFixed(0)} req/s)` : ''}` +
      `${recipe !== undefined && results.has(recipe) ? ` (recipe ${(results.get(recipe) as Measured).requestsPerSecond.toFixed(0)} req/s)` : ''}\n`)
  }
}

interface Row {
  scenario: string
  serviceReqPerSec: number
  ceilingReqPerSec: number
  ratioMedian: number
  ratios: number[]
  serviceCpuMicrosPerRequest: number
  ceilingCpuMicrosPerRequest: number
  cpuRatioMedian: number
  p50Ms: number
  p99Ms: number
  ceilingP99Ms: number
  unexpected: number
  serviceRssMiB: number
  /** The service with metrics off (METRICS_PORT=0), same rounds: its CPU µs per request, and the service's over it (1.00: counting is free). */
  metricsOff: { cpuMicrosPerRequest: number, cpuCostRatio: number, cpuCostRatios: number[] }
  /** Only for distinct tokens: the RSA limit's req/s over the ceiling's, and the service's over the RSA limit's (same round). */
  rsaLimit?: { ratioToCeiling: number, serviceRatio: number }
  /** Only with --recipe: the design card's recipe in the same rounds. */
  recipe?: { reqPerSec: number, ratioMedian: number, ratios: number[], cpuRatioMedian: number, p99Ms: number, unexpected: number }
}
const rows: Row[] = scenarios.map((scenario) => {
  const list = samples.get(scenario.name) as Sample[]
  const withLimit = list.flatMap((s) => s.rsaLimit === undefined ? [] : [{ sample: s, limit: s.rsaLimit }])
  const withRecipe = list.flatMap((s) => s.recipe === undefined ? [] : [{ sample: s, recipe: s.recipe }])
  const recipeRatios = withRecipe.map(({ sample, recipe }) => recipe.requestsPerSecond / sample.ceiling.requestsPerSecond)
  return {
    recipe: withRecipe.length === 0
      ? undefined
      : {
          reqPerSec: median(withRecipe.map(({ recipe }) => recipe.requestsPerSecond)),
          ratioMedian: median(recipeRatios),
          ratios: recipeRatios.map((ratio) => Number(ratio.toFixed(3))),
          cpuRatioMedian: median(withRecipe.map(({ sample, recipe }) => sample.ceiling.cpuMicrosPerRequest / recipe.cpuMicrosPerRequest)),
          p99Ms: median(withRecipe.map(({ recipe }) => recipe.p99)),
          unexpected: withRecipe.reduce((sum, { recipe }) => sum + unexpectedOf(recipe, scenario.expect), 0)
        },
    rsaLimit: withLimit.length === 0
      ? undefined
      : {
          ratioToCeiling: median(withLimit.map(({ sample, limit }) => limit.requestsPerSecond / sample.ceiling.requestsPerSecond)),
          serviceRatio: median(withLimit.map(({ sample, limit }) => sample.service.requestsPerSecond / limit.requestsPerSecond))
        },
    metricsOff: {
      cpuMicrosPerRequest: median(list.map((s) => s.metricsOff.cpuMicrosPerRequest)),
      cpuCostRatio: median(list.map((s) => s.service.cpuMicrosPerRequest / s.metricsOff.cpuMicrosPerRequest)),
      cpuCostRatios: list.map((s) => Number((s.service.cpuMicrosPerRequest / s.metricsOff.cpuMicrosPerRequest).toFixed(3)))
    },
    scenario: scenario.name,
    serviceReqPerSec: median(list.map((s) => s.service.requestsPerSecond)),
    ceilingReqPerSec: median(list.map((s) => s.ceiling.requestsPerSecond)),
    ratioMedian: median(list.map((s) => s.ratio)),
    ratios: list.map((s) => Number(s.ratio.toFixed(3))),
    serviceCpuMicrosPerRequest: median(list.map((s) => s.service.cpuMicrosPerRequest)),
    ceilingCpuMicrosPerRequest: median(list.map((s) => s.ceiling.cpuMicrosPerRequest)),
    cpuRatioMedian: median(list.map((s) => s.cpuRatio)),
    p50Ms: median(list.map((s) => s.service.p50)),
    p99Ms: median(list.map((s) => s.service.p99)),
    ceilingP99Ms: median(list.map((s) => s.ceiling.p99)),
    unexpected: list.reduce((sum, s) => sum + s.unexpected, 0),
    serviceRssMiB: peakRss.get(scenario.name) ?? 0
  }
})

// Overload: far more clients than one core answers promptly, each request a first sight of its token
// (an RSA check), clients honouring Retry-After; the service as shipped against the same with shedding on, alternating.
const overloadClients = Number(args['overload-clients'])
const overloadDuration = Math.max(durationSeconds, 5)
const overloadLoad = async (spec: OverloadSpec): Promise<OverloadResult> => await runLoadProcess<OverloadResult>('overload-load.js', spec)
const overloadRuns: Array<{ target: string, result: OverloadResult }> = []
const overloadTargets: Array<[string, Server]> = [['no shedding (as shipped)', service], [`shedding at ${SHEDDING_MS} ms`, shedding]]
for (let round = 1; round <= 2; round++) {
  for (const [name, target] of round === 1 ? overloadTargets : [...overloadTargets].reverse()) {
    const result = await overloadLoad({ url: target.url, path: '/rest-endpoints/12345', tokensFile, clients: overloadClients, durationSeconds: overloadDuration })
    overloadRuns.push({ target: name, result })
    process.stdout.write(`overload round ${round}/2 ${name}: served ${result.served.perSecond.toFixed(0)} req/s (p99 ${result.served.p99.toFixed(0)} ms), shed ${(result.shedShare * 100).toFixed(1)} %\n`)
  }
}
const overload = overloadTargets.map(([target]) => {
  const runs = overloadRuns.filter((run) => run.target === target).map((run) => run.result)
  return {
    target,
    servedPerSecond: median(runs.map((r) => r.served.perSecond)),
    servedP50Ms: median(runs.map((r) => r.served.p50)),
    servedP99Ms: median(runs.map((r) => r.served.p99)),
    servedMaxMs: Math.max(...runs.map((r) => r.served.max)),
    shedShare: median(runs.map((r) => r.shedShare)),
    errors: runs.reduce((sum, r) => sum + r.errors + Object.values(r.other).reduce((a, b) => a + b, 0), 0)
  }
})

// Optional: the same scenarios against WORKERS=N (not pinned: the workers share the machine with the load).
let workersReport: { workers: number, rows: Array<{ scenario: string, reqPerSec: number, vsSingle: number }> } | undefined
if (args.workers !== undefined) {
  const clustered = await startServer('service (workers)', join(root, 'dist/src/server.js'), { ...serviceEnv, WORKERS: args.workers }, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/, undefined)
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const single = await startServer('service (unpinned)', join(root, 'dist/src/server.js'), serviceEnv, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/, undefined)
  const workerRows = []
  for (const scenario of scenarios) {
    await load({ ...scenario.spec, url: clustered.url, connections, pipelining: 1, durationSeconds: 1 })
    await load({ ...scenario.spec, url: single.url, connections, pipelining: 1, durationSeconds: 1 })
    const many = await load({ ...scenario.spec, url: clustered.url, connections, pipelining: 1, durationSeconds })
    const one = await load({ ...scenario.spec, url: single.url, connections, pipelining: 1, durationSeconds })
    workerRows.push({ scenario: scenario.name, reqPerSec: many.requestsPerSecond, vsSingle: many.requestsPerSecond / one.requestsPerSecond })
  }
  clustered.child.kill('SIGTERM')
  single.child.kill('SIGTERM')
  workersReport = { workers: Number(args.workers), rows: workerRows }
}

// GraphQL sockets: signed in and idle (the service's memory per socket), then each subscribed to pings.
const SOCKET_PINGS_EVERY_MS = 250
let sockets: SocketsResult | undefined
if (Number(args.sockets) > 0) {
  const spec: SocketsSpec = { url: `${service.url.replace(/^http/, 'ws')}/graphql`, pid: service.pid, token: oneToken, sockets: Number(args.sockets), everyMs: SOCKET_PINGS_EVERY_MS, durationSeconds: Math.max(durationSeconds, 5) }
  sockets = await runLoadProcess<SocketsResult>('sockets-load.js', spec)
  process.stdout.write(`sockets: ${sockets.acknowledged}/${sockets.sockets} signed in, ${sockets.messagesPerSecond.toFixed(0)} messages/s\n`)
}

// Optional: a million requests with distinct tokens, RSS sampled after warm-up and at the end.
let memory: { requests: number, rssAfterWarmupMiB: number, rssAfterMiB: number, growthMiB: number, maxDuringMiB: number } | undefined
if (args.long) {
  await load({ ...distinctSpec, url: service.url, connections, pipelining: 1, amount: 100_000 })
  const warm = rssMiB(service.pid).rss
  let max = warm
  const sampler = setInterval(() => { max = Math.max(max, rssMiB(service.pid).rss) }, 500)
  const result = await load({ ...distinctSpec, url: service.url, connections, pipelining: 1, amount: 1_000_000 })
  clearInterval(sampler)
  const after = rssMiB(service.pid).rss
  memory = { requests: result.total, rssAfterWarmupMiB: warm, rssAfterMiB: after, growthMiB: after - warm, maxDuringMiB: max }
}

// --recipe: JWKS fetches caused by 100 tokens that each name a different unknown kid, sent one after another.
let unknownKidFetches: Array<{ target: string, fetches: number, statuses: Record<string, number> }> | undefined
if (recipe !== undefined) {
  unknownKidFetches = []
  for (const [name, target] of [['service', service], ['recipe', recipe]] as const) {
    const before = issuer.jwksRequests()
    const statuses: Record<string, number> = {}
    for (let i = 0; i < 100; i++) {
      const token = signJwt({ kid: `ins_unknown_${name}_${i}` }, claimsFor('sess_bench_one'), key.privateKey)
      const res = await fetch(`${target.url}/rest-endpoints/1`, { headers: { authorization: `Bearer ${token}` } })
      await res.arrayBuffer()
      statuses[res.status] = (statuses[res.status] ?? 0) + 1
    }
    unknownKidFetches.push({ target: name, fetches: issuer.jwksRequests() - before, statuses })
  }
}

service.child.kill('SIGTERM')
metricsOff.child.kill('SIGTERM')
shedding.child.kill('SIGTERM')
ceiling.child.kill('SIGTERM')
rsaLimit.child.kill('SIGTERM')
recipe?.child.kill('SIGTERM')
await issuer.close()
rmSync(tokensFile, { force: true })
rmSync(expiredTokensFile, { force: true })

// --- report
const pad = (text: string, width: number): string => text.padEnd(width)
const num = (value: number, digits = 0): string => value.toFixed(digits)
const header = ['scenario', 'req/s', 'ceiling req/s', 'ratio', 'rounds', 'CPU µs/req', 'ceiling CPU µs', 'CPU ratio', 'p50 ms', 'p99 ms', 'unexpected', 'RSS MiB']
const widths = [30, 7, 13, 6, 10, 11, 15, 10, 7, 7, 11, 7]
const lines = [
  header.map((h, i) => pad(h, widths[i] as number)).join(' '),
  ...rows.map((row) => [
    row.scenario, num(row.serviceReqPerSec), num(row.ceilingReqPerSec), num(row.ratioMedian, 2),
    `${num(Math.min(...row.ratios), 2)}-${num(Math.max(...row.ratios), 2)}`,
    num(row.serviceCpuMicrosPerRequest, 1), num(row.ceilingCpuMicrosPerRequest, 1), num(row.cpuRatioMedian, 2),
    num(row.p50Ms, 1), num(row.p99Ms, 1), String(row.unexpected), num(row.serviceRssMiB, 0)
  ].map((cell, i) => pad(cell, widths[i] as number)).join(' '))
]
process.stdout.write(`\n${lines.join('\n')}\n`)
process.stdout.write(`\n${rounds} rounds of ${durationSeconds} s, ${connections} connections; server ${pinned ? `pinned to core ${SERVER_CORE}, load generator to core ${LOAD_CORE}` : 'and load generator unpinned (no taskset)'}.\n`)
process.stdout.write('ratio: req/s against the ceiling in the same round (median; "rounds" is the lowest and highest round); CPU ratio: the ceiling\'s CPU time per request over the service\'s (both medians over rounds; 1.00 = as fast as no authentication).\n')
process.stdout.write('\nMetrics on (as shipped) vs off (METRICS_PORT=0), same rounds: CPU µs per request and on/off (median; 1.00 = counting is free):\n')
for (const row of rows) {
  process.stdout.write(`  ${pad(row.scenario, 32)} ${num(row.serviceCpuMicrosPerRequest, 1)} vs ${num(row.metricsOff.cpuMicrosPerRequest, 1)} µs, ` +
    `x${num(row.metricsOff.cpuCostRatio, 3)} (rounds ${num(Math.min(...row.metricsOff.cpuCostRatios), 3)}-${num(Math.max(...row.metricsOff.cpuCostRatios), 3)})\n`)
}
if (sockets !== undefined) {
  process.stdout.write(`\nSockets: ${sockets.acknowledged} of ${sockets.sockets} GraphQL sockets signed in (graphql-transport-ws, one session token), then each subscribed to pings every ${SOCKET_PINGS_EVERY_MS} ms:\n`)
  process.stdout.write(`  memory per idle authenticated socket: ${sockets.kibPerIdleSocket.toFixed(1)} KiB (service RSS ${sockets.rssBeforeMiB.toFixed(0)} -> ${sockets.rssIdleMiB.toFixed(0)} MiB)\n`)
  process.stdout.write(`  messages: ${sockets.messagesPerSecond.toFixed(0)} per second of ${sockets.expectedPerSecond.toFixed(0)} due, ${sockets.cpuMicrosPerMessage.toFixed(1)} CPU µs per message; closed early: ${sockets.closedEarly}\n`)
}
process.stdout.write(`\nOverload: ${overloadClients} clients honouring Retry-After, each request a new token (RSA), ${overloadDuration} s after a 1 s warm-up, 2 rounds (medians; max over rounds):\n`)
for (const row of overload) {
  process.stdout.write(`  ${pad(row.target, 26)} served ${num(row.servedPerSecond)} req/s, p50 ${num(row.servedP50Ms)} ms, p99 ${num(row.servedP99Ms)} ms, max ${num(row.servedMaxMs)} ms; ` +
    `shed ${num(row.shedShare * 100, 1)} %; errors or other statuses ${row.errors}\n`)
}
for (const row of rows) {
  if (row.rsaLimit === undefined) continue
  process.stdout.write(`RSA limit (the ceiling plus one RSA-2048 verification per request): ${num(row.rsaLimit.ratioToCeiling, 2)} of the ceiling; ` +
    `"${row.scenario}" reaches ${num(row.rsaLimit.serviceRatio, 2)} of it.\n`)
}
if (rows.some((row) => row.recipe !== undefined)) {
  process.stdout.write('\nThe design card\'s recipe (@fastify/jwt secret callback + get-jwks, RS256, allowedIss, cache: true), same rounds:\n')
  process.stdout.write(`${['scenario', 'recipe req/s', 'recipe ratio', 'rounds', 'CPU ratio', 'p99 ms', 'unexpected', 'service ratio'].map((h, i) => pad(h, [30, 13, 13, 10, 10, 7, 11, 13][i] as number)).join(' ')}\n`)
  for (const row of rows) {
    if (row.recipe === undefined) continue
    process.stdout.write(`${[row.scenario, num(row.recipe.reqPerSec), num(row.recipe.ratioMedian, 2),
      `${num(Math.min(...row.recipe.ratios), 2)}-${num(Math.max(...row.recipe.ratios), 2)}`, num(row.recipe.cpuRatioMedian, 2),
      num(row.recipe.p99Ms, 1), String(row.recipe.unexpected), num(row.ratioMedian, 2)].map((cell, i) => pad(cell, [30, 13, 13, 10, 10, 7, 11, 13][i] as number)).join(' ')}\n`)
  }
}
for (const entry of unknownKidFetches ?? []) {
  process.stdout.write(`100 tokens with distinct unknown kids: ${entry.target} made ${entry.fetches} JWKS fetches (statuses ${JSON.stringify(entry.statuses)}).\n`)
}
if (workersReport !== undefined) {
  process.stdout.write(`\nWORKERS=${workersReport.workers} (unpinned) vs one process (unpinned):\n`)
  for (const row of workersReport.rows) process.stdout.write(`  ${pad(row.scenario, 32)} ${num(row.reqPerSec)} req/s, x${num(row.vsSingle, 2)}\n`)
}
if (memory !== undefined) {
  process.stdout.write(`\nMemory: ${memory.requests} requests with distinct tokens; RSS ${num(memory.rssAfterWarmupMiB)} MiB after warm-up, ${num(memory.rssAfterMiB)} MiB after (growth ${num(memory.growthMiB, 1)} MiB, max ${num(memory.maxDuringMiB)} MiB).\n`)
}
const resultsDir = join(root, 'bench/results')
mkdirSync(resultsDir, { recursive: true })
const file = join(resultsDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds, durationSeconds, connections, pinned, rows, overload: { clients: overloadClients, durationSeconds: overloadDuration, results: overload }, workers: workersReport, memory, sockets, unknownKidFetches }, null, 2))
process.stdout.write(`\nresults: ${file}\n`)
