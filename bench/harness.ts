// What every bench shares: pinning to cores, starting servers, CPU and memory readings, load processes.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LoadResult, LoadSpec } from './load.js'

function hasTaskset (): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true'])
    return true
  } catch {
    return false
  }
}
export const pinned = hasTaskset()
export const SERVER_CORE = '0'
export const LOAD_CORE = '1'

export function command (core: string | undefined, script: string, extra: string[] = []): [string, string[]] {
  const node = [process.execPath, script, ...extra]
  return pinned && core !== undefined ? ['taskset', ['-c', core, ...node]] : [node[0] as string, node.slice(1)]
}

export interface Server { url: string, pid: number, child: ChildProcess }

export async function startServer (name: string, script: string, env: Record<string, string>, pattern: RegExp, core: string | undefined): Promise<Server> {
  const [file, argv] = command(core, script)
  const child = spawn(file, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 15_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const match = pattern.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match[1] as string)
      }
    })
    child.on('exit', (code) => reject(new Error(`${name} exited with ${String(code)}:\n${output}`)))
  })
  child.stdout?.resume()
  return { url, pid: child.pid as number, child }
}

/** A process and its children (cluster workers, nginx's worker). */
export function withChildren (pid: number): number[] {
  try {
    return [pid, ...readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)]
  } catch {
    return [pid]
  }
}

/** Resident memory of a process and its children, in MiB. */
export function rssMiB (pid: number): { rss: number, peak: number } {
  let rss = 0
  let peak = 0
  for (const p of withChildren(pid)) {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8')
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
      peak += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
    } catch {}
  }
  return { rss, peak }
}

/** CPU time used so far by a process (user + system), in microseconds. */
export function cpuMicros (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 per second here)
  return (Number(fields[11]) + Number(fields[12])) * 10_000
}

/** A measurement, with the server's CPU time per answered request: steadier than req/s on a noisy machine. */
export async function measure (target: Server, spec: LoadSpec): Promise<LoadResult & { cpuMicrosPerRequest: number }> {
  const before = cpuMicros(target.pid)
  const result = await load(spec)
  return { ...result, cpuMicrosPerRequest: (cpuMicros(target.pid) - before) / Math.max(result.total, 1) }
}

/** Runs a load generator (load.js, overload-load.js) in its own process on the load core: its last line is the JSON result. */
export async function runLoadProcess<Result> (script: string, spec: unknown): Promise<Result> {
  const [file, argv] = command(LOAD_CORE, join(import.meta.dirname, script), [JSON.stringify(spec)])
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  await new Promise((resolve) => child.on('exit', resolve))
  return JSON.parse(output.trim().split('\n').pop() as string) as Result
}

export const load = async (spec: LoadSpec): Promise<LoadResult> => await runLoadProcess<LoadResult>('load.js', spec)

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Answers other than the expected status, errors and timeouts. */
export function unexpectedOf (result: LoadResult, expect: number): number {
  const statuses = Object.entries(result.statusCodes).reduce((sum, [code, count]) => sum + (Number(code) === expect ? 0 : count), 0)
  return statuses + result.errors + result.timeouts
}

/** A load to compare servers on, and the status every answer should have. */
export interface Scenario { scenario: string, status: number, spec: Omit<LoadSpec, 'url' | 'connections' | 'pipelining'> }

/** One server over the base in one round of one scenario. */
export interface RatioRow { scenario: string, target: string, reqRatio: number, cpuRatio: number, unexpected: number }

/**
 * Each scenario on the base server and on each target in the same rounds, the base first in odd rounds
 * and last in even ones: req/s and CPU µs per request of each target over the base's, per round.
 */
export async function compareInRounds ({ base, targets, scenarios, rounds, durationSeconds, connections }: {
  base: Server, targets: Array<{ name: string, server: Server }>, scenarios: Scenario[], rounds: number, durationSeconds: number, connections: number
}): Promise<RatioRow[]> {
  const rows: RatioRow[] = []
  const servers = [base, ...targets.map(({ server }) => server)]
  for (let round = 1; round <= rounds; round++) {
    for (const { scenario, status, spec } of scenarios) {
      const results = new Map<Server, Awaited<ReturnType<typeof measure>>>()
      for (const server of round % 2 === 1 ? servers : [...servers].reverse()) {
        results.set(server, await measure(server, { ...spec, url: server.url, connections, pipelining: 1, durationSeconds }))
      }
      const baseResult = results.get(base) as Awaited<ReturnType<typeof measure>>
      for (const { name, server } of targets) {
        const targetResult = results.get(server) as Awaited<ReturnType<typeof measure>>
        rows.push({ scenario, target: name, reqRatio: targetResult.requestsPerSecond / baseResult.requestsPerSecond, cpuRatio: targetResult.cpuMicrosPerRequest / baseResult.cpuMicrosPerRequest, unexpected: unexpectedOf(targetResult, status) + unexpectedOf(baseResult, status) })
        for (const [label, result] of [[name, targetResult], ['base', baseResult]] as const) {
          if (unexpectedOf(result, status) > 0) process.stdout.write(`  unexpected (${scenario}, ${label}): ${JSON.stringify({ statusCodes: result.statusCodes, errors: result.errors, timeouts: result.timeouts })}\n`)
        }
      }
    }
  }
  return rows
}

/** compareInRounds' rows, one line per scenario and target: the medians and every round's ratio. */
export function printRatios (rows: RatioRow[]): void {
  const list = (values: number[]): string => `${median(values).toFixed(2)} [${values.map((value) => value.toFixed(2)).join(', ')}]`
  for (const scenario of new Set(rows.map((row) => row.scenario))) {
    for (const target of new Set(rows.map((row) => row.target))) {
      const own = rows.filter((row) => row.scenario === scenario && row.target === target)
      process.stdout.write(`  ${scenario}, ${target}: req/s ratio ${list(own.map((row) => row.reqRatio))}, CPU µs/request ratio ${list(own.map((row) => row.cpuRatio))}, unexpected answers ${own.reduce((sum, row) => sum + row.unexpected, 0)}\n`)
    }
  }
}
