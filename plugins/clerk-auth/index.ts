import type { KeyObject } from 'node:crypto'
import { parseCookie } from 'cookie'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { configuredIssuer, configuredJwtKey, normalizeIssuer, parseAuthorizedParties } from '../../src/config.js'
import { parsePemPublicKey } from './jwks.js'
import { authFromClaims, unmetRequirements, type AuthRequirement, type ClerkAuth } from './auth-object.js'
import { forbiddenMessage, missingPart, requirementProblem } from './authorization.js'
import { createJwksKeyStore, createStaticKeyStore } from './key-store.js'
import { decodeJwt, hasValidRs256Signature, type DecodedJwt } from './jwt.js'
import { RefusalError, buildRefusalResponses, type RefusalCode, type RefusalResponse } from './refusals.js'
import { checkClaims, checkHeader, type ClaimPolicy } from './token-checks.js'
import { findToken } from './token-source.js'
import { VerificationCache, reusableUntil, type Verdict } from './verification-cache.js'

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
  /** How many verdicts (keyed on the whole token) are kept; a verified token is never reused past its exp. */
  verificationCacheSize?: number
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
  /**
   * Verifies the request's session token and sets request.auth; a string result is the refusal code.
   * Synchronous when the cache or a known key can answer, a promise only while an unknown key is
   * looked up: `await` it either way.
   */
  authenticate: (request: FastifyRequest) => ClerkAuth | RefusalCode | Promise<ClerkAuth | RefusalCode>
  /** Status, headers and body of the refusal for code (401, or 503 when the issuer cannot be reached). */
  refusalFor: (code: RefusalCode) => RefusalResponse
  /** Whether the issuer's keys are loaded. */
  isReady: () => boolean
  /** Counters for operators and tests: full verifications (signature checked), cache hits, cached verdicts. */
  stats: () => { signatureChecks: number, cacheHits: number, cachedVerdicts: number }
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
  }
  interface FastifyContextConfig {
    /** Skip authentication for this route. */
    public?: boolean
    /** What an authenticated caller must have; otherwise 403 forbidden. */
    auth?: AuthRequirement
  }
}

/**
 * Marks every route registered later in this (encapsulated) context as public: for plugins whose
 * routes authenticate differently (GraphQL, per operation) or serve public pages (GraphiQL).
 */
export function makeRoutesPublic (fastify: FastifyInstance): void {
  fastify.addHook('onRoute', (route) => {
    route.config = { ...route.config, public: true }
  })
}

/** Configuration for the app: the service's settings mapped to the plugin's options. */
export const autoConfig = (fastify: FastifyInstance): ClerkAuthOptions => {
  const { config } = fastify
  return {
    issuer: configuredIssuer(config) ?? fastify.devIssuer?.url ?? '',
    authorizedParties: parseAuthorizedParties(config.CLERK_AUTHORIZED_PARTIES),
    clockSkewMs: config.CLERK_CLOCK_SKEW_MS,
    acceptPendingSessions: config.CLERK_ACCEPT_PENDING_SESSIONS,
    verificationCacheSize: config.CLERK_VERIFICATION_CACHE_SIZE,
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
  const jwtKey = options.jwtKey === undefined ? undefined : parsePemPublicKey(options.jwtKey)
  if (options.jwtKey !== undefined && jwtKey === undefined) throw new Error('clerk-auth: jwtKey is not an RSA public key in PEM form')
  const keyStore = jwtKey !== undefined
    ? createStaticKeyStore(jwtKey)
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
  const cache = new VerificationCache(options.verificationCacheSize ?? 10_000)
  let signatureChecks = 0
  let cacheHits = 0

  fastify.decorateRequest('auth', null)

  // Parsed only when there is no Authorization header. (Not @fastify/cookie: it adds an onSend hook
  // to every route, for Set-Cookie, which this service never sends.)
  function readSessionCookie (header: string): string | undefined {
    return parseCookie(header).__session
  }

  /** The signature check, once the header and claims have passed and the key is known. */
  function verdictWithKey (jwt: DecodedJwt, key: KeyObject): Verdict {
    signatureChecks++
    return hasValidRs256Signature(jwt, key) ? authFromClaims(jwt.payload) : 'token_signature_invalid'
  }

  /**
   * The full check of a token not in the cache, and its caching: header and claims first (no key,
   * no RSA), then the signature. Synchronous whenever the key is known; a promise only while an
   * unknown kid is looked up.
   */
  function verify (token: string, nowMs: number, keyGeneration: number): Verdict | Promise<Verdict> {
    const jwt = decodeJwt(token)
    if (jwt === undefined) return remember(token, 'token_malformed', undefined, nowMs, keyGeneration)
    const exp = jwt.payload.exp
    const refusal = checkHeader(jwt.header) ?? checkClaims(jwt.payload, policy, nowMs)
    if (refusal !== undefined) return remember(token, refusal, exp, nowMs, keyGeneration)
    const key = keyStore.getKey(jwt.header.kid as string)
    if (!(key instanceof Promise)) return remember(token, verdictWithKey(jwt, key), exp, nowMs, keyGeneration)
    return key.then((found) => {
      // Requests that waited on the same lookup with the same token: the first one verifies.
      const cached = cache.get(token, nowMs, keyGeneration)
      return cached ?? remember(token, verdictWithKey(jwt, found), exp, nowMs, keyGeneration)
    }, (err: unknown) => {
      if (err instanceof RefusalError) return err.code
      throw err
    })
  }

  function remember (token: string, verdict: Verdict, exp: unknown, nowMs: number, keyGeneration: number): Verdict {
    cache.remember(token, verdict, reusableUntil(verdict, exp, nowMs), keyGeneration)
    return verdict
  }

  /**
   * The verdict on the request's token: synchronous when the token alone, the cache or a known key
   * can answer (no promise, no microtask), a promise only while an unknown key is looked up.
   */
  function verdictFor (request: FastifyRequest): Verdict | Promise<Verdict> {
    const found = findToken(request.headers.authorization, request.headers.cookie, readSessionCookie)
    if (found.refusal !== undefined) return found.refusal
    const nowMs = now()
    const keyGeneration = keyStore.generation()
    const cached = cache.get(found.token, nowMs, keyGeneration)
    if (cached !== undefined) cacheHits++
    const verdict = cached ?? verify(found.token, nowMs, keyGeneration)
    if (verdict instanceof Promise) {
      return verdict.then((settled) => {
        if (typeof settled !== 'string') request.auth = settled
        return settled
      })
    }
    if (typeof verdict !== 'string') request.auth = verdict
    return verdict
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
    authenticate: verdictFor,
    refusalFor: (code: RefusalCode) => refusals[code],
    isReady: keyStore.isReady,
    stats: () => ({ signatureChecks, cacheHits, cachedVerdicts: cache.size }),
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

  /** Sends the refusal or the 403, or says the request may go on. */
  function admits (reply: FastifyReply, verdict: Verdict, requirement: AuthRequirement | undefined): boolean {
    if (typeof verdict === 'string') {
      refuse(reply, verdict)
      return false
    }
    if (requirement === undefined) return true
    const unmet = unmetRequirements(verdict, requirement)
    if (unmet.length === 0) return true
    forbid(reply, requirement, unmet)
    return false
  }

  // Every route is protected unless its config says public; runs before the body is read.
  // A callback hook, so that a cached verdict answers without a promise.
  fastify.addHook('onRequest', (request, reply, done) => {
    // routeOptions builds a new object on every read: read it once
    const { config } = request.routeOptions
    if (config.public === true) {
      done()
      return
    }
    const verdict = verdictFor(request)
    if (verdict instanceof Promise) {
      verdict.then((settled) => { if (admits(reply, settled, config.auth)) done() }, done)
    } else if (admits(reply, verdict, config.auth)) {
      done()
    }
  })
}

export default fp(clerkAuth, { name: 'clerk-auth' })
