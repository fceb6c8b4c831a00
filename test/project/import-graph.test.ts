// The modules' imports, type-only ones included (lint's no-cycle sees runtime imports only): no
// module imports itself through others, so each can be read after the ones it imports.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'

const root = join(import.meta.dirname, '../..')

function sources (dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true }).map(String)
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts') && !file.split('/').includes('dist') && !file.split('/').includes('node_modules'))
    .map((file) => join(root, dir, file))
}

/** Every relative import and re-export of a file, as absolute .ts paths. */
function importsOf (file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/^(?:import|export)\b[^'"]*?\bfrom\s+'(\.{1,2}\/[^']+)'/gm)]
    .map(([, specifier]) => resolve(dirname(file), (specifier as string).replace(/\.js$/, '.ts')))
}

t.test('no import cycles in the service, its plugins and its routes, type imports included', async (t) => {
  const files = ['src', 'plugins', 'routes'].flatMap(sources)
  const graph = new Map(files.map((file) => [file, importsOf(file)]))
  t.ok(graph.size > 40, `${graph.size} modules`)
  const cycles: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (file: string): void => {
    state.set(file, 'open')
    path.push(file)
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next].map((f) => relative(root, f)).join(' → '))
      else if (state.get(next) === undefined && graph.has(next)) visit(next)
    }
    path.pop()
    state.set(file, 'done')
  }
  for (const file of graph.keys()) if (state.get(file) === undefined) visit(file)
  t.same(cycles, [])
})
