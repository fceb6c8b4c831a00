import type { FastifyInstance } from 'fastify'
import type { MachineAuth, TokenType } from '../../plugins/clerk-auth/index.js'
import { idParamsSchema, plainTextResponse, type IdParams } from '../../src/schemas.js'

const MACHINES: TokenType[] = ['m2m_token', 'oauth_token', 'api_key']

export default async function machinePings (fastify: FastifyInstance): Promise<void> {
  // For backend jobs: machine credentials only, so a browser's session token gets 401 token_type_not_accepted.
  // API keys only where the service can have Clerk verify them (a secret key is set).
  fastify.get<{ Params: IdParams }>('/:id', {
    config: { acceptsToken: MACHINES.filter(fastify.clerkAuth.canVerify) },
    schema: { params: idParamsSchema, response: { 200: plainTextResponse } }
  }, async (request) => `Machine Ping #${request.params.id} for ${(request.auth as MachineAuth).subject}!`)
}
