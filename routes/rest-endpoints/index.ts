import type { FastifyInstance } from 'fastify'

export default async function restEndpoints (fastify: FastifyInstance): Promise<void> {
  fastify.get<{ Params: { id: string } }>('/:id', {
    schema: {
      params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 100 } }, required: ['id'] },
      response: { 200: { type: 'string' } }
    }
  }, async (request) => `REST Ping #${request.params.id}!`)
}
