import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** Shutdown in two steps: draining (still serving, /ready 503) before the listener closes. */
    drain: { start: () => void, isDraining: () => boolean }
  }
}

/**
 * While draining, /ready answers 503 so that load balancers take the instance out, and every answer
 * says `Connection: close` so that kept-alive clients reconnect elsewhere; requests are still served.
 */
async function drain (fastify: FastifyInstance): Promise<void> {
  let draining = false
  fastify.decorate('drain', {
    start: () => { draining = true },
    isDraining: () => draining
  })
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('connection', 'close')
    done(null, payload)
  })
}

export default fp(drain, { name: 'drain', fastify: '5.x' })
