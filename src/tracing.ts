// OpenTelemetry tracing, configured by the standard OTEL_* variables and off without them: then not
// one module of the SDK is loaded. `npm start` loads this file first (node --import), so that the SDK
// is running before the modules it instruments are imported (ioredis); the server imports it too,
// for the instrumentation of Fastify, which is registered as a plugin.
import { register } from 'node:module'
import type { FastifyOtelInstrumentation } from '@fastify/otel'
import { trace } from '@opentelemetry/api'
import { fastifyOtelOptions, loadOtelVariables, SERVICE_NAME, serviceNamed, tracingRequested } from './otel-variables.js'

export interface Tracing {
  /** @fastify/otel: its plugin() goes first in the app, so that every hook runs inside the request's span. */
  fastifyOtel: FastifyOtelInstrumentation
  /** Ends the SDK, exporting the spans it still holds. */
  shutdown: () => Promise<void>
}

async function startTracing (): Promise<Tracing> {
  // ioredis is imported as an ES module: its instrumentation needs import-in-the-middle's loader hook
  const { createAddHookMessageChannel } = await import('import-in-the-middle')
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel()
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions)
  const [{ NodeSDK }, { FastifyOtelInstrumentation }, { IORedisInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@fastify/otel'),
    import('@opentelemetry/instrumentation-ioredis')
  ])
  const fastifyOtel = new FastifyOtelInstrumentation(fastifyOtelOptions(process.env))
  const sdk = new NodeSDK({
    // the service's own name unless the variables give one
    ...(serviceNamed(process.env) ? {} : { serviceName: SERVICE_NAME }),
    instrumentations: [fastifyOtel, new IORedisInstrumentation({ requireParentSpan: true })],
    // traces only: metrics are Prometheus' (/metrics), logs are JSON lines on stdout
    metricReaders: [],
    logRecordProcessors: []
  })
  sdk.start()
  await waitForAllMessagesAcknowledged()
  return { fastifyOtel, shutdown: async () => { await sdk.shutdown() } }
}

loadOtelVariables(process.env, process.cwd())
const running: Tracing | undefined = tracingRequested(process.env) ? await startTracing() : undefined

/** The tracing started for this process, if the variables asked for it. */
export function runningTracing (): Tracing | undefined {
  return running
}

/** Log fields that tie a line to its trace (pino's mixin): the active span's ids, when there is one. */
export function traceLogFields (): Record<string, string> {
  const span = trace.getActiveSpan()
  if (span === undefined) return {}
  const { traceId, spanId, traceFlags } = span.spanContext()
  return { trace_id: traceId, span_id: spanId, trace_flags: `0${traceFlags.toString(16)}` }
}
