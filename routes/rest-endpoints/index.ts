import type { FastifyInstance } from 'fastify'
import { idParamsSchema, plainTextResponse, type IdParams } from '../../src/schemas.js'

export default async function restEndpoints (fastify: FastifyInstance): Promise<void> {
  fastify.get<{ Params: IdParams }>('/:id', {
    schema: { params: idParamsSchema, response: { 200: plainTextResponse } }
  }, async (request) => `REST Ping #${request.params.id}!`)
}
