// Installs a packed tarball into an empty project the way a user's `npm install` would, without the
// network: the project's lockfile names the tarball and, for everything else, the versions this
// repository's own lockfile resolved (so npm finds them in its cache by their integrity). Only what
// the tarball's package.json declares is installed, with what those packages need in turn.
import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = join(import.meta.dirname, '../../../..')

interface LockEntry {
  version?: string
  resolved?: string
  integrity?: string
  link?: boolean
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
  [field: string]: unknown
}

interface Manifest { name: string, version: string, dependencies?: Record<string, string>, peerDependencies?: Record<string, string> }

/** Packs a workspace of this repository into dir; returns the tarball's path and its manifest. */
export async function pack (workspace: string, dir: string): Promise<{ tarball: string, manifest: Manifest, integrity: string }> {
  const { stdout } = await run('npm', ['pack', '-w', workspace, '--pack-destination', dir, '--json', '--silent'], { cwd: root })
  const [packed] = JSON.parse(stdout) as Array<{ filename: string, integrity: string }>
  if (packed === undefined) throw new Error('npm pack packed nothing')
  const manifest = JSON.parse(readFileSync(join(root, workspace, 'package.json'), 'utf8')) as Manifest
  return { tarball: join(dir, packed.filename), manifest, integrity: packed.integrity }
}

/** Where Node would find `name` from the package installed at `from` (a lockfile path). */
function resolveIn (packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let base = from
  for (;;) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`
    if (packages[candidate] !== undefined && packages[candidate].link !== true) return candidate
    if (base === '') return undefined
    const cut = base.lastIndexOf('/node_modules/')
    base = cut === -1 ? '' : base.slice(0, cut)
  }
}

/**
 * Writes package.json and package-lock.json into dir for a project that depends on the tarball and on
 * `alongside` (names this repository also installs, such as fastify), then runs `npm ci --offline`.
 */
export async function installOffline (dir: string, packed: { tarball: string, manifest: Manifest, integrity: string }, alongside: string[]): Promise<void> {
  const rootLock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const source = rootLock.packages
  const packages: Record<string, LockEntry> = {}
  const tarballRef = `file:${basename(packed.tarball)}`
  const { manifest } = packed

  // what the tarball's package declares, and what each of those needs, as this repository resolved it
  const queue: Array<[from: string, name: string]> = []
  for (const name of [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {}), ...alongside]) queue.push(['', name])
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const [from, name] = next
    const path = resolveIn(source, from, name)
    if (path === undefined) throw new Error(`${name} (needed by ${from === '' ? 'the project' : from}) is not in this repository's lockfile`)
    if (packages[path] !== undefined) continue
    const { dev, devOptional, peer, optional, ...entry } = source[path] as LockEntry
    packages[path] = entry
    const optionalPeers = new Set(Object.entries(entry.peerDependenciesMeta ?? {}).filter(([, meta]) => meta.optional === true).map(([peerName]) => peerName))
    for (const dependency of [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.peerDependencies ?? {}).filter((p) => !optionalPeers.has(p))]) {
      queue.push([path, dependency])
    }
  }

  const versions = Object.fromEntries(alongside.map((name) => [name, (packages[`node_modules/${name}`] as LockEntry).version as string]))
  const dependencies = { [manifest.name]: tarballRef, ...versions }
  packages[`node_modules/${manifest.name}`] = {
    version: manifest.version,
    resolved: tarballRef,
    integrity: packed.integrity,
    ...(manifest.dependencies === undefined ? {} : { dependencies: manifest.dependencies }),
    ...(manifest.peerDependencies === undefined ? {} : { peerDependencies: manifest.peerDependencies })
  }
  // this repository's overrides for what is installed here (versions that declare Node 20), as the
  // package README tells Node 20 users to write them
  const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { overrides?: Record<string, unknown> }
  const overrides = Object.fromEntries(Object.entries(rootManifest.overrides ?? {}).filter(([name]) => packages[`node_modules/${name}`] !== undefined))
  const project = { name: 'consumer', version: '1.0.0', private: true, dependencies, ...(Object.keys(overrides).length === 0 ? {} : { overrides }) }
  writeFileSync(join(dir, 'package.json'), JSON.stringify(project, null, 2))
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: project.name, version: project.version, lockfileVersion: 3, requires: true, packages: { '': project, ...packages } }, null, 2))
  const { stderr } = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=warn'], { cwd: dir })
  // every version installed declares the Node this repository promises
  if (stderr.includes('EBADENGINE')) throw new Error(`npm warns that a package wants another Node:\n${stderr}`)
}
