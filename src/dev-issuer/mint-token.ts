// CLI: prints a development token. Usage:
//   npm run -s token -- [--sub user_123] [--sid s] [--azp origin] [--ttl seconds]     a session token
//   npm run -s token -- --m2m [--sub mch_caller] [--ttl seconds]                      an M2M JWT (for CLERK_MACHINE_ID when set)
//   npm run -s token -- --oauth [--sub user_123] [--client-id id] [--scope 'a b']      an OAuth access-token JWT
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { configuredIssuer, developmentAzp, readSettings, type Settings } from '../settings.js'
import { devIssuerUrl, mintDevM2mToken, mintDevOAuthToken, mintDevToken } from './dev-issuer.js'
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
    m2m: { type: 'boolean', default: false },
    oauth: { type: 'boolean', default: false },
    sub: { type: 'string' },
    sid: { type: 'string' },
    azp: { type: 'string' },
    'client-id': { type: 'string', default: 'client_dev' },
    scope: { type: 'string', default: '' },
    ttl: { type: 'string' }
  }
})
if (values.m2m && values.oauth) fail('--m2m and --oauth are two kinds of token: pick one')
const ttlSeconds = Number(values.ttl ?? (values.m2m || values.oauth ? 3600 : 60))
if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86400) fail('--ttl must be a whole number of seconds from 1 to 86400')
if (values.sub === '') fail('--sub must not be empty')
if (values.m2m && values.sub !== undefined && !values.sub.startsWith('mch_')) fail('--sub of an M2M token is the calling machine: mch_…')

const key = loadOrCreateSigningKey(resolve(config.DEV_ISSUER_DIR))
const issuer = devIssuerUrl(config.DEV_ISSUER_PORT)
const machineId = config.CLERK_MACHINE_ID === undefined || config.CLERK_MACHINE_ID === '' ? undefined : config.CLERK_MACHINE_ID
const token = values.m2m
  ? mintDevM2mToken(key, issuer, { machineId: values.sub ?? 'mch_devcaller', targets: machineId === undefined ? [] : [machineId], ttlSeconds })
  : values.oauth
    ? mintDevOAuthToken(key, issuer, { userId: values.sub ?? 'user_dev', clientId: values['client-id'], scopes: values.scope.split(' ').filter((scope) => scope !== ''), ttlSeconds })
    : mintDevToken(key, issuer, { sub: values.sub ?? 'user_dev', sid: values.sid, azp: values.azp ?? developmentAzp(config), ttlSeconds })
process.stdout.write(`${token}\n`)
