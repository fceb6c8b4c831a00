import envSchema from 'env-schema'
import type { FromSchema } from 'json-schema-to-ts'
import { acceptsTokenProblem, clerkAuthOptionsSchema, isBareOrigin, type ClerkAuthOptions, type InvalidOption, type TokenType } from '../plugins/clerk-auth/index.js'

// The clerk-auth options' own ranges and defaults: one place says what a valid value is.
const option = clerkAuthOptionsSchema.properties

// The service's settings: one JSON schema read by @fastify/env (server) and env-schema (CLI, workers).
export const settingsSchema = {
  type: 'object',
  // Other environment variables are dropped (env-schema removes them), not refused.
  additionalProperties: false,
  required: [
    'NODE_ENV', 'PORT', 'HOST', 'LOG_LEVEL', 'CLERK_CLOCK_SKEW_MS', 'CLERK_JWKS_TIMEOUT_MS', 'CLERK_JWKS_REFRESH_INTERVAL_MS',
    'CLERK_JWKS_UNKNOWN_KID_COOLDOWN_MS', 'CLERK_JWKS_MAX_STALE_MS', 'CLERK_ACCEPT_PENDING_SESSIONS',
    'CLERK_VERIFICATION_CACHE_SIZE', 'CLERK_API_TIMEOUT_MS', 'CLERK_API_MAX_CALLS_PER_SECOND', 'CLERK_API_MAX_CALLS_PER_CLIENT_PER_SECOND', 'CLERK_MACHINE_TOKEN_CACHE_MS', 'CLERK_REVOCATION_RETENTION_MS', 'GRAPHQL_ACCEPTS_TOKEN', 'GRAPHQL_PUBLIC_INTROSPECTION', 'GRAPHQL_WS_INIT_TIMEOUT_MS', 'GRAPHQL_WS_MAX_SOCKETS', 'GRAPHQL_WS_MAX_SUBSCRIPTIONS_PER_SOCKET', 'GRAPHQL_WS_MAX_MESSAGE_BYTES', 'LOG_REQUESTS', 'TRACING_RECORD_USER_ID', 'TRUST_PROXY', 'METRICS_HOST', 'METRICS_PORT', 'OVERLOAD_MAX_EVENT_LOOP_DELAY_MS', 'OVERLOAD_RETRY_AFTER_SECONDS', 'SHUTDOWN_DRAIN_MS', 'RATE_LIMIT_MAX', 'RATE_LIMIT_WINDOW_MS', 'REDIS_KEY_PREFIX', 'REDIS_TIMEOUT_MS', 'WORKERS', 'DEV_ISSUER_PORT', 'DEV_ISSUER_DIR'
  ],
  properties: {
    NODE_ENV: { type: 'string', default: 'development' },
    HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
    LOG_LEVEL: {
      type: 'string',
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info'
    },
    // Empty means unset: the development issuer runs instead. clerk-auth checks the URL itself.
    CLERK_ISSUER_URL: { type: 'string' },
    CLERK_AUTHORIZED_PARTIES: { type: 'string' },
    // Empty means unset: CLERK_AUTHORIZED_PARTIES, else (development issuer only) any loopback port.
    CORS_ORIGINS: { type: 'string' },
    CLERK_CLOCK_SKEW_MS: option.clockSkewMs,
    CLERK_JWKS_TIMEOUT_MS: option.jwksTimeoutMs,
    CLERK_JWKS_REFRESH_INTERVAL_MS: option.jwksRefreshIntervalMs,
    CLERK_JWKS_UNKNOWN_KID_COOLDOWN_MS: option.jwksUnknownKidCooldownMs,
    CLERK_JWKS_MAX_STALE_MS: option.jwksMaxStaleMs,
    CLERK_JWT_KEY: { type: 'string' },
    CLERK_ACCEPT_PENDING_SESSIONS: option.acceptPendingSessions,
    CLERK_VERIFICATION_CACHE_SIZE: option.verificationCacheSize,
    // Empty means unset: only the plain __session cookie is read.
    CLERK_PUBLISHABLE_KEY: { type: 'string' },
    // Opaque machine tokens and API keys: verified by Clerk's Backend API with the secret key.
    // Empty means unset (the development issuer stands in without CLERK_ISSUER_URL).
    CLERK_SECRET_KEY: { type: 'string' },
    CLERK_MACHINE_SECRET_KEY: { type: 'string' },
    CLERK_API_URL: { type: 'string' },
    CLERK_API_TIMEOUT_MS: option.apiTimeoutMs,
    CLERK_API_MAX_CALLS_PER_SECOND: option.apiMaxCallsPerSecond,
    CLERK_API_MAX_CALLS_PER_CLIENT_PER_SECOND: option.apiMaxCallsPerClientPerSecond,
    CLERK_MACHINE_TOKEN_CACHE_MS: option.machineTokenCacheMs,
    // Clerk's webhooks (POST /webhooks/clerk) end access at once: sign-outs, bans, memberships removed.
    // Empty means unset: the route is off (the development issuer has a secret of its own).
    CLERK_WEBHOOK_SIGNING_SECRET: { type: 'string' },
    CLERK_REVOCATION_RETENTION_MS: option.revocationRetentionMs,
    // Empty means unset: M2M tokens of the instance are accepted whichever machines they name.
    CLERK_MACHINE_ID: { type: 'string' },
    // The kinds of token /graphql accepts, by Clerk's names (REST routes declare their own).
    GRAPHQL_ACCEPTS_TOKEN: { type: 'string', default: 'session_token' },
    // GraphiQL loads the schema without a token; turn it off where the schema is nobody's business.
    GRAPHQL_PUBLIC_INTROSPECTION: { type: 'boolean', default: true },
    // GraphQL subscriptions over WebSocket on /graphql: their bounds.
    GRAPHQL_WS_INIT_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 60_000, default: 3000 },
    GRAPHQL_WS_MAX_SOCKETS: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 10_000 },
    GRAPHQL_WS_MAX_SUBSCRIPTIONS_PER_SOCKET: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
    GRAPHQL_WS_MAX_MESSAGE_BYTES: { type: 'integer', minimum: 1024, maximum: 1_048_576, default: 65_536 },
    LOG_REQUESTS: { type: 'boolean', default: false },
    // With tracing on (OTEL_* variables): the caller's id as enduser.id on request spans (personal data).
    TRACING_RECORD_USER_ID: { type: 'boolean', default: false },
    // Whose X-Forwarded-For is believed (request.ip): false, true (anyone's: only behind a proxy that
    // overwrites it), a number of hops, or the proxies' addresses and CIDRs, comma-separated.
    TRUST_PROXY: { type: 'string', pattern: '^(true|false|[0-9]{1,2}|[0-9A-Fa-f.:/, ]+)$', default: 'false' },
    // Prometheus metrics on their own listener (never the public port); port 0 turns them off.
    METRICS_HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    METRICS_PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 9464 },
    // Load shedding, opt-in: above this mean event-loop delay, requests get 503 + Retry-After. Off (0) by
    // default: measured under saturation it served fewer requests, later (README, Operating it).
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: { type: 'integer', minimum: 0, maximum: 60_000, default: 0 },
    OVERLOAD_RETRY_AFTER_SECONDS: { type: 'integer', minimum: 1, maximum: 3600, default: 1 },
    // On SIGTERM: how long /ready answers 503 while requests are still served, before the listener closes.
    SHUTDOWN_DRAIN_MS: { type: 'integer', minimum: 0, maximum: 600_000, default: 5000 },
    // Requests per authenticated caller (user, API key's owner, machine) per window; 0: no limit.
    RATE_LIMIT_MAX: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 },
    RATE_LIMIT_WINDOW_MS: { type: 'integer', minimum: 1000, maximum: 86_400_000, default: 60_000 },
    // Replicas share revocations through Valkey or Redis. Empty means unset: nothing is shared.
    REDIS_URL: { type: 'string', pattern: '^(rediss?://.+)?$' },
    REDIS_KEY_PREFIX: { type: 'string', pattern: '^[A-Za-z0-9_:.-]{0,64}$', default: 'clerk-auth:' },
    // How long start-up waits for the store, and a connection or command may take; never a request.
    REDIS_TIMEOUT_MS: { type: 'integer', minimum: 10, maximum: 60_000, default: 1000 },
    WORKERS: { type: 'string', pattern: '^(auto|[1-9][0-9]{0,2})$', default: '1' },
    DEV_ISSUER_PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3001 },
    DEV_ISSUER_DIR: { type: 'string', minLength: 1, default: '.dev-issuer' }
  }
} as const

export type Settings = FromSchema<typeof settingsSchema>

// Options taken from a setting as they are: one table serves the mapping and the error naming.
const settingOfPlainOption = {
  clockSkewMs: 'CLERK_CLOCK_SKEW_MS',
  acceptPendingSessions: 'CLERK_ACCEPT_PENDING_SESSIONS',
  verificationCacheSize: 'CLERK_VERIFICATION_CACHE_SIZE',
  jwksTimeoutMs: 'CLERK_JWKS_TIMEOUT_MS',
  jwksRefreshIntervalMs: 'CLERK_JWKS_REFRESH_INTERVAL_MS',
  jwksUnknownKidCooldownMs: 'CLERK_JWKS_UNKNOWN_KID_COOLDOWN_MS',
  jwksMaxStaleMs: 'CLERK_JWKS_MAX_STALE_MS',
  apiTimeoutMs: 'CLERK_API_TIMEOUT_MS',
  apiMaxCallsPerSecond: 'CLERK_API_MAX_CALLS_PER_SECOND',
  apiMaxCallsPerClientPerSecond: 'CLERK_API_MAX_CALLS_PER_CLIENT_PER_SECOND',
  machineTokenCacheMs: 'CLERK_MACHINE_TOKEN_CACHE_MS',
  revocationRetentionMs: 'CLERK_REVOCATION_RETENTION_MS'
} as const satisfies Partial<Record<keyof ClerkAuthOptions, keyof Settings>>
type PlainOption = keyof typeof settingOfPlainOption

// The setting behind each clerk-auth option, so that the plugin's own checks name the variable.
const settingOfOption: Partial<Record<keyof ClerkAuthOptions, keyof Settings>> = {
  ...settingOfPlainOption,
  issuer: 'CLERK_ISSUER_URL',
  authorizedParties: 'CLERK_AUTHORIZED_PARTIES',
  jwtKey: 'CLERK_JWT_KEY',
  machineId: 'CLERK_MACHINE_ID',
  publishableKey: 'CLERK_PUBLISHABLE_KEY',
  secretKey: 'CLERK_SECRET_KEY',
  machineSecretKey: 'CLERK_MACHINE_SECRET_KEY',
  apiUrl: 'CLERK_API_URL'
}

const hints: Partial<Record<keyof Settings, string>> = {
  CLERK_ISSUER_URL:
    'must be your Clerk Frontend API URL, e.g. https://your-app.clerk.accounts.dev (plain http only for a loopback host)',
  CLERK_AUTHORIZED_PARTIES: 'must be a comma-separated list of origins, e.g. https://app.example.com,http://localhost:3000',
  CORS_ORIGINS: 'must be a comma-separated list of exact origins, e.g. https://app.example.com,http://localhost:3001, or none',
  CLERK_ACCEPT_PENDING_SESSIONS: 'must be true or false',
  CLERK_SECRET_KEY: 'must be your instance\'s secret key, sk_live_… or sk_test_… (Dashboard > API keys)',
  CLERK_MACHINE_SECRET_KEY: 'must be a machine\'s secret key, ak_… (Dashboard > Machines)',
  CLERK_API_URL: 'must be Clerk\'s Backend API URL, https://api.clerk.com (plain http only for a loopback host)',
  CLERK_PUBLISHABLE_KEY: 'must be your instance\'s publishable key, pk_live_… or pk_test_… (Dashboard > API keys)',
  CLERK_WEBHOOK_SIGNING_SECRET: 'must be your webhook endpoint\'s signing secret, whsec_… (Dashboard > Webhooks > the endpoint > Signing Secret)',
  CLERK_MACHINE_ID: 'must be this service\'s Clerk machine id, e.g. mch_2xhFjEI5X2qWRvtV13BzSj8H6Dk (Dashboard > Machines)',
  LOG_REQUESTS: 'must be true or false',
  TRACING_RECORD_USER_ID: 'must be true or false',
  TRUST_PROXY: 'must be false, true, a number of proxy hops, or the proxies\' addresses and CIDRs, comma-separated (e.g. 10.0.0.0/8,127.0.0.1)',
  GRAPHQL_PUBLIC_INTROSPECTION: 'must be true or false',
  REDIS_URL: 'must be a Valkey or Redis URL, redis://host:6379 or rediss://user:password@host:6380/0, or empty',
  REDIS_KEY_PREFIX: 'must be at most 64 letters, digits, _ : . or -, e.g. clerk-auth:',
  WORKERS: 'must be auto or a number of processes from 1 to 999',
  CLERK_JWT_KEY: 'must be your instance\'s RSA public key in PEM form, as the Clerk dashboard shows it (API keys > Show JWT public key > PEM)',
  PORT: 'must be a port number from 0 to 65535',
  METRICS_PORT: 'must be a port number from 1 to 65535, or 0 to turn metrics off',
  DEV_ISSUER_PORT: 'must be a port number from 0 to 65535',
  LOG_LEVEL: 'must be one of fatal, error, warn, info, debug, trace, silent'
}

/** The hint for a setting: written above, or for a whole number, its range from the schema. */
export function hintFor (variable: string): string | undefined {
  const known = hints[variable as keyof Settings]
  if (known !== undefined) return known
  const schema = (settingsSchema.properties as Record<string, { type?: string, minimum?: number, maximum?: number }>)[variable]
  if (schema?.type !== 'integer') return undefined
  const unit = variable.endsWith('_MS') ? ' of milliseconds' : ''
  return `must be a whole number${unit} from ${String(schema.minimum)} to ${String(schema.maximum)}`
}

/** A setting that stops start-up; its message is one line that names the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError'
  constructor (readonly variable: string, detail: string) {
    super(`Invalid configuration: ${variable} ${detail}`)
  }
}

interface AjvLikeError { instancePath?: string, keyword?: string, params?: { missingProperty?: string }, message?: string }

/** Turns env-schema's validation error into a ConfigError naming the first bad variable. */
export function toConfigError (err: Error & { errors?: AjvLikeError[] }): Error {
  const first = err.errors?.[0]
  if (first === undefined) return err
  const variable = first.params?.missingProperty ?? first.instancePath?.replace(/^\//, '') ?? ''
  if (variable === '') return err
  return new ConfigError(variable, hintFor(variable) ?? first.message ?? 'is invalid')
}

/** clerk-auth refused an option: name the setting it came from. */
export function settingErrorFromOption (err: Error): Error {
  if ((err as Partial<InvalidOption>).code !== 'FST_CLERK_AUTH_INVALID_OPTION') return err
  const { option, detail } = err as InvalidOption
  const variable = settingOfOption[option as keyof ClerkAuthOptions]
  if (variable === undefined) return err
  // A rule between two options is told with both settings' names; any other with the setting's hint.
  const other = Object.entries(settingOfOption).find(([name]) => name !== option && detail.includes(name))
  if (other !== undefined) return new ConfigError(variable, detail.replaceAll(other[0], other[1]))
  return new ConfigError(variable, hintFor(variable) ?? err.message)
}

/** The settings from the environment and .env; throws a ConfigError naming the first bad one. */
export function readSettings (): Settings {
  try {
    return envSchema<Settings>({ schema: settingsSchema, dotenv: true })
  } catch (err) {
    throw toConfigError(err as Error)
  }
}

/** A comma-separated list of origins (CLERK_AUTHORIZED_PARTIES, CORS_ORIGINS); their users check each entry. */
export function parseOriginList (value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined
  return value.split(',').map((entry) => entry.trim().replace(/\/+$/, '')).filter((entry) => entry !== '')
}

/** CLERK_ISSUER_URL, or undefined when it is unset or empty. */
export function configuredIssuer (settings: Pick<Settings, 'CLERK_ISSUER_URL'>): string | undefined {
  return settings.CLERK_ISSUER_URL === '' ? undefined : settings.CLERK_ISSUER_URL
}

/** CLERK_JWT_KEY, or undefined when it is unset or blank. */
export function configuredJwtKey (settings: Pick<Settings, 'CLERK_JWT_KEY'>): string | undefined {
  return settings.CLERK_JWT_KEY?.trim() === '' ? undefined : settings.CLERK_JWT_KEY
}

/** GRAPHQL_ACCEPTS_TOKEN as a list of token types (checked by checkSettings). */
export function graphqlAcceptsToken (settings: Pick<Settings, 'GRAPHQL_ACCEPTS_TOKEN'>): TokenType[] {
  return settings.GRAPHQL_ACCEPTS_TOKEN.split(',').map((type) => type.trim()) as TokenType[]
}

/** Rules between settings; throws a ConfigError naming the first setting that breaks one. */
export function checkSettings (settings: Settings): void {
  const tokens = acceptsTokenProblem(graphqlAcceptsToken(settings))
  if (tokens !== undefined) throw new ConfigError('GRAPHQL_ACCEPTS_TOKEN', `${tokens}, comma-separated`)
  const issuer = configuredIssuer(settings)
  if (configuredJwtKey(settings) !== undefined && issuer === undefined) {
    throw new ConfigError('CLERK_ISSUER_URL', 'is required with CLERK_JWT_KEY: it is the exact iss of your tokens')
  }
  const cors = corsSetting(settings, issuer === undefined)
  if (cors.from !== 'development issuer' && cors.from !== 'nothing set' && !cors.origins.every(isBareOrigin)) {
    throw new ConfigError(cors.from, hints[cors.from] as string)
  }
  if (issuer === undefined && settings.NODE_ENV === 'production') {
    throw new ConfigError(
      'CLERK_ISSUER_URL',
      'is required when NODE_ENV=production (the development issuer never runs in production): set it to your Clerk Frontend API URL'
    )
  }
}

/** An optional setting's value: empty means unset. */
export const unlessEmpty = (value: string | undefined): string | undefined => value === '' ? undefined : value

/** The clerk-auth options for these settings; the development issuer stands in when CLERK_ISSUER_URL is unset. */
export function clerkAuthOptions (settings: Settings, devIssuer: { url: string, secretKey: string } | null | undefined): ClerkAuthOptions {
  const devIssuerUrl = devIssuer?.url
  const plain = Object.fromEntries(Object.entries(settingOfPlainOption).map(([option, setting]) => [option, settings[setting]]))
  return {
    ...plain as Pick<ClerkAuthOptions, PlainOption>,
    issuer: configuredIssuer(settings) ?? devIssuerUrl ?? '',
    authorizedParties: parseOriginList(settings.CLERK_AUTHORIZED_PARTIES),
    jwtKey: configuredJwtKey(settings),
    machineId: unlessEmpty(settings.CLERK_MACHINE_ID),
    publishableKey: unlessEmpty(settings.CLERK_PUBLISHABLE_KEY),
    secretKey: unlessEmpty(settings.CLERK_SECRET_KEY) ?? devIssuer?.secretKey,
    machineSecretKey: unlessEmpty(settings.CLERK_MACHINE_SECRET_KEY),
    apiUrl: unlessEmpty(settings.CLERK_API_URL) ?? devIssuerUrl
  }
}

/** The secret Clerk's webhooks are signed with: the setting, else the development issuer's; none turns the route off. */
export function webhookSigningSecret (settings: Pick<Settings, 'CLERK_WEBHOOK_SIGNING_SECRET'>, devIssuer: { webhookSigningSecret: string } | null | undefined): string | undefined {
  return unlessEmpty(settings.CLERK_WEBHOOK_SIGNING_SECRET) ?? devIssuer?.webhookSigningSecret
}

/** Who may call the service from a browser on another origin, and which setting said so. */
export interface CorsSetting {
  origins: string[]
  /** Any port of localhost, 127.0.0.1 and [::1]: with the development issuer when nothing is set. */
  allowLoopbackOrigins: boolean
  from: 'CORS_ORIGINS' | 'CLERK_AUTHORIZED_PARTIES' | 'development issuer' | 'nothing set'
}

/**
 * CORS_ORIGINS (none: no browser on another origin), else CLERK_AUTHORIZED_PARTIES (the frontends
 * tokens are issued to), else with the development issuer any loopback port (next dev), else nobody.
 */
export function corsSetting (settings: Pick<Settings, 'CORS_ORIGINS' | 'CLERK_AUTHORIZED_PARTIES'>, developmentIssuer: boolean): CorsSetting {
  if (settings.CORS_ORIGINS?.trim() === 'none') return { origins: [], allowLoopbackOrigins: false, from: 'CORS_ORIGINS' }
  const own = parseOriginList(settings.CORS_ORIGINS)
  if (own !== undefined) return { origins: own, allowLoopbackOrigins: false, from: 'CORS_ORIGINS' }
  const parties = parseOriginList(settings.CLERK_AUTHORIZED_PARTIES)
  if (parties !== undefined) return { origins: parties, allowLoopbackOrigins: false, from: 'CLERK_AUTHORIZED_PARTIES' }
  return developmentIssuer
    ? { origins: [], allowLoopbackOrigins: true, from: 'development issuer' }
    : { origins: [], allowLoopbackOrigins: false, from: 'nothing set' }
}

/** TRUST_PROXY as Fastify's trustProxy option; false for a value the settings refuse (they name it at start-up). */
export function trustProxy (value: string | undefined): boolean | number | string {
  const setting = value?.trim() ?? 'false'
  if (setting === 'false' || !new RegExp(settingsSchema.properties.TRUST_PROXY.pattern).test(setting)) return false
  if (setting === 'true') return true
  return /^[0-9]+$/.test(setting) ? Number(setting) : setting
}

/** A taken METRICS_PORT stops production; in development the service carries on without metrics. */
export function metricsPortInUse (settings: Pick<Settings, 'NODE_ENV'>): 'fail' | 'warn' {
  return settings.NODE_ENV === 'production' ? 'fail' : 'warn'
}

/** The azp the development issuer puts in its tokens: the first allowed party, else a local Next.js app. */
export function developmentAzp (settings: Pick<Settings, 'CLERK_AUTHORIZED_PARTIES'>): string {
  return parseOriginList(settings.CLERK_AUTHORIZED_PARTIES)?.[0] ?? 'http://localhost:3000'
}
