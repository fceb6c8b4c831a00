// Builds the app exactly as src/server.ts does, closed when the test ends.
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Test } from 'tap'
import { tempDir } from '../../plugins/clerk-auth/test/support/temp-dir.js'
import serviceApp, { serverOptions, type AppOptions } from '../../src/app.js'

export type Env = NonNullable<AppOptions['env']>

export interface BuildOptions {
  /** Registers extra routes or hooks before the app is made ready. */
  extend?: (app: FastifyInstance) => void
  logger?: Parameters<typeof serverOptions>[0]
  /** The clock clerk-auth reads. */
  now?: () => number
  /** Tracing on: OpenTelemetry's Fastify instrumentation, as src/tracing.ts gives the server. */
  fastifyOtel?: AppOptions['fastifyOtel']
}

/** The service app, built as the server builds it, closed when the test ends. */
export async function buildApp (t: Test, env: Env, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify(serverOptions(options.logger ?? false, env.TRUST_PROXY === undefined ? undefined : String(env.TRUST_PROXY)))
  // No metrics unless a test asks for them (with a free port): apps of parallel tests would compete for one.
  // No shedding unless a test asks for it: a test process that makes RSA keys stalls its own event loop.
  // The development issuer (when the test names no issuer) on a free port, its key in a temporary folder.
  const defaults = { METRICS_PORT: 0, OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: 0, DEV_ISSUER_PORT: 0, DEV_ISSUER_DIR: tempDir(t) }
  app.register(fp(serviceApp), { env: { ...defaults, ...env }, now: options.now, fastifyOtel: options.fastifyOtel })
  // as a plugin of its own, after the app's plugins, the way a user's routes would be added
  const { extend } = options
  if (extend !== undefined) app.register(async (instance) => extend(instance))
  t.teardown(async () => await app.close())
  await app.ready()
  return app
}
