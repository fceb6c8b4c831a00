import type { FastifyInstance } from 'fastify'

export default async function orgPings (fastify: FastifyInstance): Promise<void> {
  // An organization-scoped ping: a signed-in caller without the permission gets 403 forbidden.
  fastify.get<{ Params: { id: string } }>('/:id', {
    config: { auth: { permission: 'org:pings:read' } },
    schema: {
      params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 100 } }, required: ['id'] },
      response: { 200: { type: 'string' } }
    }
  }, async (request) => `Org Ping #${request.params.id} for ${request.auth?.orgSlug ?? request.auth?.orgId ?? ''}!`)
}
