// CLI: prints a development session token. Usage: npm run -s token -- --sub user_123 [--sid s] [--azp origin] [--ttl seconds]
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { configuredIssuer, developmentAzp, readSettings, type Settings } from '../settings.js'
import { devIssuerUrl, mintDevToken } from './dev-issuer.js'
import { loadOrCreateSigningKey } from './signing-key.js'

function fail (message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(1)
}

let config: Settings
try {
  config = readSettings()
} catch (err) {
  fail((err as Error).message)
}
if (configuredIssuer(config) !== undefined) {
  fail('CLERK_ISSUER_URL is set, so the development issuer is off: real tokens come from your frontend (await getToken()).')
}
if (config.DEV_ISSUER_PORT === 0) fail('DEV_ISSUER_PORT=0 picks a random port; set a fixed port to mint tokens from the command line.')

const { values } = parseArgs({
  options: {
    sub: { type: 'string', default: 'user_dev' },
    sid: { type: 'string' },
    azp: { type: 'string' },
    ttl: { type: 'string', default: '60' }
  }
})
const ttlSeconds = Number(values.ttl)
if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86400) fail('--ttl must be a whole number of seconds from 1 to 86400')
if (values.sub === '') fail('--sub must not be empty')

const key = loadOrCreateSigningKey(resolve(config.DEV_ISSUER_DIR))
process.stdout.write(`${mintDevToken(key, devIssuerUrl(config.DEV_ISSUER_PORT), { sub: values.sub, sid: values.sid, azp: values.azp ?? developmentAzp(config), ttlSeconds })}\n`)
