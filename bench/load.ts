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
let next = 0
// Rotating tokens: every request, whatever its connection, takes the next token of one shared list,
// so that concurrent connections never present the same token together.
const requests = tokens.length === 0
  ? [request]
  : [{ ...request, setupRequest: (req: typeof request) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[next++ % tokens.length] as string}` } }) }]
const result: Result = await autocannon({ url: spec.url, connections: spec.connections, pipelining: spec.pipelining, ...length, requests: requests as never })

const statusCodes: Record<string, number> = {}
for (const [code, stats] of Object.entries((result as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {})) {
  statusCodes[code] = stats.count
}
const output: LoadResult = {
  requestsPerSecond: result.requests.average,
  p50: result.latency.p50,
  p99: result.latency.p99,
  total: result.requests.total,
  statusCodes,
  errors: result.errors,
  timeouts: result.timeouts
}
process.stdout.write(`${JSON.stringify(output)}\n`)
