import type { FastifyInstance } from 'fastify'

export default async function health (fastify: FastifyInstance): Promise<void> {
  fastify.get('/', {
    config: { public: true },
    schema: { response: { 200: { type: 'object', properties: { status: { const: 'ok' } } } } }
  }, async () => ({ status: 'ok' }))
}
