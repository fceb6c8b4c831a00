import type { FastifyInstance } from 'fastify'

export default async function ready (fastify: FastifyInstance): Promise<void> {
  fastify.get('/', {
    config: { public: true },
    schema: {
      response: {
        200: { type: 'object', properties: { status: { const: 'ready' } } },
        503: { type: 'object', properties: { status: { const: 'waiting_for_issuer' } } }
      }
    }
  }, async (_request, reply) => {
    if (fastify.clerkAuth.isReady()) return { status: 'ready' }
    return reply.code(503).header('retry-after', '5').send({ status: 'waiting_for_issuer' })
  })
}
