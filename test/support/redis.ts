// A real redis-server (Debian's package, see ensure-system-packages.sh) on a free loopback port, for
// the tests of replicas sharing a store. It keeps nothing on disk, is stopped when the test ends, and
// can be killed and started again on the same port (an outage), or frozen (a hung store).
import type { Test } from 'tap'
import { runRedis, type RedisProcess } from '../../bench/redis.js'
import { tempDir } from '../../plugins/clerk-auth/test/support/temp-dir.js'
import { freePort } from './loopback.js'

export interface RunningRedis {
  url: string
  /** Kills the server at once (SIGKILL: a crash, nothing saved) and waits until it has exited. */
  kill: () => Promise<void>
  /** Starts it again on the same port, empty; resolves once it accepts connections. */
  restart: () => Promise<void>
  /** Freezes it (SIGSTOP): connections stay open and nothing is answered, as with a hung store. */
  pause: () => void
  /** Lets it go on (SIGCONT). */
  resume: () => void
}

/** Starts redis-server for this test. */
export async function startRedis (t: Test): Promise<RunningRedis> {
  const dir = tempDir(t)
  let port = 0
  let server: RedisProcess | undefined
  // another process may take a port between freePort() and redis-server's bind: try another
  for (let attempt = 1; server === undefined; attempt++) {
    port = await freePort()
    try {
      server = await runRedis(port, dir)
    } catch (err) {
      if (attempt === 3) throw err
    }
  }
  let current = server
  const kill = async (): Promise<void> => {
    if (current.child.exitCode !== null || current.child.signalCode !== null) return
    current.child.kill('SIGKILL')
    await current.exited
  }
  t.teardown(kill)
  return {
    url: current.url,
    kill,
    restart: async () => { current = await runRedis(port, dir) },
    pause: () => { current.child.kill('SIGSTOP') },
    resume: () => { current.child.kill('SIGCONT') }
  }
}
