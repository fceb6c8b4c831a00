// CLI: sends the running service a Clerk webhook, signed as Clerk signs them (npm run -s webhook -- --help).
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { configuredIssuer, readSettings, webhookSigningSecret, type Settings } from '../settings.js'
import { REVOKING_EVENTS } from '../../plugins/clerk-auth/index.js'
import { devWebhookSigningSecret, signWebhook, webhookEvent } from '../../plugins/clerk-auth/testing/index.js'
import { loadOrCreateSigningKey } from './signing-key.js'

function fail (message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(1)
}

const TYPES: readonly string[] = REVOKING_EVENTS

const USAGE = `npm run -s webhook -- <event type> [options]: sends the running service a signed Clerk webhook
(POST /webhooks/clerk), as Clerk would, and prints the answer.

Event types and what they need:
  session.revoked | session.ended | session.removed   --sid <sess_…>
  user.deleted                                         --sub <user_…>
  user.updated                                         --sub <user_…> [--banned]
  organizationMembership.deleted                       --sub <user_…> --org <org_…>
  organizationMembership.updated                       --sub <user_…> --org <org_…> --role <org:member>
  organization.deleted                                 --org <org_…>
Options:
  --url <url>   where to send it (default: http://127.0.0.1:$PORT/webhooks/clerk)
  --help        this text

Signed with CLERK_WEBHOOK_SIGNING_SECRET, or without it the development issuer's secret.
`

let parsed
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      help: { type: 'boolean', default: false },
      sid: { type: 'string' },
      sub: { type: 'string' },
      org: { type: 'string' },
      role: { type: 'string' },
      banned: { type: 'boolean', default: false },
      url: { type: 'string' }
    }
  })
} catch (err) {
  fail(`${(err as Error).message} (npm run -s webhook -- --help lists the options)`)
}
const { values, positionals } = parsed
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}
const [type] = positionals
if (type === undefined || !TYPES.includes(type) || positionals.length > 1) fail(`Name one event type: ${TYPES.join(', ')}`)

const needs: Record<string, Array<'sid' | 'sub' | 'org' | 'role'>> = {
  session: ['sid'],
  'user.': ['sub'],
  'organizationMembership.deleted': ['sub', 'org'],
  'organizationMembership.updated': ['sub', 'org', 'role'],
  'organization.': ['org']
}
for (const [prefix, options] of Object.entries(needs)) {
  if (!type.startsWith(prefix)) continue
  const missing = options.filter((option) => values[option] === undefined)
  if (missing.length > 0) fail(`${type} needs ${missing.map((option) => `--${option}`).join(' and ')}`)
}

let config: Settings
try {
  config = readSettings()
} catch (err) {
  fail((err as Error).message)
}
const devIssuer = configuredIssuer(config) === undefined ? { webhookSigningSecret: devWebhookSigningSecret(loadOrCreateSigningKey(resolve(config.DEV_ISSUER_DIR)).privateKey) } : null
const secret = webhookSigningSecret(config, devIssuer)
if (secret === undefined) fail('CLERK_ISSUER_URL is set and CLERK_WEBHOOK_SIGNING_SECRET is not: the service has no webhook route to send to.')

const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST
const url = values.url ?? `http://${host.includes(':') ? `[${host}]` : host}:${config.PORT}/webhooks/clerk`
const event = webhookEvent(type, { sessionId: values.sid, userId: values.sub, orgId: values.org, role: values.role, banned: values.banned })
const delivery = signWebhook(secret, JSON.stringify(event))
let answer: Response
try {
  answer = await fetch(url, { method: 'POST', headers: delivery.headers, body: delivery.body, signal: AbortSignal.timeout(10_000) })
} catch (err) {
  fail(`Cannot reach ${url}: ${(err as Error).message} (is the service running? npm start)`)
}
process.stdout.write(`${answer.status} ${await answer.text()}\n`)
if (!answer.ok) process.exit(1)
