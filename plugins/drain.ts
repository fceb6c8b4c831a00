import { Server as NetServer, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** Shutdown in steps: draining (still serving, /ready 503), then the listener closes, then the rest. */
    drain: {
      start: () => void
      isDraining: () => boolean
      /**
       * Stops accepting connections and resolves once every connection accepted before has sent its
       * request, or after `graceMs` when those still silent are closed; `close()` then finishes what
       * is in flight.
       */
      stopAccepting: (graceMs: number) => Promise<void>
    }
  }
}

/**
 * While draining, /ready answers 503 so that load balancers take the instance out, and every answer
 * says `Connection: close` so that kept-alive clients reconnect elsewhere; requests are still served.
 *
 * At the close, a connection accepted a moment ago may still have its request on the way: the listener
 * is closed first, such connections get a bounded time to deliver it (it is answered, with
 * `Connection: close`, like any other), and those that send nothing in that time are closed, so a
 * silent client cannot hold the shutdown up.
 */
async function drain (fastify: FastifyInstance): Promise<void> {
  let draining = false
  const withoutRequest = new Set<Socket>()
  let allSent: (() => void) | undefined
  const forget = (socket: Socket): void => {
    if (withoutRequest.delete(socket) && withoutRequest.size === 0) allSent?.()
  }
  fastify.server.on('connection', (socket: Socket) => {
    withoutRequest.add(socket)
    socket.once('close', () => { forget(socket) })
  })
  fastify.server.on('request', (request) => { forget(request.socket) })

  fastify.decorate('drain', {
    start: () => { draining = true },
    isDraining: () => draining,
    stopAccepting: async (graceMs: number) => {
      // net's close: kept-alive connections may still bring a request until close() ends them
      if (fastify.server.listening) NetServer.prototype.close.call(fastify.server)
      if (withoutRequest.size === 0) return
      let timer: NodeJS.Timeout | undefined
      await new Promise<void>((resolve) => {
        allSent = resolve
        timer = setTimeout(resolve, graceMs)
      })
      clearTimeout(timer)
      allSent = undefined
      for (const socket of withoutRequest) socket.destroy()
    }
  })
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('connection', 'close')
    done(null, payload)
  })
}

export default fp(drain, { name: 'drain', fastify: '5.x' })
