import type { FastifyInstance } from 'fastify'
import { authObjectSchema, TOKEN_TYPES } from '../../plugins/clerk-auth/index.js'

export default async function me (fastify: FastifyInstance): Promise<void> {
  // What the backend sees of the caller, person or machine: the auth object without has() and without the raw token.
  fastify.get('/', {
    config: { acceptsToken: TOKEN_TYPES.filter(fastify.clerkAuth.canVerify) },
    schema: { response: { 200: authObjectSchema } }
  }, async (request) => request.auth)
}
