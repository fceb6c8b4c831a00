import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

/** A temporary folder removed when the test ends. */
export function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'clerk-auth-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
