import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

// One line per request, registered only when asked for: at full speed, logging costs more than
// answering a request with a cached verification.
async function requestLog (fastify: FastifyInstance): Promise<void> {
  fastify.addHook('onResponse', async (request, reply) => {
    request.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
  })
}

export default fp(requestLog, { name: 'request-log', fastify: '5.x' })
