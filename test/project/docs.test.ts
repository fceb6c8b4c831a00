// The README is a front page that links every page of docs/, and the pages hold to the code: every
// relative link resolves, and the settings table lists every setting with its default.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import t from 'tap'
import { settingsSchema } from '../../src/settings.js'

const root = join(import.meta.dirname, '../..')
const read = (path: string): string => readFileSync(join(root, path), 'utf8')
const pages = readdirSync(join(root, 'docs')).filter((file) => file.endsWith('.md')).map((file) => `docs/${file}`)

t.test('the README is a front page of at most 200 lines that links every docs/ page', async (t) => {
  const readme = read('README.md')
  t.ok(readme.split('\n').length <= 200, `${readme.split('\n').length} lines`)
  t.ok(pages.length >= 8, `${pages.length} pages`)
  for (const page of pages) t.ok(readme.includes(`](${page})`), `${page} is linked`)
})

t.test('every relative link of the README and of docs/ names a file that exists', async (t) => {
  for (const file of ['README.md', ...pages, 'plugins/clerk-auth/README.md']) {
    for (const [, target] of read(file).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target as string)) continue
      t.ok(existsSync(resolve(dirname(join(root, file)), target as string)), `${file} → ${target as string}`)
    }
  }
})

t.test('docs/settings.md lists every setting, with the default the service applies', async (t) => {
  const rows = new Map([...read('docs/settings.md').matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)].map(([, name, fallback]) => [name as string, (fallback as string).trim()]))
  const properties = settingsSchema.properties as Record<string, { default?: unknown }>
  t.same([...rows.keys()].sort(), Object.keys(properties).sort(), 'exactly the settings')
  for (const [name, property] of Object.entries(properties)) {
    if (property.default === undefined || property.default === '') continue
    t.ok(rows.get(name)?.startsWith(`\`${String(property.default)}\``), `${name}: default ${String(property.default)}`)
  }
})
