import { errorCodes, type FastifyInstance, type FastifyRequest, type preParsingHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { getOperationAST, Kind, validate, type DocumentNode, type GraphQLError, type OperationTypeNode } from 'graphql'
import mercurius, { type MercuriusOptions } from 'mercurius'
import { isRefusal, makeRoutesPublic, refusalTexts, type RefusalCode, type TokenType } from '../clerk-auth/index.js'
import { applyAuthDirective, optionalAuthFields } from './auth-directive.js'
import { INTROSPECTION_FIELDS, isIntrospectionOnly, rootSelectsOnly } from './introspection.js'
import { queryLimits, queryProblem, type QueryProblem } from './query-limits.js'
import { resolvers, schema } from './schema.js'
import { setUpSubscriptions, type SubscriptionOptions } from './subscriptions.js'

/** A refused operation: expected traffic, so it is answered without logging a stack trace. */
class OperationRefused extends mercurius.ErrorWithProps {
  constructor (readonly reason: string, message: string, extensions: Record<string, string>, statusCode: number) {
    super(message, extensions, statusCode)
  }

  static unauthenticated (reason: RefusalCode, statusCode: number): OperationRefused {
    return new OperationRefused(reason, refusalTexts[reason].message, { code: statusCode === 503 ? 'SERVICE_UNAVAILABLE' : 'UNAUTHENTICATED', reason }, statusCode)
  }

  /** A query over the limits, or not GraphQL text: 400 before validation runs. */
  static badQuery (problem: QueryProblem): OperationRefused {
    return new OperationRefused(problem.code, problem.message, { code: problem.code }, 400)
  }
}

/**
 * POST bodies are JSON only: 415 before the body is read. A page may send text/plain or a form
 * cross-site without a preflight, and the __session cookie with it: the operation would run as the
 * user. GET runs queries only (Mercurius answers anything else with 405). A callback hook: no promise
 * per request.
 */
const jsonBodiesOnly: preParsingHookHandler = (request, _reply, payload, done) => {
  const type = request.headers['content-type']
  if (request.method !== 'POST' || (type !== undefined && JSON_TYPE.test(type))) {
    done(null, payload)
    return
  }
  done(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(type ?? '(none)'))
}
const JSON_TYPE = /^application\/json\s*(;|$)/i

function isFastifyClientError (error: unknown): error is { code: string, statusCode: number } {
  const { code, statusCode } = (error ?? {}) as { code?: unknown, statusCode?: unknown }
  return typeof code === 'string' && code.startsWith('FST_') && typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500
}

// graphql-js names the fields and types a misspelt one resembles: with introspection closed, that
// would let anyone rebuild the schema by guessing. (graphql 17's hideSuggestions; 16 has none.)
const SUGGESTION = / Did you mean .*\?$/

/** The formatter; hideSuggestions removes graphql-js' "Did you mean …?" from every message. */
const errorFormatterFor = (hideSuggestions: boolean): NonNullable<MercuriusOptions['errorFormatter']> => (execution, context) => {
  const formatted = formatError(execution, context)
  if (!hideSuggestions) return formatted
  const { response } = formatted as { response: { errors?: Array<{ message: string }> } }
  for (const error of response.errors ?? []) error.message = error.message.replace(SUGGESTION, '')
  return formatted
}

const formatError: NonNullable<MercuriusOptions['errorFormatter']> = (execution, context) => {
  // Mercurius formats failures only, so there is a first error; refusals come alone (the request stops there).
  const [first] = execution.errors as [GraphQLError]
  const refused = first.originalError
  if (isFastifyClientError(refused)) {
    // Fastify's own refusals before the handler (a body too large, a bad content type): their code is stable.
    return { statusCode: refused.statusCode, response: { data: null, errors: [{ message: first.message, extensions: { code: refused.code } }] } }
  }
  if (!(refused instanceof OperationRefused)) return mercurius.defaultErrorFormatter(execution, context)
  context.reply.log.debug({ code: refused.reason }, 'operation refused')
  return { statusCode: refused.statusCode as number, response: { data: null, errors: [first.toJSON()] } }
}

export interface GraphqlOptions {
  /** Whether signed-out callers may introspect the schema (and get "Did you mean" suggestions). */
  publicIntrospection: boolean
  /** The kinds of token GraphQL operations accept. */
  acceptsToken: readonly TokenType[]
  /** Subscriptions over WebSocket on /graphql (session tokens): their bounds and allowed origins (DEFAULT_SUBSCRIPTION_OPTIONS). */
  subscriptions?: Partial<SubscriptionOptions>
  /** Given each HTTP request's document before it is authenticated (tracing names its operation: requestedOperation). */
  observeOperation?: (request: FastifyRequest, document: DocumentNode) => void
}

/** The operation a request runs: its type, and its name when it has one. */
export interface GraphqlOperation {
  type: OperationTypeNode
  name: string | undefined
}

/** The operation of document that request runs (the one its operationName names); undefined if none is. */
export function requestedOperation (document: DocumentNode, request: FastifyRequest): GraphqlOperation | undefined {
  const params = (request.method === 'GET' ? request.query : request.body) as { operationName?: unknown } | null | undefined
  const operation = getOperationAST(document, typeof params?.operationName === 'string' ? params.operationName : undefined)
  return operation === null || operation === undefined ? undefined : { type: operation.operation, name: operation.name?.value }
}

async function graphql (fastify: FastifyInstance, options: GraphqlOptions): Promise<void> {
  // Every route of this (encapsulated) plugin skips the REST check: GraphQL authenticates each
  // operation in preExecution instead, so that introspection can run without a token.
  makeRoutesPublic(fastify)
  const sockets = await setUpSubscriptions(fastify, options.subscriptions)

  await fastify.register(mercurius, {
    schema,
    resolvers,
    schemaTransforms: [applyAuthDirective],
    // Compile a query to JavaScript from its second use; parsed and validated queries are cached (LRU).
    jit: 1,
    path: '/graphql',
    // GraphiQL is served by plugins/graphiql from local files, not from a CDN.
    graphiql: false,
    errorFormatter: errorFormatterFor(!options.publicIntrospection),
    // Bounds on what any caller, with a token or without, can make the parser and validation do.
    additionalRouteOptions: { bodyLimit: queryLimits.bodyBytes, preParsing: jsonBodiesOnly },
    graphql: { parseOptions: { maxTokens: queryLimits.tokens } },
    subscription: sockets.subscription
  })
  sockets.guardMessages()

  // Mercurius neither validates subscription documents nor bounds them: both happen here, at subscribe.
  fastify.graphql.addHook('preSubscriptionExecution', async (schema, document) => {
    const problem = queryProblem(document, queryLimits)
    if (problem !== undefined) throw OperationRefused.badQuery(problem)
    const [invalid] = validate(schema, document)
    if (invalid !== undefined) throw new mercurius.ErrorWithProps(options.publicIntrospection ? invalid.message : invalid.message.replace(SUGGESTION, ''), { code: 'GRAPHQL_VALIDATION_FAILED' })
  })

  // Runs on documents not in Mercurius' cache, before validation.
  fastify.graphql.addHook('preValidation', async (_schema, document) => {
    const problem = queryProblem(document, queryLimits)
    if (problem !== undefined) throw OperationRefused.badQuery(problem)
  })

  const { publicIntrospection, acceptsToken: accepts, observeOperation } = options
  if (!accepts.every(fastify.clerkAuth.canVerify)) {
    throw new Error('graphql option acceptsToken names api_key, which only Clerk\'s Backend API can verify: give clerk-auth its secretKey')
  }

  // What a signed-out caller may select at the root of a query: the @optionalAuth fields, and
  // introspection where it is public.
  const optional = optionalAuthFields(fastify.graphql.schema)
  const anonymousQueryFields = new Set([...optional, ...(publicIntrospection ? INTROSPECTION_FIELDS : [])])
  const anonymousOtherFields = publicIntrospection ? INTROSPECTION_FIELDS : new Set<string>()

  // Callers' rate limits (plugins/rate-limit.ts) count each operation, once its caller is known.
  const countCaller = fastify.hasDecorator('rateLimits') ? fastify.rateLimits.count : undefined

  fastify.graphql.addHook('preExecution', async (_schema, document, context) => {
    // graphql-js would run a subscription over HTTP once, as if it were a query: it belongs on a socket
    if (document.definitions.some((definition) => definition.kind === Kind.OPERATION_DEFINITION && definition.operation === 'subscription')) {
      throw new OperationRefused('subscription_over_http', 'Subscriptions run over a WebSocket on this path (graphql-transport-ws), not over HTTP.', { code: 'BAD_REQUEST' }, 400)
    }
    const { reply } = context
    if (observeOperation !== undefined) observeOperation(reply.request, document)
    // Authenticated callers (the common case) need no walk of the document.
    const result = await fastify.clerkAuth.authenticate(reply.request, accepts)
    if (!isRefusal(result)) {
      // no await at all without a limit: this is the hot path
      if (countCaller === undefined) return
      const limited = await countCaller(reply.request, reply)
      if (limited !== undefined) throw new OperationRefused(limited.code, limited.message, { code: 'RATE_LIMITED', reason: limited.code }, 429)
      return
    }
    if (result === 'token_missing' && rootSelectsOnly(document, anonymousQueryFields, anonymousOtherFields)) {
      fastify.clerkAuth.admitAnonymous()
      return
    }
    // Introspection stays public whatever the token: GraphiQL loads the schema with an expired one too.
    if (publicIntrospection && isIntrospectionOnly(document)) return
    const refusal = fastify.clerkAuth.refusalFor(result)
    reply.headers(refusal.headers)
    throw OperationRefused.unauthenticated(result, refusal.statusCode)
  })
}

export default fp(graphql, { name: 'graphql', fastify: '5.x', dependencies: ['clerk-auth'], encapsulate: true })
