import fastifyCookie from '@fastify/cookie'
import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { configuredIssuer, configuredJwtKey, normalizeIssuer, parseAuthorizedParties } from '../../src/config.js'
import { parsePemPublicKey } from './jwks.js'
import { authFromClaims, unmetRequirements, type AuthRequirement, type ClerkAuth } from './auth-object.js'
import { forbiddenMessage, missingPart, requirementProblem } from './authorization.js'
import { createJwksKeyStore, createStaticKeyStore } from './key-store.js'
import { buildRefusalResponses, refusalForVerifyError, type RefusalCode, type RefusalResponse } from './refusals.js'
import { checkClaims, checkHeader, type ClaimPolicy } from './token-checks.js'
import { findToken } from './token-source.js'

export type { AuthRequirement, ClerkAuth } from './auth-object.js'
export type { RefusalCode } from './refusals.js'

export interface ClerkAuthOptions {
  /** The instance's Frontend API URL: the exact iss of its tokens, and where its JWKS lives. */
  issuer: string
  /** Allowed azp origins; when given, a token without azp or with another one is refused. */
  authorizedParties?: string[]
  /** Clock skew tolerated on exp, nbf and iat, in milliseconds. */
  clockSkewMs?: number
  /** Accept sessions whose status is pending (off by default, as in Clerk). */
  acceptPendingSessions?: boolean
  /** Networkless mode: the instance's PEM public key; no JWKS request is ever made. */
  jwtKey?: string
  /** A JWKS fetch that takes longer is aborted (default 5 s). */
  jwksTimeoutMs?: number
  /** Background refresh of the key set (default 5 min). */
  jwksRefreshIntervalMs?: number
  /** At most one fetch per this period for tokens naming an unknown kid (default 30 s). */
  unknownKidCooldownMs?: number
  /** How long the last good key set serves while the issuer is unreachable (default 24 h). */
  jwksMaxStaleMs?: number
  retryAfterSeconds?: number
  realm?: string
  /** The clock, in ms since the epoch; tests may pass their own. */
  now?: () => number
}

export interface ClerkAuthDecorator {
  /** Verifies the request's session token; a string result is the refusal code. */
  authenticate: (request: FastifyRequest) => Promise<ClerkAuth | RefusalCode>
  /** Status, headers and body of the refusal for code (401, or 503 when the issuer cannot be reached). */
  refusalFor: (code: RefusalCode) => RefusalResponse
  /** Whether the issuer's keys are loaded. */
  isReady: () => boolean
  /** What the caller lacks of requirement (empty when it is met). */
  unmet: (auth: ClerkAuth, requirement: AuthRequirement) => Array<keyof AuthRequirement>
}

declare module 'fastify' {
  interface FastifyInstance {
    clerkAuth: ClerkAuthDecorator
  }
  interface FastifyRequest {
    /** The verified caller; null on public routes and before authentication. */
    auth: ClerkAuth | null
    clerkToken: string | null
  }
  interface FastifyContextConfig {
    /** Skip authentication for this route. */
    public?: boolean
    /** What an authenticated caller must have; otherwise 403 forbidden. */
    auth?: AuthRequirement
  }
}

/** Configuration for the app: the service's settings mapped to the plugin's options. */
export const autoConfig = (fastify: FastifyInstance): ClerkAuthOptions => {
  const { config } = fastify
  return {
    issuer: configuredIssuer(config) ?? fastify.devIssuer?.url ?? '',
    authorizedParties: parseAuthorizedParties(config.CLERK_AUTHORIZED_PARTIES),
    clockSkewMs: config.CLERK_CLOCK_SKEW_MS,
    acceptPendingSessions: config.CLERK_ACCEPT_PENDING_SESSIONS,
    jwtKey: configuredJwtKey(config),
    jwksTimeoutMs: config.CLERK_JWKS_TIMEOUT_MS,
    jwksRefreshIntervalMs: config.CLERK_JWKS_REFRESH_INTERVAL_MS,
    unknownKidCooldownMs: config.CLERK_JWKS_UNKNOWN_KID_COOLDOWN_MS,
    jwksMaxStaleMs: config.CLERK_JWKS_MAX_STALE_MS
  }
}

async function clerkAuth (fastify: FastifyInstance, options: ClerkAuthOptions): Promise<void> {
  if (options.issuer === '') throw new Error('clerk-auth needs an issuer')
  const issuer = normalizeIssuer(options.issuer)
  const clockSkewMs = options.clockSkewMs ?? 5000
  const now = options.now ?? Date.now
  const policy: ClaimPolicy = {
    issuer,
    authorizedParties: options.authorizedParties === undefined ? undefined : new Set(options.authorizedParties),
    clockSkewMs,
    acceptPendingSessions: options.acceptPendingSessions
  }
  const refusals = buildRefusalResponses({ realm: options.realm ?? 'api', retryAfterSeconds: options.retryAfterSeconds ?? 5 })
  const jwtKeyPem = options.jwtKey === undefined ? undefined : parsePemPublicKey(options.jwtKey)
  if (options.jwtKey !== undefined && jwtKeyPem === undefined) throw new Error('clerk-auth: jwtKey is not an RSA public key in PEM form')
  const keyStore = jwtKeyPem !== undefined
    ? createStaticKeyStore(jwtKeyPem)
    : createJwksKeyStore({
      issuer,
      timeoutMs: options.jwksTimeoutMs ?? 5000,
      refreshIntervalMs: options.jwksRefreshIntervalMs ?? 300_000,
      unknownKidCooldownMs: options.unknownKidCooldownMs ?? 30_000,
      maxStaleMs: options.jwksMaxStaleMs ?? 86_400_000,
      log: fastify.log,
      now
    })
  fastify.addHook('onClose', async () => keyStore.close())

  // Parsed only when there is no Authorization header.
  await fastify.register(fastifyCookie, { hook: false })
  await fastify.register(fastifyJwt, {
    // Keys come from the configured issuer only; the token picks nothing but the kid.
    secret: async (_request: FastifyRequest, token: { header: { kid: string } }) => await keyStore.getKey(token.header.kid),
    decode: { complete: true },
    verify: {
      algorithms: ['RS256'],
      allowedIss: issuer,
      requiredClaims: ['iss', 'sub', 'sid', 'exp', 'iat'],
      clockTolerance: clockSkewMs,
      extractToken: (request: FastifyRequest) => request.clerkToken ?? undefined
    },
    decoratorName: 'auth',
    formatUser: (claims: Record<string, unknown>) => authFromClaims(claims)
  } as never)
  fastify.decorateRequest('clerkToken', null)

  function sessionCookie (this: FastifyRequest): string | undefined {
    const header = this.headers.cookie
    return header === undefined ? undefined : fastify.parseCookie(header).__session
  }

  async function authenticate (request: FastifyRequest): Promise<ClerkAuth | RefusalCode> {
    const found = findToken(request.headers.authorization, sessionCookie.bind(request))
    if (found.refusal !== undefined) return found.refusal
    let decoded: { header: Record<string, unknown>, payload: Record<string, unknown> }
    try {
      decoded = fastify.jwt.decode(found.token) as typeof decoded
    } catch {
      return 'token_malformed'
    }
    const refusal = checkHeader(decoded.header) ?? checkClaims(decoded.payload, policy, now())
    if (refusal !== undefined) return refusal
    request.clerkToken = found.token
    try {
      return await request.jwtVerify() as unknown as ClerkAuth
    } catch (err) {
      const code = refusalForVerifyError(err as Error)
      if (code === undefined) throw err
      return code
    }
  }

  function refuse (reply: FastifyReply, code: RefusalCode): FastifyReply {
    const response = refusals[code]
    reply.request.log.debug({ code }, 'request refused')
    return reply.code(response.statusCode).headers(response.headers).type('application/json; charset=utf-8').send(response.body)
  }

  function forbid (reply: FastifyReply, requirement: AuthRequirement, unmet: Array<keyof AuthRequirement>): FastifyReply {
    reply.request.log.debug({ code: 'forbidden', unmet }, 'request forbidden')
    return reply.code(403).send({
      statusCode: 403,
      error: 'Forbidden',
      code: 'forbidden',
      message: forbiddenMessage(requirement, unmet),
      missing: missingPart(requirement, unmet)
    })
  }

  fastify.decorate('clerkAuth', {
    authenticate,
    refusalFor: (code: RefusalCode) => refusals[code],
    isReady: keyStore.isReady,
    unmet: unmetRequirements
  })

  // A route's requirement is checked once, when it is declared: a typo fails start-up, not a request.
  fastify.addHook('onRoute', (route) => {
    const requirement = route.config?.auth
    if (requirement === undefined) return
    const problem = requirementProblem(requirement)
    if (problem !== undefined) throw new Error(`Route ${route.method.toString()} ${route.url}: config.auth ${problem}`)
    if (route.config?.public === true) throw new Error(`Route ${route.method.toString()} ${route.url}: a public route cannot require config.auth`)
  })

  // Every route is protected unless its config says public; runs before the body is read.
  fastify.addHook('onRequest', async (request, reply) => {
    const { config } = request.routeOptions
    if (config.public === true) return
    const result = await authenticate(request)
    if (typeof result === 'string') return refuse(reply, result)
    if (config.auth === undefined) return
    const unmet = unmetRequirements(result, config.auth)
    if (unmet.length > 0) return forbid(reply, config.auth, unmet)
  })
}

export default fp(clerkAuth, { name: 'clerk-auth' })
