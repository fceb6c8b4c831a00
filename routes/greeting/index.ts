import type { FastifyInstance } from 'fastify'
import { plainTextResponse } from '../../src/schemas.js'

export default async function greeting (fastify: FastifyInstance): Promise<void> {
  // Sign-in is optional: a guest is greeted too; a token that is sent must be valid.
  fastify.get('/', {
    config: { optionalAuth: true },
    schema: { response: { 200: plainTextResponse } }
  }, async ({ auth }) => `Hello, ${auth === null ? 'guest' : auth.tokenType === 'session_token' ? auth.userId : auth.subject}!`)
}
