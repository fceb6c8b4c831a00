import type { FastifyInstance } from 'fastify'

export default async function greeting (fastify: FastifyInstance): Promise<void> {
  // Sign-in is optional: a guest is greeted too; a token that is sent must be valid.
  fastify.get('/', {
    config: { optionalAuth: true },
    schema: { response: { 200: { type: 'string' } } }
  }, async ({ auth }) => `Hello, ${auth === null ? 'guest' : auth.tokenType === 'session_token' ? auth.userId : auth.subject}!`)
}
