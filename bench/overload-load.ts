// The overload scenario's load (run as its own process, pinned by bench/run.ts): many clients, each
// sending its next request when the last is answered, with a new token each time; a client told 503
// waits its Retry-After first, as a well-behaved client (or a load balancer) does. JSON result on stdout.
import { Agent, request } from 'node:http'
import { readFileSync } from 'node:fs'

export interface OverloadSpec { url: string, path: string, tokensFile: string, clients: number, durationSeconds: number }
export interface OverloadResult {
  served: { count: number, perSecond: number, p50: number, p99: number, max: number }
  shed: number
  shedShare: number
  other: Record<string, number>
  errors: number
}

const spec = JSON.parse(process.argv[2] ?? '{}') as OverloadSpec
const tokens = readFileSync(spec.tokensFile, 'utf8').split('\n').filter((line) => line !== '')
const target = new URL(spec.path, spec.url)
const agent = new Agent({ keepAlive: true, maxSockets: spec.clients })
const servedMs: number[] = []
const other: Record<string, number> = {}
let shed = 0
let errors = 0
let next = 0
// The first second is a warm-up, not counted: every client connecting at once is a storm of its own.
const WARM_UP_MS = 1000
const counted = performance.now() + WARM_UP_MS
const end = counted + spec.durationSeconds * 1000

async function once (): Promise<{ status: number, retryAfter: number }> {
  return await new Promise((resolve, reject) => {
    const req = request(target, { agent, headers: { authorization: `Bearer ${tokens[next++ % tokens.length] as string}` } }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: Number(res.headers['retry-after'] ?? 1) }))
    })
    req.on('error', reject)
    req.end()
  })
}

async function client (): Promise<void> {
  while (performance.now() < end) {
    const started = performance.now()
    try {
      const { status, retryAfter } = await once()
      const count = started >= counted
      if (status === 200) {
        if (count) servedMs.push(performance.now() - started)
      } else if (status === 503) {
        if (count) shed++
        // Retry-After, with jitter, so that the shed do not all come back in the same instant
        await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 * (0.5 + Math.random())))
      } else if (count) other[status] = (other[status] ?? 0) + 1
    } catch {
      if (started >= counted) errors++
    }
  }
}

await Promise.all(Array.from({ length: spec.clients }, client))
agent.destroy()
servedMs.sort((a, b) => a - b)
const at = (p: number): number => servedMs[Math.min(servedMs.length - 1, Math.floor(servedMs.length * p))] ?? 0
const answered = servedMs.length + shed + Object.values(other).reduce((a, b) => a + b, 0)
const result: OverloadResult = {
  served: { count: servedMs.length, perSecond: servedMs.length / spec.durationSeconds, p50: at(0.5), p99: at(0.99), max: servedMs.at(-1) ?? 0 },
  shed,
  shedShare: shed / Math.max(answered, 1),
  other,
  errors
}
process.stdout.write(`${JSON.stringify(result)}\n`)
