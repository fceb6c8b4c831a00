// The built plugin lifted out of this project, as a new user would take it: dist/plugins/clerk-auth
// copied alone into an empty folder (only node_modules linked), imported by a plain Node script that
// registers it in Fastify() with { issuer } only. Nothing else of the service comes along.
import { execFile } from 'node:child_process'
import { cpSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { startIssuer, tempDir } from './helper.js'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..')

const script = `
import Fastify from 'fastify'
import clerkAuth from './clerk-auth/index.js'

const app = Fastify()
await app.register(clerkAuth, { issuer: process.env.ISSUER })
app.get('/hello', async (request) => ({ hello: request.auth.userId }))
const withToken = await app.inject({ url: '/hello', headers: { authorization: 'Bearer ' + process.env.TOKEN } })
const without = await app.inject({ url: '/hello' })
process.stdout.write(JSON.stringify({ ok: [withToken.statusCode, withToken.json()], refused: [without.statusCode, without.json().code] }))
await app.close()
`

t.test('the built plugin, copied alone into another folder, works with { issuer } only', async (t) => {
  const issuer = await startIssuer(t)
  const dir = tempDir(t)
  cpSync(join(root, 'dist/plugins/clerk-auth'), join(dir, 'clerk-auth'), { recursive: true })
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'))
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}')
  writeFileSync(join(dir, 'app.js'), script)

  const { stdout } = await run(process.execPath, ['app.js'], { cwd: dir, env: { PATH: process.env.PATH, ISSUER: issuer.url, TOKEN: issuer.sign() } })
  t.same(JSON.parse(stdout), { ok: [200, { hello: 'user_123' }], refused: [401, 'token_missing'] })
})
