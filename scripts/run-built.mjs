// Runs a compiled entry of dist/, building first only when a source changed since the last build, so
// that a command run often (npm run token) answers at once: node scripts/run-built.mjs <entry> [args].
import { execFileSync } from 'node:child_process'
import { readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const root = join(import.meta.dirname, '..')
const stamp = join(root, 'dist', '.built')
const SOURCES = ['src', 'plugins', 'routes', 'bench', 'examples', 'package.json', 'tsconfig.json', 'tsconfig.build.json']

function newestChange (path) {
  const stats = statSync(path, { throwIfNoEntry: false })
  if (stats === undefined) return 0
  if (!stats.isDirectory()) return stats.mtimeMs
  let newest = stats.mtimeMs
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules' || entry === 'dist') continue
    newest = Math.max(newest, newestChange(join(path, entry)))
  }
  return newest
}

const built = statSync(stamp, { throwIfNoEntry: false })?.mtimeMs ?? 0
if (SOURCES.some((source) => newestChange(join(root, source)) > built)) {
  execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' })
  writeFileSync(stamp, '')
}

const [entry, ...args] = process.argv.slice(2)
if (entry === undefined) throw new Error('usage: node scripts/run-built.mjs <entry in dist/> [args]')
process.argv = [process.argv[0], join(root, entry), ...args]
await import(pathToFileURL(join(root, entry)).href)
