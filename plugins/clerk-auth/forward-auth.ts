// Gateway mode: the forward-auth routes nginx (auth_request), Traefik (ForwardAuth) and Envoy
// (ext_authz, HTTP service) ask about each request they hold. Register it with a prefix:
//   app.register(forwardAuth, { prefix: '/auth/verify' })
// Not wrapped in fastify-plugin: its body handling stays inside its own routes.
import { STATUS_CODES } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, HookHandlerDoneFunction } from 'fastify'
import { LruMap } from 'toad-cache'
import type { ClerkAuth } from './auth-object.js'
import type { Access } from './authorization.js'
import { identityHeaderSent, identityHeaders, MAX_GATEWAY_PARAMETERS_LENGTH, parseGatewayAccess, pathParameters } from './gateway.js'

// Distinct parameter strings: one per gateway route in a sane configuration.
const ACCESS_CACHE_SIZE = 1000
// Unusable parameters are a gateway's misconfiguration: each distinct one is logged once, and no more than this many a minute.
const PROBLEM_LOGS_PER_MINUTE = 10

/** Carries a refusal's body to gateways that answer the client themselves (nginx: auth_request_set). */
export const REFUSAL_HEADER = 'x-clerk-refusal'

const ALL_METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS']

// JSON bodies go into a header as ASCII: \u escapes for anything else.
const asciiJson = (json: string): string => json.replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)

export async function forwardAuth (fastify: FastifyInstance): Promise<void> {
  if (!fastify.hasDecorator('clerkAuth')) throw new Error('forwardAuth needs clerk-auth: register it first, in this context or a parent')
  const { clerkAuth } = fastify
  const now = clerkAuth.verifier.options.now
  const accessCache = new LruMap<Access | string>(ACCESS_CACHE_SIZE)
  let minuteStartedAt = -Infinity
  let problemsLogged = 0
  const prefixLength = fastify.prefix.length

  function accessFor (parameters: string, log: FastifyRequest['log']): Access | string {
    const cached = accessCache.get(parameters)
    if (cached !== undefined) return cached
    const access = parseGatewayAccess(parameters)
    // an over-long string is refused before it is read: not kept either
    if (parameters.length <= MAX_GATEWAY_PARAMETERS_LENGTH) accessCache.set(parameters, access)
    if (typeof access === 'string') {
      const at = now()
      if (at - minuteStartedAt >= 60_000) {
        minuteStartedAt = at
        problemsLogged = 0
      }
      if (problemsLogged++ < PROBLEM_LOGS_PER_MINUTE) log.warn({ parameters: parameters.slice(0, 200), problem: access }, 'forward-auth parameters unusable: fix the gateway configuration')
    }
    return access
  }

  function answer (reply: FastifyReply, statusCode: 400 | 403, code: string, message: string): void {
    reply.code(statusCode).send({ statusCode, error: STATUS_CODES[statusCode], code, message })
  }

  // Answered before any body is read: the gateway's parameters, the client's headers, the token.
  function decide (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const sent = identityHeaderSent(request.headers)
    if (sent !== undefined) {
      answer(reply, 403, 'identity_header_sent', `The request carries ${sent}: X-Clerk-* headers are set by the gateway from the verified token, never by the client.`)
      return
    }
    // After the prefix: '' or '?<parameters>', a URL the gateway wrote whole (nginx, Traefik); or
    // '/<parameters>/<client path and query>', Envoy's path_prefix and then the client's, of which only
    // the prefix is the gateway's.
    const rest = request.url.slice(prefixLength)
    const parameters = rest.startsWith('/') ? pathParameters(rest.slice(1)) : rest.slice(1)
    if (parameters === undefined) {
      answer(reply, 400, 'gateway_parameters_invalid', `After ${fastify.prefix}/ comes a segment of parameters and then the client's path (Envoy's path_prefix: "${fastify.prefix}/<parameters>"); nginx and Traefik ask ${fastify.prefix}?<parameters>.`)
      return
    }
    const access = accessFor(parameters, request.log)
    if (typeof access === 'string') {
      answer(reply, 400, 'gateway_parameters_invalid', `The forward-auth parameters ${access}.`)
      return
    }
    clerkAuth.guard(request, reply, access, done)
  }

  // A gateway only asks about a request's headers; a forwarded body is left unread, whatever its type.
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', (_request, _payload, done) => { done(null) })

  const route = {
    method: ALL_METHODS,
    // Authenticates in its own hook, with the gateway's parameters.
    config: { public: true },
    // left out of OpenAPI documents (@fastify/swagger reads `hide`; Fastify's own types do not know it)
    schema: { hide: true } as FastifySchema,
    onRequest: decide,
    onSend: async (_request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      // only refusals have a body
      if (typeof payload === 'string') reply.header(REFUSAL_HEADER, asciiJson(payload))
      return payload
    },
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      // request.auth is set: decide let the request through
      reply.headers(identityHeaders(request.auth as ClerkAuth)).send()
    }
  }
  fastify.route({ ...route, url: '/' })
  fastify.route({ ...route, url: '/*' })
}
