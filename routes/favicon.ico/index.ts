import type { FastifyInstance } from 'fastify'

export default async function favicon (fastify: FastifyInstance): Promise<void> {
  // Every browser asks for it: no icon, and no 401 in the console; browsers keep the answer a day.
  fastify.get('/', {
    config: { public: true },
    schema: { hide: true }
  }, async (_request, reply) => reply.code(204).header('cache-control', 'public, max-age=86400').send())
}
