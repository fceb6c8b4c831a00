// The ceiling: the same routes on Fastify + Mercurius with no authentication at all.
// With BARE_RSA_VERIFY=1 it is "the RSA limit" instead: each REST request checks one RSA-2048
// signature with a ready key object, the least work any verifier must do for a token never seen before.
import { generateKeyPairSync, sign, verify } from 'node:crypto'
import Fastify from 'fastify'
import mercurius from 'mercurius'
import { idParamsSchema, plainTextResponse, type IdParams } from '../src/schemas.js'

const rsaPerRequest = process.env.BARE_RSA_VERIFY === '1'
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
// about the size of a Clerk token's signed part
const signedPart = Buffer.from('x'.repeat(600))
const signature = sign('sha256', signedPart, privateKey)

const app = Fastify({ logger: false })
app.get<{ Params: IdParams }>('/rest-endpoints/:id', {
  schema: { params: idParamsSchema, response: { 200: plainTextResponse } }
}, async (request) => {
  if (rsaPerRequest && !verify('sha256', signedPart, publicKey, signature)) throw new Error('the signature does not verify')
  return `REST Ping #${request.params.id}!`
})
app.get<{ Params: IdParams }>('/machine-pings/:id', {
  schema: { params: idParamsSchema, response: { 200: plainTextResponse } }
}, async (request) => `Machine Ping #${request.params.id} for mch_bench!`)
await app.register(mercurius, {
  schema: 'type Query { pingOne(id: String!): String! }',
  resolvers: { Query: { pingOne: (_root: unknown, { id }: { id: string }) => `GraphQL Ping #${id}!` } },
  jit: 1
})
const url = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
process.stdout.write(`listening ${url}\n`)
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
