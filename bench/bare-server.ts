// The ceiling: the same two routes on Fastify + Mercurius with no authentication at all.
import Fastify from 'fastify'
import mercurius from 'mercurius'

const app = Fastify({ logger: false })
app.get<{ Params: { id: string } }>('/rest-endpoints/:id', {
  schema: {
    params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 100 } }, required: ['id'] },
    response: { 200: { type: 'string' } }
  }
}, async (request) => `REST Ping #${request.params.id}!`)
await app.register(mercurius, {
  schema: 'type Query { pingOne(id: String!): String! }',
  resolvers: { Query: { pingOne: (_root: unknown, { id }: { id: string }) => `GraphQL Ping #${id}!` } },
  jit: 1
})
const url = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
process.stdout.write(`listening ${url}\n`)
process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
