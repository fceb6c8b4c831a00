// One measurement, run as its own process (pinned to its own core by bench/run.ts):
// autocannon against one target, JSON result on stdout.
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'

export interface LoadSpec {
  url: string
  method: 'GET' | 'POST'
  path: string
  headers: Record<string, string>
  body?: string
  /** A file with one token per line: each request takes the next (the distinct-tokens scenario). */
  tokensFile?: string
  durationSeconds?: number
  amount?: number
  connections: number
  pipelining: number
}

export interface LoadResult {
  requestsPerSecond: number
  p50: number
  p99: number
  total: number
  statusCodes: Record<string, number>
  errors: number
  timeouts: number
}

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec
const tokens = spec.tokensFile === undefined ? [] : readFileSync(spec.tokensFile, 'utf8').split('\n').filter((line) => line !== '')
const request = { method: spec.method, path: spec.path, headers: spec.headers, body: spec.body }
const length = spec.amount === undefined ? { duration: spec.durationSeconds ?? 5 } : { amount: spec.amount }

type Result = Awaited<ReturnType<typeof autocannon>>
let results: Result[]
if (tokens.length === 0) {
  results = [await autocannon({ url: spec.url, connections: spec.connections, pipelining: spec.pipelining, ...length, requests: [request] as never })]
} else {
  // Rotating tokens: one single-connection run per connection, each with its own slice of prebuilt
  // requests. (Connections of one run would walk the same list in step, so they would present the
  // same token at the same moment; and building requests on the fly makes autocannon the bottleneck.)
  const perConnection = Math.ceil(tokens.length / spec.connections)
  const slice = (i: number): string[] => tokens.slice(i * perConnection, (i + 1) * perConnection)
  results = await Promise.all(Array.from({ length: spec.connections }, async (_, i) => await autocannon({
    url: spec.url,
    connections: 1,
    pipelining: spec.pipelining,
    ...(spec.amount === undefined ? length : { amount: Math.ceil(spec.amount / spec.connections) }),
    requests: slice(i).map((token) => ({ ...request, headers: { ...spec.headers, authorization: `Bearer ${token}` } })) as never
  })))
}

const statusCodes: Record<string, number> = {}
for (const result of results) {
  for (const [code, stats] of Object.entries((result as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {})) {
    statusCodes[code] = (statusCodes[code] ?? 0) + stats.count
  }
}
const total = results.reduce((sum, result) => sum + result.requests.total, 0)
const output: LoadResult = {
  requestsPerSecond: results.reduce((sum, result) => sum + result.requests.average, 0),
  // Percentiles of several runs cannot be merged exactly: the request-weighted mean of the p50s, the worst p99.
  p50: results.reduce((sum, result) => sum + result.latency.p50 * result.requests.total, 0) / Math.max(total, 1),
  p99: Math.max(...results.map((result) => result.latency.p99)),
  total,
  statusCodes,
  errors: results.reduce((sum, result) => sum + result.errors, 0),
  timeouts: results.reduce((sum, result) => sum + result.timeouts, 0)
}
process.stdout.write(`${JSON.stringify(output)}\n`)
