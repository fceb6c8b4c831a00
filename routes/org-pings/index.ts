import type { FastifyInstance } from 'fastify'
import type { SessionAuth } from '../../plugins/clerk-auth/index.js'
import { idParamsSchema, plainTextResponse, type IdParams } from '../../src/schemas.js'

export default async function orgPings (fastify: FastifyInstance): Promise<void> {
  // An organization-scoped ping: a signed-in caller without the permission gets 403 forbidden.
  fastify.get<{ Params: IdParams }>('/:id', {
    config: { auth: { permission: 'org:pings:read' } },
    schema: { params: idParamsSchema, response: { 200: plainTextResponse } }
  }, async (request) => {
    // a session (the default acceptsToken) with the permission, so a member of an organization
    const { orgSlug, orgId } = request.auth as SessionAuth
    return `Org Ping #${request.params.id} for ${orgSlug ?? orgId as string}!`
  })
}
