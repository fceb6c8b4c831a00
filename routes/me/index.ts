import type { FastifyInstance } from 'fastify'
import { authObjectSchema } from '../../plugins/clerk-auth/index.js'

export default async function me (fastify: FastifyInstance): Promise<void> {
  // What the backend sees of the caller: the auth object without has() and without the raw token.
  fastify.get('/', { schema: { response: { 200: authObjectSchema } } }, async (request) => request.auth)
}
