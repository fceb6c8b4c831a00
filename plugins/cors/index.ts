// Browsers on other origins: @fastify/cors answers preflights and adds the CORS headers, in onRequest
// and registered before clerk-auth, so that a preflight (which never carries a token) is answered
// before authentication and every refusal carries the headers a page needs to read it. Origins are
// matched exactly; one that is not listed gets no CORS header, and its preflight a 403 with a code.
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fastifyCors from '@fastify/cors'
import fp from 'fastify-plugin'
import { isBareOrigin } from '../clerk-auth/index.js'

export interface CorsOptions {
  /** Exact origins whose pages may call the API and read its answers, e.g. https://app.example.com. */
  origins: readonly string[]
  /** Also any port of localhost, 127.0.0.1 and [::1], over http or https (development). */
  allowLoopbackOrigins?: boolean
  /** How long a browser may reuse a preflight's answer. */
  maxAgeSeconds?: number
  /** Routes whose URL starts with one of these are left alone (a gateway's check: the gateway answers browsers). */
  excludedPrefixes?: readonly string[]
}

/** Cross-origin requests turned away, by kind: preflights (answered 403) and requests (answered without CORS headers). */
export interface RefusedOrigins {
  preflight: number
  request: number
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false leaves the route out of CORS (@fastify/cors reads it). */
    cors?: false
  }
  interface FastifyInstance {
    cors: {
      /** Cross-origin requests from origins that are not allowed, counted since start-up. */
      refusedOrigins: () => RefusedOrigins
    }
  }
}

const LOOPBACK_ORIGIN = /^https?:\/\/(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?$/

// What a page may send: the token, JSON bodies, and the headers GraphQL clients and tracing add.
export const ALLOWED_HEADERS = [
  'authorization', 'content-type', 'accept', 'apollo-require-preflight', 'x-apollo-operation-name',
  'apollographql-client-name', 'apollographql-client-version', 'traceparent', 'tracestate'
]
// What a page may read besides the CORS-safelisted headers: the challenge, when to retry, and the
// caller's rate limit.
export const EXPOSED_HEADERS = ['www-authenticate', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']
const METHODS = ['GET', 'HEAD', 'POST']
// Chromium caps a preflight's cache at two hours.
const DEFAULT_MAX_AGE_SECONDS = 7200

const originNotAllowed = JSON.stringify({
  statusCode: 403,
  error: 'Forbidden',
  code: 'origin_not_allowed',
  message: 'Pages of this origin may not call the API: the service\'s allowed origins (CORS) do not list it.'
})

/** Why the options are unusable, or undefined. */
export function corsOptionsProblem (options: CorsOptions): string | undefined {
  if (!Array.isArray(options.origins)) return 'origins must be a list of origins'
  const bad = options.origins.find((origin) => !isBareOrigin(origin))
  if (bad !== undefined) return `origins must list exact origins such as https://app.example.com (got ${JSON.stringify(bad)})`
  const maxAge = options.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS
  if (!Number.isInteger(maxAge) || maxAge < 0 || maxAge > 86_400) return 'maxAgeSeconds must be a whole number of seconds from 0 to 86400'
  return undefined
}

/** The test an Origin header passes to be allowed. */
export function originMatcher (options: Pick<CorsOptions, 'origins' | 'allowLoopbackOrigins'>): (origin: string) => boolean {
  const listed = new Set(options.origins)
  return options.allowLoopbackOrigins === true
    ? (origin) => listed.has(origin) || LOOPBACK_ORIGIN.test(origin)
    : (origin) => listed.has(origin)
}

async function cors (fastify: FastifyInstance, options: CorsOptions): Promise<void> {
  const problem = corsOptionsProblem(options)
  if (problem !== undefined) throw new Error(`cors: ${problem}`)
  const isAllowed = originMatcher(options)
  const excluded = options.excludedPrefixes ?? []
  const refused: RefusedOrigins = { preflight: 0, request: 0 }
  fastify.decorate('cors', { refusedOrigins: () => ({ ...refused }) })

  // Before the routes are declared: @fastify/cors skips routes whose config says cors: false.
  fastify.addHook('onRoute', (route) => {
    if (excluded.some((prefix) => route.url.startsWith(prefix))) route.config = { ...route.config, cors: false }
  })

  await fastify.register(fastifyCors, {
    // Reflects an allowed origin (with credentials: cookie mode), never '*'; false adds no CORS header.
    origin: (origin, callback) => { callback(null, origin !== undefined && isAllowed(origin) ? origin : false) },
    credentials: true,
    methods: METHODS,
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: options.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS
  })

  // After @fastify/cors, which has answered allowed preflights: what is left from another origin is turned away.
  fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const origin = request.headers.origin
    if (origin === undefined || isAllowed(origin) || request.routeOptions.config.cors === false) {
      done()
      return
    }
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      // Preflights never carry a token: answered here, they never reach authentication.
      refused.preflight++
      reply.code(403).type('application/json; charset=utf-8').send(originNotAllowed)
      return
    }
    // Browsers send Origin on same-origin POSTs too (GraphiQL, /docs): those are not cross-origin.
    if (!origin.endsWith(`//${request.host}`)) refused.request++
    done()
  })
}

export default fp(cors, { name: 'cors', fastify: '5.x' })
