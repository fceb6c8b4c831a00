// CLI: prints a token of the development issuer (npm run -s token -- --help).
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { configuredIssuer, developmentAzp, readSettings, unlessEmpty, type Settings } from '../settings.js'
import { mintDevOpaqueToken, mintM2mToken, mintOAuthToken, mintSessionToken } from '../../plugins/clerk-auth/testing/index.js'
import { loadOrCreateSigningKey } from './signing-key.js'

function fail (message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(1)
}

const USAGE = `npm run -s token -- [options]: prints a token of the development issuer, alone on stdout.

A session token (the default):
  --sub <id>          the user (default user_dev)
  --sid <id>          the session (default: a new one)
  --azp <origin>      the frontend's origin (default: the first allowed one)
  --org <id>          the active organization, e.g. org_acme
  --org-slug <slug>   its slug
  --role <role>       the role in it, e.g. admin or org:admin
  --permission <key>  a permission in it, e.g. org:pings:read (repeat for more)
  --feature <f>       a feature, u:<name> for the user's or o:<name> for the organization's (repeat)
  --plan <p>          a plan, u:<name> or o:<name> (repeat)
A machine credential instead:
  --m2m               an M2M token JWT; --sub is the calling machine (mch_…)
  --oauth             an OAuth access token JWT; --client-id <id>, --scope '<a b>'
  --opaque            with --m2m or --oauth: the opaque form (mt_…, oat_…), checked by the
                      development issuer's Backend API
  --api-key           an API key (ak_…); --name <n>, --scope '<a b>', --revoked
Any kind:
  --ttl <seconds>     lifetime, 1 to 86400 (default 60 for sessions, as Clerk's; 3600 for machines;
                      API keys do not expire unless it is given)
  --help              this text
`

function parseOptions () {
  return parseArgs({
    options: {
      help: { type: 'boolean', default: false },
      m2m: { type: 'boolean', default: false },
      oauth: { type: 'boolean', default: false },
      'api-key': { type: 'boolean', default: false },
      opaque: { type: 'boolean', default: false },
      revoked: { type: 'boolean', default: false },
      name: { type: 'string', default: 'dev-key' },
      sub: { type: 'string' },
      sid: { type: 'string' },
      azp: { type: 'string' },
      org: { type: 'string' },
      'org-slug': { type: 'string' },
      role: { type: 'string' },
      permission: { type: 'string', multiple: true, default: [] },
      feature: { type: 'string', multiple: true, default: [] },
      plan: { type: 'string', multiple: true, default: [] },
      'client-id': { type: 'string', default: 'client_dev' },
      scope: { type: 'string', default: '' },
      ttl: { type: 'string' }
    }
  })
}

let values: ReturnType<typeof parseOptions>['values']
try {
  ({ values } = parseOptions())
} catch (err) {
  fail(`${(err as Error).message} (npm run -s token -- --help lists the options)`)
}
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
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

if ([values.m2m, values.oauth, values['api-key']].filter(Boolean).length > 1) fail('--m2m, --oauth and --api-key are kinds of token: pick one')
if (values.opaque && !values.m2m && !values.oauth) fail('--opaque goes with --m2m or --oauth (API keys are always opaque)')
const machine = values.m2m || values.oauth || values['api-key']
const ttlSeconds = Number(values.ttl ?? (machine ? 3600 : 60))
if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86400) fail('--ttl must be a whole number of seconds from 1 to 86400')
if (values.sub === '') fail('--sub must not be empty')
if (values.m2m && values.sub !== undefined && !values.sub.startsWith('mch_')) fail('--sub of an M2M token is the calling machine: mch_…')
if (values.org === undefined && (values['org-slug'] !== undefined || values.role !== undefined || values.permission.length > 0)) fail('--org-slug, --role and --permission describe an organization: give its --org too')
if (machine && (values.org !== undefined || values.feature.length > 0 || values.plan.length > 0)) fail('--org, --feature and --plan go in session tokens')

const key = loadOrCreateSigningKey(resolve(config.DEV_ISSUER_DIR))
const issuer = `http://127.0.0.1:${config.DEV_ISSUER_PORT}`
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
      : mintM2mToken(key, issuer, { machineId: sub ?? 'mch_devcaller', targets, ttlSeconds })
  }
  if (values.oauth) {
    return values.opaque
      ? mintDevOpaqueToken(key.privateKey, { type: 'oauth_token', subject: sub ?? 'user_dev', scopes, claims: null, clientId: values['client-id'], expiration, revoked: values.revoked })
      : mintOAuthToken(key, issuer, { userId: sub ?? 'user_dev', clientId: values['client-id'], scopes, ttlSeconds })
  }
  const org = values.org === undefined ? undefined : { id: values.org, slug: values['org-slug'], role: values.role, permissions: values.permission }
  return mintSessionToken(key, issuer, { sub: sub ?? 'user_dev', sid: values.sid, azp: values.azp ?? developmentAzp(config), ttlSeconds, org, features: values.feature, plans: values.plan })
}
let token: string
try {
  token = mint()
} catch (err) {
  fail((err as Error).message)
}
process.stdout.write(`${token}\n`)
