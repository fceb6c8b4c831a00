// clerk-auth: the one public entry. The Fastify adapter (decorators, hooks, replies) over the
// framework-free verifier (verifier.ts); everything other code needs is exported from here.
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { unmetRequirements, type AuthRequirement, type ClerkAuth } from './auth-object.js'
import { forbiddenMessage, missingPart, requirementProblem, type Access } from './authorization.js'
import type { ClerkAuthOptions } from './options.js'
import { buildRefusalResponses, type RefusalCode, type RefusalResponse } from './refusals.js'
import { acceptsTokenProblem, SESSIONS_ONLY, type TokenType } from './token-types.js'
import { authentications, type AuthenticationMessage } from './diagnostics.js'
import { createVerifier, isRefusal, type CountedTokenType, type Verdict, type VerificationDetail, type Verifier, type VerifierStats } from './verifier.js'

export { authObjectSchema, machineAuthSchema, sessionAuthSchema } from './auth-object-schema.js'
export type { AuthRequirement, ClerkAuth, MachineAuth, SessionAuth } from './auth-object.js'
export { forbiddenMessage, missingPart, requirementProblem, type Access } from './authorization.js'
export { CHANNELS, type AuthenticationMessage, type BackendApiCallContext, type KeySetFetchContext, type KeyWaitContext } from './diagnostics.js'
export { forwardAuth } from './forward-auth.js'
export { GATEWAY_PARAMETERS, identityHeaders, parseGatewayAccess } from './gateway.js'
export { clerkAuthOptionsSchema, InvalidOptionError, isBareOrigin, type ClerkAuthOptions, type InvalidOption, type Logger, type SharedVerdicts } from './options.js'
export { refusalTexts, type RefusalCode, type RefusalResponse } from './refusals.js'
export { acceptsTokenProblem, SESSIONS_ONLY, TOKEN_TYPES, type TokenType } from './token-types.js'
export type { Client } from './client-key.js'
export { createVerifier, isRefusal, readRevocation, type CountedTokenType, type Revocation, type Verdict, type VerdictCount, type VerificationDetail, type Verifier, type VerifierStats } from './verifier.js'
export { clerkWebhooks, type ClerkWebhooksOptions } from './webhooks.js'
export { REVOKING_EVENTS } from './clerk-events.js'

/**
 * Requests decided: accepted (a caller that met the route's requirement), refused (401/503, by code),
 * forbidden (403), or anonymous (no token where sign-in is optional: code token_missing).
 */
export interface Decision {
  result: 'accepted' | 'refused' | 'forbidden' | 'anonymous'
  code: RefusalCode | 'ok' | 'forbidden'
  tokenType: CountedTokenType
  count: number
}

export interface ClerkAuthStats extends VerifierStats {
  decisions: Decision[]
}

export interface ClerkAuthDecorator {
  /** The framework-free verifier behind the hooks. */
  verifier: Verifier
  /**
   * Verifies the request's token, of the kinds accepted (sessions only by default), and sets
   * request.auth; a string result is the refusal code (see isRefusal). Synchronous when the cache or
   * a known key can answer, a promise only while an unknown key is looked up: `await` it either way.
   */
  authenticate: (request: FastifyRequest, accepts?: readonly TokenType[]) => Verdict | Promise<Verdict>
  /** Status, headers and body of the refusal for code (401, or 503 when the issuer cannot be reached). */
  refusalFor: (code: RefusalCode) => RefusalResponse
  /** Whether the issuer's keys are loaded. */
  isReady: () => boolean
  /** Counters for operators (metrics) and tests; cheap to keep, built when read. */
  stats: () => ClerkAuthStats
  /**
   * An onRequest hook's work, for access (what a route's config or a gateway asks): authenticates the
   * request and either calls done (request.auth set) or answers with the refusal (401/503) or the 403.
   * Calls done synchronously when the verdict is, like authenticate.
   */
  guard: (request: FastifyRequest, reply: FastifyReply, access: Access, done: HookHandlerDoneFunction) => void
  /**
   * Records a request let through without a token (optional sign-in, public introspection), so that
   * decisions count it as anonymous rather than refused. The guard calls it for optionalAuth routes.
   */
  admitAnonymous: () => void
  /** What the caller lacks of requirement (empty when it is met). */
  unmet: (auth: ClerkAuth, requirement: AuthRequirement) => Array<keyof AuthRequirement>
  /** Whether tokens of this kind can be verified here: API keys need the secret key. */
  canVerify: (type: TokenType) => boolean
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
    /** The kinds of token this route accepts, by Clerk's names; sessions only by default. */
    acceptsToken?: TokenType[]
    /**
     * Sign-in is optional: without a token the handler runs with request.auth null. A token that is
     * sent must be valid (an expired or forged one gets its 401, as on any route).
     */
    optionalAuth?: boolean
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

async function registerClerkAuth (fastify: FastifyInstance, options: ClerkAuthOptions): Promise<void> {
  const verifier = createVerifier({ ...options, log: options.log ?? fastify.log })
  fastify.addHook('onClose', async () => verifier.close())
  const refusals = buildRefusalResponses(verifier.options)

  fastify.decorateRequest('auth', null)

  function canVerify (type: TokenType): boolean {
    return type !== 'api_key' || verifier.options.secretKey !== undefined
  }

  function remember (request: FastifyRequest, verdict: Verdict): Verdict {
    if (!isRefusal(verdict)) request.auth = verdict
    return verdict
  }

  /** The verdict on the request's token; sets request.auth when it is a caller. */
  function authenticate (request: FastifyRequest, accepts: readonly TokenType[] = SESSIONS_ONLY): Verdict | Promise<Verdict> {
    if (authentications.hasSubscribers) return authenticateObserved(request, accepts)
    const verdict = verifier.verifyCredentials(request.headers.authorization, request.headers.cookie, accepts, request)
    return verdict instanceof Promise ? verdict.then((settled) => remember(request, settled)) : remember(request, verdict)
  }

  /** authenticate, with what it found published on the authentication channel (tracing). */
  function authenticateObserved (request: FastifyRequest, accepts: readonly TokenType[]): Verdict | Promise<Verdict> {
    const detail: VerificationDetail = { cached: false }
    const told = (verdict: Verdict): Verdict => {
      const refused = isRefusal(verdict)
      authentications.publish({
        request,
        code: refused ? verdict : 'ok',
        auth: refused ? undefined : verdict,
        tokenType: detail.tokenType,
        keyId: detail.keyId,
        cached: detail.cached
      } satisfies AuthenticationMessage)
      return remember(request, verdict)
    }
    const verdict = verifier.verifyCredentials(request.headers.authorization, request.headers.cookie, accepts, request, detail)
    return verdict instanceof Promise ? verdict.then(told) : told(verdict)
  }

  function refuse (reply: FastifyReply, code: RefusalCode): FastifyReply {
    const response = refusals[code]
    reply.request.log.debug({ code }, 'request refused')
    return reply.code(response.statusCode).headers(response.headers).type('application/json; charset=utf-8').send(response.body)
  }

  // Callers refused for a requirement: the verifier counted them as callers (ok), decisions() does not.
  const forbidden: Partial<Record<CountedTokenType, number>> = {}
  // Requests let through without a token: the verifier counted them as token_missing, decisions() as anonymous.
  let anonymous = 0
  const admitAnonymous = (): void => { anonymous++ }

  function forbid (reply: FastifyReply, auth: ClerkAuth, requirement: AuthRequirement, unmet: Array<keyof AuthRequirement>): FastifyReply {
    forbidden[auth.tokenType] = (forbidden[auth.tokenType] ?? 0) + 1
    reply.request.log.debug({ code: 'forbidden', unmet }, 'request forbidden')
    return reply.code(403).send({
      statusCode: 403,
      error: 'Forbidden',
      code: 'forbidden',
      message: forbiddenMessage(requirement, unmet),
      missing: missingPart(requirement, unmet)
    })
  }

  function decisions (verdicts: VerifierStats['verdicts']): Decision[] {
    const list: Decision[] = verdicts.map(({ tokenType, code, count }) => code === 'ok'
      ? { result: 'accepted', code, tokenType, count: count - (forbidden[tokenType] ?? 0) }
      : { result: 'refused', code, tokenType, count: code === 'token_missing' ? count - anonymous : count })
    for (const [tokenType, count] of Object.entries(forbidden)) list.push({ result: 'forbidden', code: 'forbidden', tokenType: tokenType as CountedTokenType, count })
    if (anonymous > 0) list.push({ result: 'anonymous', code: 'token_missing', tokenType: 'unknown', count: anonymous })
    return list
  }

  // A route's declarations are checked once, when it is declared: a typo fails start-up, not a request.
  fastify.addHook('onRoute', (route) => {
    const { config } = route
    const refuse = (problem: string): never => { throw new Error(`Route ${route.method.toString()} ${route.url}: ${problem}`) }
    const tokens = config?.acceptsToken === undefined ? undefined : acceptsTokenProblem(config.acceptsToken)
    if (tokens !== undefined) refuse(`config.acceptsToken ${tokens}`)
    if (config?.acceptsToken?.every(canVerify) === false) {
      refuse('config.acceptsToken names api_key, which only Clerk\'s Backend API can verify: set the secretKey option (CLERK_SECRET_KEY)')
    }
    const requirement = config?.auth === undefined ? undefined : requirementProblem(config.auth)
    if (requirement !== undefined) refuse(`config.auth ${requirement}`)
    if (config?.public === true && (config.auth !== undefined || config.acceptsToken !== undefined || config.optionalAuth !== undefined)) {
      refuse('a public route cannot declare config.auth, config.acceptsToken or config.optionalAuth')
    }
    if (config?.optionalAuth !== undefined && typeof config.optionalAuth !== 'boolean') refuse('config.optionalAuth must be true or false')
    if (config?.optionalAuth === true && config.auth !== undefined) {
      refuse('config.auth asks something of every caller, which an optional sign-in (config.optionalAuth) cannot: check request.auth in the handler')
    }
  })

  /** Sends the refusal or the 403, or says the request may go on. */
  function admits (reply: FastifyReply, verdict: Verdict, access: Access): boolean {
    if (isRefusal(verdict)) {
      if (verdict === 'token_missing' && access.optionalAuth === true) {
        admitAnonymous()
        return true
      }
      refuse(reply, verdict)
      return false
    }
    const requirement = access.auth
    if (requirement === undefined) return true
    const unmet = unmetRequirements(verdict, requirement)
    if (unmet.length === 0) return true
    forbid(reply, verdict, requirement, unmet)
    return false
  }

  function guard (request: FastifyRequest, reply: FastifyReply, access: Access, done: HookHandlerDoneFunction): void {
    const verdict = authenticate(request, access.acceptsToken)
    if (verdict instanceof Promise) {
      verdict.then((settled) => { if (admits(reply, settled, access)) done() }, done)
    } else if (admits(reply, verdict, access)) {
      done()
    }
  }

  fastify.decorate('clerkAuth', {
    verifier,
    authenticate,
    guard,
    refusalFor: (code: RefusalCode) => refusals[code],
    isReady: verifier.isReady,
    stats: () => {
      const stats = verifier.stats()
      return { ...stats, decisions: decisions(stats.verdicts) }
    },
    admitAnonymous,
    unmet: unmetRequirements,
    canVerify
  })

  // Every route is protected unless its config says public; runs before the body is read.
  // A callback hook, so that a cached verdict answers without a promise.
  fastify.addHook('onRequest', (request, reply, done) => {
    // routeOptions builds a new object on every read: read it once
    const { config } = request.routeOptions
    if (config.public === true) {
      done()
      return
    }
    guard(request, reply, config, done)
  })
}

/** The plugin: `app.register(clerkAuth, { issuer })`. Also the default export. */
export const clerkAuth = fp(registerClerkAuth, { name: 'clerk-auth', fastify: '5.x' })
export default clerkAuth
