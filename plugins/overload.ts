// Load shedding: when the event loop falls behind (the process has more work than it can do), new
// requests get a cheap 503 with Retry-After instead of joining a queue whose wait grows without bound.
// @fastify/under-pressure measures the delay; this decides the answer. Registered before clerk-auth,
// so that a shed request costs no verification.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'

export interface OverloadOptions {
  /** Mean event-loop delay, in ms over a sample, above which requests are shed; 0 turns shedding off. */
  maxEventLoopDelayMs: number
  /** Seconds a shed client is told to wait (Retry-After). */
  retryAfterSeconds: number
}

// How often the delay is sampled (under-pressure's default is 1 s: too slow to react).
const SAMPLE_INTERVAL_MS = 250

declare module 'fastify' {
  interface FastifyInstance {
    overload: {
      /** Requests shed so far. */
      shed: () => number
    }
  }
}

// Probes answer whatever the load: a shed liveness probe would get a busy process restarted.
const ALWAYS_ANSWERED = new Set(['/health', '/ready'])

async function overload (fastify: FastifyInstance, options: OverloadOptions): Promise<void> {
  let shed = 0
  fastify.decorate('overload', { shed: () => shed })
  if (options.maxEventLoopDelayMs === 0) return
  const body = JSON.stringify({
    statusCode: 503,
    error: 'Service Unavailable',
    code: 'overloaded',
    message: `The service has more requests than it can answer: retry after ${options.retryAfterSeconds} s.`
  })
  await fastify.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    sampleInterval: SAMPLE_INTERVAL_MS,
    // Sends the 503 itself (a stable code, not under-pressure's error), or lets the request go on.
    pressureHandler: (request: FastifyRequest, reply: FastifyReply) => {
      if (ALWAYS_ANSWERED.has(request.routeOptions.url as string)) return
      shed++
      reply.code(503).header('retry-after', String(options.retryAfterSeconds)).type('application/json; charset=utf-8').send(body)
    }
  })
}

export default fp(overload, { name: 'overload', fastify: '5.x' })
