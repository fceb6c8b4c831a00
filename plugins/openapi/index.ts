// OpenAPI for the REST routes, from their own schemas (@fastify/swagger): the bearer scheme and the
// refusal bodies are added to every protected route. /docs/json is the document, /docs a page served
// from the package's own files (@fastify/swagger-ui), public like GraphiQL.
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { makeRoutesPublic, TOKEN_TYPES } from '../clerk-auth/index.js'

const refusal = (description: string) => ({
  description,
  type: 'object',
  required: ['statusCode', 'error', 'code', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    code: { type: 'string', description: 'Stable: see the README, Refusals' },
    message: { type: 'string' }
  }
})

const forbidden = {
  ...refusal('Authenticated, but without what the route requires'),
  required: ['statusCode', 'error', 'code', 'message', 'missing'],
  properties: { ...refusal('').properties, missing: { type: 'object', additionalProperties: true, description: 'The part of the requirement the caller lacks' } }
}

// Routes documented elsewhere (GraphQL has its own schema and GraphiQL) or that are the documentation.
const UNDOCUMENTED = /^\/(graphql|graphiql|docs)(\/|$)/

async function openapi (fastify: FastifyInstance): Promise<void> {
  await fastify.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Clerk-authenticated API', version: '0.1.0', description: 'REST routes behind Clerk authentication. GraphQL: POST /graphql (GraphiQL at /graphiql).' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'A Clerk session token, or a machine credential where the route accepts one (M2M or OAuth token, API key)' }
        }
      }
    },
    transform: ({ schema, url: declared, route }) => {
      // a folder's index route is declared as /me/ and served as /me too: document it as /me
      const url = declared.length > 1 ? declared.replace(/\/$/, '') : declared
      if (UNDOCUMENTED.test(url)) return { schema: { ...schema, hide: true }, url }
      const config = route.config ?? {}
      if (config.public === true) return { schema, url }
      const accepts = config.acceptsToken ?? ['session_token']
      const responses: Record<string, unknown> = {
        ...(schema?.response as Record<string, unknown> | undefined),
        401: refusal('No valid token of a kind this route accepts (WWW-Authenticate says why)'),
        ...(config.auth === undefined ? {} : { 403: forbidden }),
        503: refusal('The issuer\'s keys or Clerk\'s API cannot be reached now (Retry-After)')
      }
      const requirement = config.auth === undefined ? '' : ` Requires ${JSON.stringify(config.auth)}.`
      const optional = config.optionalAuth === true ? ' Sign-in is optional: without a token the route answers a guest; a token that is sent must be valid.' : ''
      return {
        schema: {
          ...schema,
          // {}: OpenAPI's "no security" alternative, for routes where a token is optional
          security: config.optionalAuth === true ? [{ bearer: [] }, {}] : [{ bearer: [] }],
          response: responses,
          description: `Accepts: ${accepts.filter((type) => (TOKEN_TYPES as readonly string[]).includes(type)).join(', ')}.${requirement}${optional}`
        },
        url
      }
    }
  })
  // The page and its files need no token.
  await fastify.register(async (docs) => {
    makeRoutesPublic(docs)
    await docs.register(fastifySwaggerUi, {
      routePrefix: '/docs',
      // no call to the public validator: the page asks nothing of any other host
      uiConfig: { validatorUrl: null },
      staticCSP: true,
      // the package's policy without its outside hosts and without upgrading loopback http to https;
      // React sets style attributes (as on the GraphiQL page)
      transformStaticCSP: (header) => header.replace(' validator.swagger.io', '').replaceAll(' https:', '')
        .replace(' upgrade-insecure-requests;', '').replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    })
  })
}

export default fp(openapi, { name: 'openapi', fastify: '5.x', dependencies: ['clerk-auth'] })
