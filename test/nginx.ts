// A real nginx (Debian's package, see ensure-system-packages.sh) for the tests that need a load
// balancer or a gateway: the shipped configuration, run in a temporary prefix on 127.0.0.1.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { freePort, tempDir } from './helper.js'

const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx'

export interface RunningNginx {
  url: string
  pid: number
  /** Everything nginx wrote to its error log so far. */
  errors: () => string
}

/** Reads a shipped configuration file (an `http {}`-level file). */
export function shippedConfig (path: string): string {
  return readFileSync(join(import.meta.dirname, '..', path), 'utf8')
}

/**
 * Runs nginx with httpConfig (what goes inside `http {}`, listening on the port `listen` names, which
 * is replaced by a free one); stopped when the test ends. Resolves once it answers.
 */
export async function startNginx (t: Test, httpConfig: string): Promise<RunningNginx> {
  const prefix = tempDir(t)
  mkdirSync(join(prefix, 'logs'))
  const port = await freePort()
  const config = httpConfig.replace(/listen\s+\d+;/g, `listen 127.0.0.1:${port};`)
  writeFileSync(join(prefix, 'nginx.conf'), `
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
${config}
}
`)
  const child = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode !== null) return
    child.kill('SIGQUIT')
    await exited
  })
  const url = `http://127.0.0.1:${port}`
  // nginx says nothing once it listens: it is up when a connection to its port is answered
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`)
    try {
      await (await fetch(`${url}/health`)).arrayBuffer()
      break
    } catch {}
    if (Date.now() > deadline) throw new Error(`nginx did not start: ${stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  const errorLog = join(prefix, 'logs/error.log')
  return { url, pid: child.pid as number, errors: () => `${stderr}${existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : ''}` }
}
