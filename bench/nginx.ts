// A real nginx (Debian's package) in a temporary prefix on 127.0.0.1, for the gateway bench and the
// tests (test/nginx.ts): the shipped configuration with its `listen` ports replaced by a free one.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from './free-port.js'

const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx'

export interface NginxProcess {
  url: string
  /** The master's PID; its worker is its only child. */
  pid: number
  /** Everything nginx wrote to its error log so far. */
  errors: () => string
  /** Stops nginx (SIGQUIT: finish what is in flight) and waits for it to exit. */
  stop: () => Promise<void>
}

/**
 * Runs nginx in prefix (an empty folder) with httpConfig, what goes inside `http {}`: its `listen N;`
 * becomes a free port on 127.0.0.1. Resolves once nginx answers. With core, nginx is pinned to it.
 */
export async function runNginx (prefix: string, httpConfig: string, core?: string): Promise<NginxProcess> {
  mkdirSync(join(prefix, 'logs'), { recursive: true })
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
  const argv = ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;']
  const child: ChildProcess = core === undefined
    ? spawn(NGINX, argv, { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn('taskset', ['-c', core, NGINX, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  const url = `http://127.0.0.1:${port}`
  // nginx says nothing once it listens: it is up when a connection to its port is answered
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`)
    try {
      await (await fetch(`${url}/health`)).arrayBuffer()
      break
    } catch {}
    if (Date.now() > deadline) {
      child.kill('SIGQUIT')
      throw new Error(`nginx did not start: ${stderr}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  const errorLog = join(prefix, 'logs/error.log')
  return {
    url,
    pid: child.pid as number,
    errors: () => `${stderr}${existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : ''}`,
    stop: async () => {
      if (child.exitCode !== null) return
      child.kill('SIGQUIT')
      await exited
    }
  }
}
