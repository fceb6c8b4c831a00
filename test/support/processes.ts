// The compiled server as a user runs it, in a process of its own, for the tests that need real
// processes, sockets and signals (server.test.ts, the rolling-restart drill).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { join } from 'node:path'

const SERVER = join(import.meta.dirname, '../../dist/src/server.js')
// loaded first, as npm start and the image do: tracing, when the OTEL_* variables ask for it
const TRACING = join(import.meta.dirname, '../../dist/src/tracing.js')

export interface Started { child: ChildProcessWithoutNullStreams, stdout: () => string, stderr: () => string, exited: Promise<number | null> }

/** Starts dist/src/server.js with these settings over the parent's (CLERK_ISSUER_URL only if given). */
export function startServer (env: Record<string, string>, cwd: string): Started {
  const { CLERK_ISSUER_URL: _ignored, ...parentEnv } = process.env
  // no metrics listener unless a test asks: parallel servers would compete for its port
  const child = spawn(process.execPath, ['--import', TRACING, SERVER], { env: { ...parentEnv, METRICS_PORT: '0', ...env }, cwd })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  // 'close', not 'exit': the process has ended and everything it wrote has been read
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return { child, stdout: () => out, stderr: () => err, exited }
}

/** Waits until the output shows a line matching pattern; fails after ms. */
export async function waitForLine (read: () => string, pattern: RegExp, ms = 10_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + ms
  for (;;) {
    const match = pattern.exec(read())
    if (match !== null) return match
    if (Date.now() > deadline) throw new Error(`no line matching ${String(pattern)} in:\n${read()}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** Asks until the answer has this status, as a probe does: the server gets there by itself. */
export async function waitForStatus (url: string, status: number): Promise<Response> {
  for (;;) {
    const res = await fetch(url).catch(() => undefined)
    if (res?.status === status) return res
    await res?.arrayBuffer()
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
