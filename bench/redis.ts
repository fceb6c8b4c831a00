// A real redis-server (Debian's package) on 127.0.0.1, for the replicas bench and the tests
// (test/support/redis.ts): nothing kept on disk, stopped by its caller.
import { spawn, type ChildProcess } from 'node:child_process'

export interface RedisProcess {
  child: ChildProcess
  url: string
  /** Resolves once the process has exited. */
  exited: Promise<unknown>
}

/** Starts redis-server on this port, files in dir; resolves once it accepts connections. */
export async function runRedis (port: number, dir: string): Promise<RedisProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  let output = ''
  // it says so once it listens
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('Ready to accept connections')) resolve()
    })
    exited.then(() => { reject(new Error(`redis-server exited: ${output}`)) }, reject)
  })
  return { child, url: `redis://127.0.0.1:${port}`, exited }
}
