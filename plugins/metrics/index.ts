// Prometheus metrics for operators: clerk-auth's decisions, cache, signatures and keys, request
// durations by route and status, and the process's own (CPU, memory, event loop). Served on their own
// listener (listener.ts), never on the public port; with WORKERS > 1 the primary process serves the
// sum over workers (prom-client's AggregatorRegistry), each worker only answers it.
import cluster from 'node:cluster'
import type { Server } from 'node:http'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AggregatorRegistry, Registry, type Metric } from 'prom-client'
import { registerClerkAuthMetrics } from './clerk-auth-metrics.js'
import { listenForMetrics, metricsUrl } from './listener.js'
import { registerProcessMetrics } from './process-metrics.js'
import { counterReadAtScrape } from './read-at-scrape.js'
import { RequestDurations } from './request-durations.js'

export { listenForMetrics, metricsUrl } from './listener.js'
export { registerSharedStoreMetrics, type SharedStoreCounts } from './shared-store-metrics.js'
export { registerSocketMetrics, type SocketCounts } from './socket-metrics.js'

export interface MetricsOptions {
  /** Where GET /metrics answers. */
  host: string
  /** 0 turns metrics off: nothing is counted or timed, fastify.metrics is null. */
  port: number
  /** The clock key-set ages are told by (clerk-auth's). */
  now?: () => number
  /**
   * When the port is taken: 'fail' stops start-up (production: an instance without metrics goes
   * unwatched); 'warn' logs a warning and carries on without the listener (development).
   */
  whenPortInUse?: 'fail' | 'warn'
}

declare module 'fastify' {
  interface FastifyInstance {
    /** null when metrics are off (port 0). */
    metrics: {
      registry: Registry
      /** The metrics as Prometheus text. */
      read: () => Promise<{ contentType: string, body: string }>
      /** The listener's URL, once listening (undefined in cluster workers, where the primary listens). */
      url: () => string | undefined
    } | null
  }
}

async function metrics (fastify: FastifyInstance, options: MetricsOptions): Promise<void> {
  if (options.port === 0) {
    fastify.decorate('metrics', null)
    return
  }
  const registry = new Registry()
  registerProcessMetrics(registry)
  registerClerkAuthMetrics(registry, fastify.clerkAuth.stats, fastify.clerkAuth.isReady, options.now ?? Date.now)

  counterReadAtScrape(registry, 'http_requests_shed_total', 'Requests answered 503 overloaded because the event loop was behind (OVERLOAD_MAX_EVENT_LOOP_DELAY_MS).',
    [], () => [{ labels: {}, value: fastify.overload.shed() }])

  counterReadAtScrape(registry, 'http_requests_rate_limited_total', 'Requests answered 429 rate_limited: a caller over its limit (RATE_LIMIT_MAX, or a route\'s own).',
    [], () => [{ labels: {}, value: fastify.rateLimits.refused() }])

  counterReadAtScrape(registry, 'http_cors_origin_refused_total', 'Cross-origin requests from origins not allowed (CORS_ORIGINS): preflights answered 403, requests answered without CORS headers.',
    ['kind'], () => Object.entries(fastify.cors.refusedOrigins()).map(([kind, value]) => ({ labels: { kind }, value })))

  const durations = new RequestDurations('http_request_duration_seconds', 'Time to answer a request, by method, route and status.')
  registry.registerMetric(durations as unknown as Metric)
  // Each route gets its own observer when declared (routes declared after this plugin: the app's).
  // An onResponse hook: it also makes Fastify time every request, logger or not.
  fastify.addHook('onRoute', (route) => {
    const observe = durations.forRoute(route.method, route.url)
    const own = route.onResponse === undefined ? [] : [route.onResponse].flat()
    route.onResponse = [...own, function timeRequest (request, reply, done) {
      observe(request.method, reply.statusCode, reply.elapsedTime)
      done()
    }]
  })

  const read = async (): Promise<{ contentType: string, body: string }> => ({ contentType: registry.contentType, body: await registry.metrics() })
  let server: Server | undefined
  if (cluster.isWorker) {
    // the primary asks each worker for its metrics and serves the sum; constructing an
    // AggregatorRegistry is what makes a worker answer those requests
    AggregatorRegistry.setRegistries([registry])
    // eslint-disable-next-line no-new
    new AggregatorRegistry()
  } else {
    fastify.addHook('onReady', async () => {
      try {
        server = await listenForMetrics(options.host, options.port, read)
      } catch (err) {
        if (options.whenPortInUse !== 'warn' || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
        fastify.log.warn(`${(err as Error).message} Carrying on without metrics.`)
        return
      }
      fastify.log.info({ url: metricsUrl(server) }, 'Metrics listening')
    })
    fastify.addHook('onClose', async () => {
      if (server === undefined) return
      server.closeAllConnections()
      await new Promise((resolve) => server?.close(resolve))
    })
  }
  fastify.decorate('metrics', { registry, read, url: () => server === undefined ? undefined : metricsUrl(server) })
}

export default fp(metrics, { name: 'metrics', fastify: '5.x', dependencies: ['clerk-auth', 'cors', 'overload', 'rate-limit'] })
