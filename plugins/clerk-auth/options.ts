// The plugin's options: one JSON schema (ranges, defaults, types) checked with Ajv when the plugin
// or a verifier is created, plus the rules a schema cannot say (URLs, origins, the PEM key).
import createError from '@fastify/error'
import { Ajv, type ErrorObject } from 'ajv'
import type { KeyObject } from 'node:crypto'
import type { FromSchema } from 'json-schema-to-ts'
import { parsePemPublicKey } from './jwks.js'
import { parsePublishableKey, type PublishableKey } from './session-cookie.js'

const milliseconds = <D extends string>(minimum: number, maximum: number, fallback: number, description: D) =>
  ({ type: 'integer', minimum, maximum, default: fallback, description }) as const

export const clerkAuthOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['issuer'],
  properties: {
    issuer: { type: 'string', description: 'The Frontend API URL: the exact iss of the tokens, and where the JWKS lives.' },
    authorizedParties: { type: 'array', items: { type: 'string' }, description: 'Allowed azp origins; when set, azp is required.' },
    clockSkewMs: milliseconds(0, 300_000, 5000, 'Skew tolerated on exp, nbf and iat, in ms.'),
    acceptPendingSessions: { type: 'boolean', default: false, description: 'Accept sessions whose sts is pending (Clerk treats them as signed out).' },
    publishableKey: { type: 'string', description: 'With several Clerk apps on one domain: picks __session or __session_<suffix> as Clerk\'s SDK does.' },
    machineId: { type: 'string', pattern: '^mch_[A-Za-z0-9]+$', description: 'This service\'s machine id: M2M tokens must name it in aud or scopes.' },
    verificationCacheSize: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 10_000, description: 'Verdicts cached by whole token; a token is never reused past its exp.' },
    jwtKey: { type: 'string', description: 'Networkless mode: the instance PEM public key; no JWKS request is made.' },
    jwksTimeoutMs: milliseconds(1, 60_000, 5000, 'A JWKS fetch that takes longer is aborted, in ms.'),
    jwksRefreshIntervalMs: milliseconds(100, 86_400_000, 300_000, 'Background refresh of the key set, in ms.'),
    jwksUnknownKidCooldownMs: milliseconds(0, 3_600_000, 30_000, 'At most one refetch per period for tokens naming an unknown kid, in ms.'),
    jwksMaxStaleMs: milliseconds(0, 604_800_000, 86_400_000, 'How long the last good key set serves while the issuer is unreachable, in ms; at least jwksRefreshIntervalMs.'),
    secretKey: { type: 'string', pattern: '^sk_(live|test)_\\S+$', description: 'The instance secret key: opaque machine tokens and API keys are verified with it by Clerk\'s Backend API.' },
    machineSecretKey: { type: 'string', pattern: '^ak_\\S+$', description: 'A machine secret key: opaque M2M tokens are verified as that machine.' },
    apiUrl: { type: 'string', default: 'https://api.clerk.com', description: 'Clerk\'s Backend API (https; http for a loopback host).' },
    apiTimeoutMs: milliseconds(1, 60_000, 3000, 'A Backend API call that takes longer is aborted (503 clerk_api_unavailable), in ms.'),
    apiMaxCallsPerSecond: { type: 'integer', minimum: 1, maximum: 10_000, default: 20, description: 'Calls to Clerk\'s Backend API per second at most, whatever arrives; a quarter is kept for re-checking confirmed tokens.' },
    apiMaxCallsPerClientPerSecond: { type: 'integer', minimum: 1, maximum: 10_000, default: 5, description: 'Calls to Clerk\'s Backend API per second for tokens new to the process from one client address (an IPv6 /64): one client\'s junk cannot spend the others\' budget.' },
    machineTokenCacheMs: milliseconds(0, 300_000, 10_000, 'How long Clerk\'s answer on an opaque token is reused, in ms: the longest a revocation goes unseen.'),
    revocationRetentionMs: milliseconds(60_000, 86_400_000, 3_600_000, 'How long a revocation (a session ended, a user banned, a membership removed) is held, in ms: at least the life of the tokens issued before it (Clerk\'s session tokens: 60 s).'),
    maxRevocations: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 100_000, description: 'Revocations held at most; past it the oldest are dropped first (counted in stats).' },
    realm: { type: 'string', pattern: '^[^"\\\\\\r\\n]*$', default: 'api', description: 'The realm of WWW-Authenticate: Bearer realm="…".' },
    retryAfterSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 5, description: 'Retry-After, in seconds, on 503 issuer_unavailable.' },
    // Not data: checked by hand below, declared so that additionalProperties lets them through.
    now: { description: 'The clock, in ms since the epoch (tests pass their own).' },
    log: { description: 'Where key-set events go: an object with error, warn, info and debug methods.' },
    sharedVerdicts: { description: 'Where replicas share Clerk\'s answers on opaque tokens and count their calls: an object with get, set, claim, release and countCall methods.' }
  }
} as const

/** The log methods the plugin writes with; pino and Fastify's logger have them. */
export interface Logger {
  error: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  info: (obj: object, msg: string) => void
  debug: (obj: object, msg: string) => void
}

/**
 * What replicas share about opaque machine tokens, in a store of the application's choosing (Valkey,
 * Redis, …): Clerk's answer on a token, so that the fleet calls Clerk once per token per cache period,
 * and the count of calls, so that the calls-per-second bound holds for the fleet. Keys are hashes of
 * tokens, never tokens. Each method must settle in bounded time; one that fails leaves the decision to
 * this process alone (its own cache and budgets), as without a store.
 */
export interface SharedVerdicts {
  /** The value last set for key and not yet expired. */
  get: (key: string) => Promise<string | null | undefined>
  /** Keeps value for ttlMs. */
  set: (key: string, value: string, ttlMs: number) => Promise<void>
  /** True when no one else holds key's claim: the caller may call Clerk, and holds it for ttlMs. */
  claim: (key: string, ttlMs: number) => Promise<boolean>
  /** Gives key's claim up before its time (no call is made after all). */
  release: (key: string) => Promise<void>
  /** Counts one call to Clerk in the fleet's window for this second; resolves with the count so far. */
  countCall: (second: number) => Promise<number>
}

// After validation every default is filled in; before it, defaulted options may be left out.
type SchemaOptions = FromSchema<typeof clerkAuthOptionsSchema>

/** What the plugin and createVerifier() take; everything but issuer has a default. */
export type ClerkAuthOptions = Omit<FromSchema<typeof clerkAuthOptionsSchema, { keepDefaultedPropertiesOptional: true }>, 'now' | 'log' | 'sharedVerdicts'> & {
  /** The clock, in ms since the epoch (tests pass their own). */
  now?: () => number
  /** Where key-set events go (the Fastify adapter passes fastify.log); silent by default. */
  log?: Logger
  /** Where replicas share Clerk's answers on opaque tokens and count their calls; by default each process alone. */
  sharedVerdicts?: SharedVerdicts
}

/** The options after validation: defaults applied, issuer normalised, the PEM and the publishable key parsed. */
export interface ResolvedOptions extends Required<Omit<ClerkAuthOptions, 'authorizedParties' | 'jwtKey' | 'machineId' | 'publishableKey' | 'secretKey' | 'machineSecretKey' | 'sharedVerdicts'>> {
  sharedVerdicts: SharedVerdicts | undefined
  authorizedParties: ReadonlySet<string> | undefined
  jwtKey: KeyObject | undefined
  machineId: string | undefined
  publishableKey: PublishableKey | undefined
  secretKey: string | undefined
  machineSecretKey: string | undefined
}

/** Every invalid option stops registration with this code, the option's name and what is wrong. */
export const InvalidOptionError = createError<'FST_CLERK_AUTH_INVALID_OPTION', [string, string]>(
  'FST_CLERK_AUTH_INVALID_OPTION', 'clerk-auth option %s %s'
)
export type InvalidOption = InstanceType<typeof InvalidOptionError> & { option: string, detail: string }

export function invalidOption (option: string, detail: string): InvalidOption {
  return Object.assign(new InvalidOptionError(option, detail), { option, detail })
}

const ajv = new Ajv({ useDefaults: true, strict: true })
const validate = ajv.compile(clerkAuthOptionsSchema)

// 127.0.0.0/8 is matched by IPV4_LOOPBACK
const LOOPBACK_HOSTS = new Set(['localhost', '[::1]'])
const IPV4_LOOPBACK = /^127(\.\d{1,3}){3}$/

/**
 * A URL of the issuer or Clerk's API, without a trailing slash. https only; plain http for a loopback
 * host, since keys or verdicts fetched over plain http could be swapped in transit.
 */
function normalizeUrl (value: string, option: 'issuer' | 'apiUrl'): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw invalidOption(option, option === 'issuer' ? 'must be an absolute URL, e.g. https://your-app.clerk.accounts.dev' : 'must be an absolute URL, e.g. https://api.clerk.com')
  }
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && (LOOPBACK_HOSTS.has(url.hostname) || IPV4_LOOPBACK.test(url.hostname)))
  if (!secure) throw invalidOption(option, 'must use https (plain http only for a loopback host)')
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw invalidOption(option, 'must not carry credentials, a query or a fragment')
  }
  return value.replace(/\/+$/, '')
}

/** Whether value is an origin as browsers send it: scheme, host and port only, no trailing slash. */
export function isBareOrigin (value: string): boolean {
  let origin = 'null'
  try {
    origin = new URL(value).origin
  } catch {}
  // URL takes * as a host character: a pattern is no origin
  return origin !== 'null' && origin === value && !value.includes('*')
}

function checkOrigin (party: string): void {
  if (!isBareOrigin(party)) {
    throw invalidOption('authorizedParties', `must list bare origins such as https://app.example.com (got ${JSON.stringify(party)})`)
  }
}

function describe (error: ErrorObject): string {
  if (error.keyword === 'additionalProperties') return 'is not an option of clerk-auth'
  // Ajv always writes a message unless told not to
  return error.message as string
}

/** Validates and completes the options; throws FST_CLERK_AUTH_INVALID_OPTION naming the first bad one. */
export function resolveOptions (options: ClerkAuthOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw invalidOption('options', 'must be an object with at least { issuer }')
  const copy: Record<string, unknown> = { ...options }
  // undefined means "use the default", as when the option is left out
  for (const name of Object.keys(copy)) if (copy[name] === undefined) delete copy[name]
  if (!validate(copy)) {
    // a failed validation always leaves its errors
    const [error] = validate.errors as [ErrorObject]
    const name = (error.params.additionalProperty ?? error.params.missingProperty ?? error.instancePath.slice(1).split('/')[0]) as string
    throw invalidOption(name, describe(error))
  }
  const valid = copy as SchemaOptions
  if (valid.now !== undefined && typeof valid.now !== 'function') throw invalidOption('now', 'must be a function returning ms since the epoch')
  const log = valid.log as Logger | undefined
  if (log !== undefined && !['error', 'warn', 'info', 'debug'].every((level) => typeof (log as unknown as Record<string, unknown>)[level] === 'function')) {
    throw invalidOption('log', 'must have error, warn, info and debug methods')
  }
  const sharedVerdicts = valid.sharedVerdicts as SharedVerdicts | undefined
  if (sharedVerdicts !== undefined && !['get', 'set', 'claim', 'release', 'countCall'].every((method) => typeof (sharedVerdicts as unknown as Record<string, unknown>)[method] === 'function')) {
    throw invalidOption('sharedVerdicts', 'must have get, set, claim, release and countCall methods')
  }
  valid.authorizedParties?.forEach(checkOrigin)
  // Keys are only as old as the refresh interval between two good fetches: a shorter allowance would
  // count a fresh key set as stale and refuse valid tokens with 503.
  if (valid.jwksMaxStaleMs < valid.jwksRefreshIntervalMs) {
    throw invalidOption('jwksMaxStaleMs', `must be at least jwksRefreshIntervalMs (${valid.jwksRefreshIntervalMs} ms)`)
  }
  // the issuer as tokens carry it
  const issuer = normalizeUrl(valid.issuer, 'issuer')
  let publishableKey: PublishableKey | undefined
  if (valid.publishableKey !== undefined) {
    publishableKey = parsePublishableKey(valid.publishableKey)
    if (publishableKey === undefined) throw invalidOption('publishableKey', 'must be a Clerk publishable key, pk_live_… or pk_test_…')
    if (publishableKey.frontendApi !== issuer.replace(/^https?:\/\//, '')) throw invalidOption('publishableKey', 'must belong to the issuer\'s instance: it names another Frontend API')
  }
  let jwtKey: KeyObject | undefined
  if (valid.jwtKey !== undefined) {
    jwtKey = parsePemPublicKey(valid.jwtKey)
    if (jwtKey === undefined) throw invalidOption('jwtKey', 'must be an RSA public key (2048 to 8192 bits) in PEM form')
  }
  return {
    issuer,
    authorizedParties: valid.authorizedParties === undefined ? undefined : new Set(valid.authorizedParties),
    clockSkewMs: valid.clockSkewMs,
    acceptPendingSessions: valid.acceptPendingSessions,
    machineId: valid.machineId,
    publishableKey,
    secretKey: valid.secretKey,
    machineSecretKey: valid.machineSecretKey,
    apiUrl: normalizeUrl(valid.apiUrl, 'apiUrl'),
    apiTimeoutMs: valid.apiTimeoutMs,
    apiMaxCallsPerSecond: valid.apiMaxCallsPerSecond,
    apiMaxCallsPerClientPerSecond: valid.apiMaxCallsPerClientPerSecond,
    machineTokenCacheMs: valid.machineTokenCacheMs,
    revocationRetentionMs: valid.revocationRetentionMs,
    maxRevocations: valid.maxRevocations,
    verificationCacheSize: valid.verificationCacheSize,
    jwtKey,
    jwksTimeoutMs: valid.jwksTimeoutMs,
    jwksRefreshIntervalMs: valid.jwksRefreshIntervalMs,
    jwksUnknownKidCooldownMs: valid.jwksUnknownKidCooldownMs,
    jwksMaxStaleMs: valid.jwksMaxStaleMs,
    realm: valid.realm,
    retryAfterSeconds: valid.retryAfterSeconds,
    now: (options.now ?? Date.now),
    log: log ?? silentLogger,
    sharedVerdicts
  }
}

const ignore = (): void => {}
const silentLogger: Logger = { error: ignore, warn: ignore, info: ignore, debug: ignore }
