// The design card's recipe, exactly as the READMEs of @fastify/jwt and get-jwks document it, for
// `npm run bench -- --recipe`: Fastify + @fastify/jwt with a secret callback into get-jwks, RS256,
// allowedIss, the verified-token cache on, and the same two routes (REST and Mercurius) as the others.
import fastifyJwt from '@fastify/jwt'
import Fastify, { type FastifyRequest } from 'fastify'
import buildGetJwks from 'get-jwks'
import mercurius from 'mercurius'
import { idParamsSchema, plainTextResponse, type IdParams } from '../src/schemas.js'

const issuer = process.env.RECIPE_ISSUER_URL
if (issuer === undefined) throw new Error('RECIPE_ISSUER_URL is required')

const app = Fastify({ logger: false })
const getJwks = buildGetJwks({ issuersWhitelist: [issuer] })

await app.register(fastifyJwt, {
  decode: { complete: true },
  secret: (_request: FastifyRequest, token: unknown) => {
    const { header: { kid, alg }, payload: { iss } } = token as { header: { kid: string, alg: string }, payload: { iss: string } }
    return getJwks.getPublicKey({ kid, domain: iss, alg })
  },
  verify: { algorithms: ['RS256'], allowedIss: issuer, cache: true }
})

app.addHook('onRequest', async (request, reply) => {
  try {
    await request.jwtVerify()
  } catch (err) {
    return reply.send(err)
  }
})

app.get<{ Params: IdParams }>('/rest-endpoints/:id', {
  schema: { params: idParamsSchema, response: { 200: plainTextResponse } }
}, async (request) => `REST Ping #${request.params.id}!`)
await app.register(mercurius, {
  schema: 'type Query { pingOne(id: String!): String! }',
  resolvers: { Query: { pingOne: (_root: unknown, { id }: { id: string }) => `GraphQL Ping #${id}!` } },
  jit: 1
})
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening ${url}\n`)
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
