// Rate limits per caller, with @fastify/rate-limit: counted by who the token says the caller is (a
// user, an organization's API key, a machine), after authentication, so that an anonymous flood cannot
// spend a user's budget, and anonymous callers cost nothing here. With a shared store the counts are
// the fleet's; a store that fails lets requests through (skipOnError) rather than refuse them.
import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import type { ClerkAuth } from './clerk-auth/index.js'

export interface RateLimitOptions {
  /**
   * Requests per caller per window on every authenticated route; 0 limits only the routes whose
   * config.rateLimit says so ({ max, timeWindow }; max may be a function of the request, for plans).
   */
  max: number
  windowMs: number
  /** Where counts are kept when replicas share them (an ioredis client); in the process without one. */
  redis?: Redis | undefined
  /** Starts the shared counts' keys. */
  keyPrefix?: string
}

/** The body of a 429. */
export interface RateLimitRefusal {
  statusCode: 429
  error: 'Too Many Requests'
  code: 'rate_limited'
  message: string
}

declare module 'fastify' {
  interface FastifyInstance {
    rateLimits: {
      /** Requests refused with 429 since start-up. */
      refused: () => number
      /**
       * With a global limit (max > 0): counts a request against its caller's limit where a route
       * cannot, because it authenticates later (GraphQL, per operation). Sets the RateLimit headers;
       * resolves with the 429's body when the caller is over. Undefined without a global limit.
       */
      count: ((request: FastifyRequest, reply: FastifyReply) => Promise<RateLimitRefusal | undefined>) | undefined
    }
  }
}

const refusal = (max: number, retryAfterSeconds: number): RateLimitRefusal => ({
  statusCode: 429,
  error: 'Too Many Requests',
  code: 'rate_limited',
  message: `Too many requests from this caller (at most ${max} in its window): retry in ${retryAfterSeconds} s.`
})

/** Whose budget a request comes out of: the user (whatever the token), or the API key's or machine's subject. */
export function callerKey (auth: ClerkAuth | null): string {
  if (auth === null) return ''
  return auth.tokenType === 'session_token' ? auth.userId : auth.subject
}

// Callers without a token (public routes, optional sign-in) are not counted.
const anonymous = (request: FastifyRequest): boolean => request.auth === null

async function rateLimit (fastify: FastifyInstance, options: RateLimitOptions): Promise<void> {
  if (!Number.isInteger(options.max) || options.max < 0) throw new Error('rate-limit: max must be a whole number, 0 or more')
  if (!Number.isInteger(options.windowMs) || options.windowMs < 1000) throw new Error('rate-limit: windowMs must be a whole number of milliseconds, 1000 or more')
  let refused = 0
  await fastify.register(fastifyRateLimit, {
    global: options.max > 0,
    max: options.max,
    timeWindow: options.windowMs,
    // after clerk-auth's onRequest hook, before the body is read
    hook: 'preParsing',
    keyGenerator: (request) => callerKey(request.auth),
    allowList: anonymous,
    // RateLimit-Limit, -Remaining, -Reset (and Retry-After on a 429)
    enableDraftSpec: true,
    skipOnError: true,
    ...(options.redis === undefined ? {} : { redis: options.redis, nameSpace: `${options.keyPrefix ?? ''}rate-limit:` }),
    onExceeded: () => { refused++ },
    errorResponseBuilder: (_request, context) => refusal(context.max, Math.ceil(context.ttl / 1000))
  })

  const limiter = options.max > 0 ? fastify.createRateLimit() : undefined
  fastify.decorate('rateLimits', {
    refused: () => refused,
    count: limiter === undefined
      ? undefined
      : async (request, reply) => {
        const limit = await limiter(request)
        if (limit.isAllowed) return undefined
        reply.header('ratelimit-limit', limit.max).header('ratelimit-remaining', limit.remaining).header('ratelimit-reset', limit.ttlInSeconds)
        if (!limit.isExceeded) return undefined
        refused++
        reply.header('retry-after', limit.ttlInSeconds)
        return refusal(limit.max, limit.ttlInSeconds)
      }
  })
}

export default fp(rateLimit, { name: 'rate-limit', fastify: '5.x', dependencies: ['clerk-auth'] })
