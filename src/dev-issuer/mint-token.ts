// CLI: prints a development token. Usage:
//   npm run -s token -- [--sub user_123] [--sid s] [--azp origin] [--ttl seconds]     a session token
//   npm run -s token -- --m2m [--sub mch_caller] [--ttl seconds]                      an M2M JWT (for CLERK_MACHINE_ID when set)
//   npm run -s token -- --oauth [--sub user_123] [--client-id id] [--scope 'a b']      an OAuth access-token JWT
//   add --opaque to either for the opaque form (mt_…, oat_…), checked by the development issuer's Backend API
//   npm run -s token -- --api-key [--sub user_123] [--name n] [--scope 'a b'] [--revoked]   an API key (ak_…)
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { configuredIssuer, developmentAzp, readSettings, unlessEmpty, type Settings } from '../settings.js'
import { mintDevOpaqueToken } from './backend-api.js'
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
    'api-key': { type: 'boolean', default: false },
    opaque: { type: 'boolean', default: false },
    revoked: { type: 'boolean', default: false },
    name: { type: 'string', default: 'dev-key' },
    sub: { type: 'string' },
    sid: { type: 'string' },
    azp: { type: 'string' },
    'client-id': { type: 'string', default: 'client_dev' },
    scope: { type: 'string', default: '' },
    ttl: { type: 'string' }
  }
})
if ([values.m2m, values.oauth, values['api-key']].filter(Boolean).length > 1) fail('--m2m, --oauth and --api-key are kinds of token: pick one')
if (values.opaque && !values.m2m && !values.oauth) fail('--opaque goes with --m2m or --oauth (API keys are always opaque)')
const machine = values.m2m || values.oauth || values['api-key']
const ttlSeconds = Number(values.ttl ?? (machine ? 3600 : 60))
if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86400) fail('--ttl must be a whole number of seconds from 1 to 86400')
if (values.sub === '') fail('--sub must not be empty')
if (values.m2m && values.sub !== undefined && !values.sub.startsWith('mch_')) fail('--sub of an M2M token is the calling machine: mch_…')

const key = loadOrCreateSigningKey(resolve(config.DEV_ISSUER_DIR))
const issuer = devIssuerUrl(config.DEV_ISSUER_PORT)
const machineId = unlessEmpty(config.CLERK_MACHINE_ID)
const scopes = values.scope.split(' ').filter((scope) => scope !== '')
const expiration = Date.now() + ttlSeconds * 1000
const sub = values.sub

function mint (): string {
  if (values['api-key']) {
    // an API key expires only when --ttl says so, as in Clerk
    return mintDevOpaqueToken(key.privateKey, { type: 'api_key', subject: sub ?? 'user_dev', scopes, claims: null, name: values.name, expiration: values.ttl === undefined ? null : expiration, revoked: values.revoked })
  }
  if (values.m2m) {
    const targets = machineId === undefined ? [] : [machineId]
    return values.opaque
      ? mintDevOpaqueToken(key.privateKey, { type: 'm2m_token', subject: sub ?? 'mch_devcaller', scopes: targets, claims: null, expiration, revoked: values.revoked })
      : mintDevM2mToken(key, issuer, { machineId: sub ?? 'mch_devcaller', targets, ttlSeconds })
  }
  if (values.oauth) {
    return values.opaque
      ? mintDevOpaqueToken(key.privateKey, { type: 'oauth_token', subject: sub ?? 'user_dev', scopes, claims: null, clientId: values['client-id'], expiration, revoked: values.revoked })
      : mintDevOAuthToken(key, issuer, { userId: sub ?? 'user_dev', clientId: values['client-id'], scopes, ttlSeconds })
  }
  return mintDevToken(key, issuer, { sub: sub ?? 'user_dev', sid: values.sid, azp: values.azp ?? developmentAzp(config), ttlSeconds })
}
const token = mint()
process.stdout.write(`${token}\n`)
