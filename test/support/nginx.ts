// A real nginx (Debian's package, see ensure-system-packages.sh) for the tests that need a load
// balancer or a gateway: the shipped configuration, run in a temporary prefix on 127.0.0.1.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { runNginx, type NginxProcess } from '../../bench/nginx.js'
import { tempDir } from '../../plugins/clerk-auth/test/support/temp-dir.js'

export type RunningNginx = Omit<NginxProcess, 'stop'>

/** Reads a shipped configuration file (an `http {}`-level file). */
export function shippedConfig (path: string): string {
  return readFileSync(join(import.meta.dirname, '../..', path), 'utf8')
}

/**
 * Runs nginx with httpConfig (what goes inside `http {}`, listening on the port `listen` names, which
 * is replaced by a free one); stopped when the test ends. Resolves once it answers.
 */
export async function startNginx (t: Test, httpConfig: string): Promise<RunningNginx> {
  const nginx = await runNginx(tempDir(t), httpConfig)
  t.teardown(nginx.stop)
  return nginx
}
