import type { FastifyInstance } from 'fastify'

export default async function ready (fastify: FastifyInstance): Promise<void> {
  fastify.get('/', {
    config: { public: true },
    schema: {
      response: {
        200: { type: 'object', properties: { status: { const: 'ready' } } },
        503: { type: 'object', properties: { status: { enum: ['waiting_for_issuer', 'draining'] } } }
      }
    }
  }, async (_request, reply) => {
    // shutting down: still serving, but no longer a target for new traffic
    if (fastify.drain.isDraining()) return reply.code(503).header('retry-after', '5').send({ status: 'draining' })
    if (fastify.clerkAuth.isReady()) return { status: 'ready' }
    return reply.code(503).header('retry-after', '5').send({ status: 'waiting_for_issuer' })
  })
}
