import type { FastifyInstance } from 'fastify'
import type { MachineAuth } from '../../plugins/clerk-auth/index.js'
import { idParamsSchema, type IdParams } from '../../src/schemas.js'

export default async function machinePings (fastify: FastifyInstance): Promise<void> {
  // For backend jobs: machine credentials only, so a browser's session token gets 401 token_type_not_accepted.
  fastify.get<{ Params: IdParams }>('/:id', {
    config: { acceptsToken: ['m2m_token', 'oauth_token'] },
    schema: { params: idParamsSchema, response: { 200: { type: 'string' } } }
  }, async (request) => `Machine Ping #${request.params.id} for ${(request.auth as MachineAuth).subject}!`)
}
