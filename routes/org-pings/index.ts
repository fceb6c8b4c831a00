import type { FastifyInstance } from 'fastify'
import { idParamsSchema, type IdParams } from '../../src/schemas.js'

export default async function orgPings (fastify: FastifyInstance): Promise<void> {
  // An organization-scoped ping: a signed-in caller without the permission gets 403 forbidden.
  fastify.get<{ Params: IdParams }>('/:id', {
    config: { auth: { permission: 'org:pings:read' } },
    schema: { params: idParamsSchema, response: { 200: { type: 'string' } } }
  }, async (request) => `Org Ping #${request.params.id} for ${request.auth?.orgSlug ?? request.auth?.orgId ?? ''}!`)
}
