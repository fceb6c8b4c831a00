import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import mercurius, { type MercuriusOptions } from 'mercurius'
import { isRefusal, makeRoutesPublic, refusalTexts, type RefusalCode } from '../clerk-auth/index.js'
import { applyAuthDirective } from './auth-directive.js'
import { isIntrospectionOnly } from './introspection.js'
import { resolvers, schema } from './schema.js'

/** A refused operation: expected traffic, so it is answered without logging a stack trace. */
class OperationRefused extends mercurius.ErrorWithProps {
  constructor (readonly reason: RefusalCode, statusCode: number) {
    super(refusalTexts[reason].message, { code: statusCode === 503 ? 'SERVICE_UNAVAILABLE' : 'UNAUTHENTICATED', reason }, statusCode)
  }
}

const errorFormatter: NonNullable<MercuriusOptions['errorFormatter']> = (execution, context) => {
  const first = execution.errors.length === 1 ? execution.errors[0] : undefined
  const refused = first?.originalError
  if (first === undefined || !(refused instanceof OperationRefused)) {
    return mercurius.defaultErrorFormatter(execution, context)
  }
  context.reply.log.debug({ code: refused.reason }, 'operation refused')
  return { statusCode: refused.statusCode as number, response: { data: null, errors: [first.toJSON()] } }
}

async function graphql (fastify: FastifyInstance): Promise<void> {
  // Every route of this (encapsulated) plugin skips the REST check: GraphQL authenticates each
  // operation in preExecution instead, so that introspection can run without a token.
  makeRoutesPublic(fastify)

  await fastify.register(mercurius, {
    schema,
    resolvers,
    schemaTransforms: [applyAuthDirective],
    // Compile a query to JavaScript from its second use; parsed and validated queries are cached (LRU).
    jit: 1,
    path: '/graphql',
    // GraphiQL is served by plugins/graphiql from local files, not from a CDN.
    graphiql: false,
    errorFormatter
  })

  fastify.graphql.addHook('preExecution', async (_schema, document, context) => {
    const { reply } = context
    // Authenticated callers (the common case) need no walk of the document for introspection.
    const result = await fastify.clerkAuth.authenticate(reply.request)
    if (!isRefusal(result) || isIntrospectionOnly(document)) return
    const refusal = fastify.clerkAuth.refusalFor(result)
    reply.headers(refusal.headers)
    throw new OperationRefused(result, refusal.statusCode)
  })
}

export default fp(graphql, { name: 'graphql', fastify: '5.x', dependencies: ['clerk-auth'], encapsulate: true })
