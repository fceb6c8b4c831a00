import { parsePemPublicKey } from '../plugins/clerk-auth/jwks.js'

// The service's settings: one JSON schema read by @fastify/env (server) and env-schema (token CLI).
export const configSchema = {
  type: 'object',
  required: [
    'PORT', 'HOST', 'LOG_LEVEL', 'CLERK_CLOCK_SKEW_MS', 'CLERK_JWKS_TIMEOUT_MS', 'CLERK_JWKS_REFRESH_INTERVAL_MS',
    'CLERK_JWKS_UNKNOWN_KID_COOLDOWN_MS', 'CLERK_JWKS_MAX_STALE_MS', 'CLERK_ACCEPT_PENDING_SESSIONS',
    'CLERK_VERIFICATION_CACHE_SIZE', 'LOG_REQUESTS', 'WORKERS', 'DEV_ISSUER_PORT', 'DEV_ISSUER_DIR'
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
    // https, or http on a loopback host only: keys fetched over plain http could be swapped in transit.
    CLERK_ISSUER_URL: {
      type: 'string',
      // Empty means unset: the development issuer runs instead.
      pattern: '^$|^(https://[^/?#\\s@]+|http://(localhost|127(\\.\\d{1,3}){3}|\\[::1\\])(:\\d{1,5})?)(/[^?#\\s]*)?$'
    },
    CLERK_AUTHORIZED_PARTIES: { type: 'string' },
    CLERK_CLOCK_SKEW_MS: { type: 'integer', minimum: 0, maximum: 300000, default: 5000 },
    CLERK_JWKS_TIMEOUT_MS: { type: 'integer', minimum: 1, maximum: 60000, default: 5000 },
    CLERK_JWKS_REFRESH_INTERVAL_MS: { type: 'integer', minimum: 100, maximum: 86400000, default: 300000 },
    CLERK_JWKS_UNKNOWN_KID_COOLDOWN_MS: { type: 'integer', minimum: 0, maximum: 3600000, default: 30000 },
    CLERK_JWKS_MAX_STALE_MS: { type: 'integer', minimum: 0, maximum: 604800000, default: 86400000 },
    CLERK_JWT_KEY: { type: 'string' },
    CLERK_ACCEPT_PENDING_SESSIONS: { type: 'boolean', default: false },
    CLERK_VERIFICATION_CACHE_SIZE: { type: 'integer', minimum: 1, maximum: 1000000, default: 10000 },
    LOG_REQUESTS: { type: 'boolean', default: false },
    WORKERS: { type: 'string', pattern: '^(auto|[1-9][0-9]{0,2})$', default: '1' },
    DEV_ISSUER_PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3001 },
    DEV_ISSUER_DIR: { type: 'string', minLength: 1, default: '.dev-issuer' }
  }
} as const

export interface Config {
  NODE_ENV: string
  HOST: string
  PORT: number
  LOG_LEVEL: string
  CLERK_ISSUER_URL?: string
  CLERK_AUTHORIZED_PARTIES?: string
  CLERK_CLOCK_SKEW_MS: number
  CLERK_JWKS_TIMEOUT_MS: number
  CLERK_JWKS_REFRESH_INTERVAL_MS: number
  CLERK_JWKS_UNKNOWN_KID_COOLDOWN_MS: number
  CLERK_JWKS_MAX_STALE_MS: number
  CLERK_JWT_KEY?: string
  CLERK_ACCEPT_PENDING_SESSIONS: boolean
  CLERK_VERIFICATION_CACHE_SIZE: number
  LOG_REQUESTS: boolean
  WORKERS: string
  DEV_ISSUER_PORT: number
  DEV_ISSUER_DIR: string
}

const hints: Record<string, string> = {
  CLERK_ISSUER_URL:
    'must be your Clerk Frontend API URL, e.g. https://your-app.clerk.accounts.dev (plain http only for a loopback host)',
  CLERK_AUTHORIZED_PARTIES: 'must be a comma-separated list of origins, e.g. https://app.example.com,http://localhost:3000',
  CLERK_CLOCK_SKEW_MS: 'must be a whole number of milliseconds from 0 to 300000',
  CLERK_ACCEPT_PENDING_SESSIONS: 'must be true or false',
  CLERK_VERIFICATION_CACHE_SIZE: 'must be a whole number from 1 to 1000000',
  LOG_REQUESTS: 'must be true or false',
  WORKERS: 'must be auto or a number of processes from 1 to 999',
  CLERK_JWKS_TIMEOUT_MS: 'must be a whole number of milliseconds from 1 to 60000',
  CLERK_JWKS_REFRESH_INTERVAL_MS: 'must be a whole number of milliseconds from 100 to 86400000',
  CLERK_JWKS_UNKNOWN_KID_COOLDOWN_MS: 'must be a whole number of milliseconds from 0 to 3600000',
  CLERK_JWKS_MAX_STALE_MS: 'must be a whole number of milliseconds from 0 to 604800000',
  CLERK_JWT_KEY: 'must be your instance\'s RSA public key in PEM form, as the Clerk dashboard shows it (API keys > Show JWT public key > PEM)',
  PORT: 'must be a port number from 0 to 65535',
  DEV_ISSUER_PORT: 'must be a port number from 0 to 65535',
  LOG_LEVEL: 'must be one of fatal, error, warn, info, debug, trace, silent'
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
  return new ConfigError(variable, hints[variable] ?? first.message ?? 'is invalid')
}

/** Parses CLERK_AUTHORIZED_PARTIES; every entry must be a bare origin. */
export function parseAuthorizedParties (value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const parties = value.split(',').map((entry) => entry.trim().replace(/\/+$/, '')).filter((entry) => entry !== '')
  for (const party of parties) {
    let origin: string
    try {
      origin = new URL(party).origin
    } catch {
      origin = 'null'
    }
    if (origin === 'null' || origin !== party) {
      throw new ConfigError('CLERK_AUTHORIZED_PARTIES', hints.CLERK_AUTHORIZED_PARTIES as string)
    }
  }
  return parties
}

/** CLERK_ISSUER_URL, or undefined when it is unset or empty. */
export function configuredIssuer (config: Pick<Config, 'CLERK_ISSUER_URL'>): string | undefined {
  return config.CLERK_ISSUER_URL === '' ? undefined : config.CLERK_ISSUER_URL
}

/** CLERK_JWT_KEY, or undefined when it is unset or blank. */
export function configuredJwtKey (config: Pick<Config, 'CLERK_JWT_KEY'>): string | undefined {
  return config.CLERK_JWT_KEY?.trim() === '' ? undefined : config.CLERK_JWT_KEY
}

/** Rules JSON schema cannot express; throws a ConfigError naming the first setting that breaks one. */
export function checkConfig (config: Config): void {
  parseAuthorizedParties(config.CLERK_AUTHORIZED_PARTIES)
  const issuer = configuredIssuer(config)
  const jwtKey = configuredJwtKey(config)
  if (jwtKey !== undefined && parsePemPublicKey(jwtKey) === undefined) {
    throw new ConfigError('CLERK_JWT_KEY', hints.CLERK_JWT_KEY as string)
  }
  if (jwtKey !== undefined && issuer === undefined) {
    throw new ConfigError('CLERK_ISSUER_URL', 'is required with CLERK_JWT_KEY: it is the exact iss of your tokens')
  }
  if (issuer === undefined && config.NODE_ENV === 'production') {
    throw new ConfigError(
      'CLERK_ISSUER_URL',
      'is required when NODE_ENV=production (the development issuer never runs in production): set it to your Clerk Frontend API URL'
    )
  }
}

/** The azp the development issuer puts in its tokens: the first allowed party, else a local Next.js app. */
export function developmentAzp (config: Pick<Config, 'CLERK_AUTHORIZED_PARTIES'>): string {
  return parseAuthorizedParties(config.CLERK_AUTHORIZED_PARTIES)?.[0] ?? 'http://localhost:3000'
}

/** The issuer as tokens carry it: the setting without a trailing slash. */
export function normalizeIssuer (url: string): string {
  return url.replace(/\/+$/, '')
}
