import { join } from 'node:path'
import fastifyAutoload from '@fastify/autoload'
import fastifyEnv from '@fastify/env'
import type { FastifyOtelInstrumentation } from '@fastify/otel'
import { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import clerkAuth, { clerkWebhooks, type InvalidOption } from '../plugins/clerk-auth/index.js'
import corsPlugin, { originMatcher } from '../plugins/cors/index.js'
import graphql from '../plugins/graphql/index.js'
import metrics, { registerSharedStoreMetrics, registerSocketMetrics } from '../plugins/metrics/index.js'
import overload from '../plugins/overload.js'
import rateLimit from '../plugins/rate-limit.js'
import tracing from '../plugins/tracing/index.js'
import sharedStore from '../plugins/shared-store/index.js'
import requestLog from '../plugins/request-log.js'
import devIssuer from './dev-issuer/index.js'
import { requestLoggerFactory } from './request-logger.js'
import { checkSettings, clerkAuthOptions, ConfigError, configuredIssuer, corsSetting, graphqlAcceptsToken, hintFor, metricsPortInUse, trustProxy, settingErrorFromOption, settingsSchema, toConfigError, webhookSigningSecret, type Settings } from './settings.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Settings
  }
}

/** Fastify's logger options with pino's (Fastify passes them to pino). */
export type LoggerOptions = Exclude<FastifyServerOptions['logger'], boolean | undefined>

export interface AppOptions {
  /** The settings to use instead of the process environment and .env (tests pass their own). */
  env?: Record<string, string | number | undefined>
  /** The clock clerk-auth judges tokens and key ages by, in ms since the epoch (tests pass their own). */
  now?: () => number
  /** OpenTelemetry's Fastify instrumentation, when tracing is on (src/tracing.ts starts it). */
  fastifyOtel?: FastifyOtelInstrumentation | undefined
}

// Where routes/auth/verify/ mounts the gateway check: gateways answer browsers themselves.
const GATEWAY_PREFIX = '/auth/verify'
// Where Clerk delivers webhooks (the endpoint's URL in the dashboard ends with it); servers call it, not pages.
export const WEBHOOK_PATH = '/webhooks/clerk'

// Tokens travel in these headers: no log line may carry them, whatever serializer is in use.
const redact = { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' }

/**
 * Fastify's two lines per request cost more than answering from the verification cache: they are
 * off the hot path (plugins/request-log.ts writes one with LOG_REQUESTS=true). Errors are still logged.
 */
class ErrorsOnlyLogController extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error !== null && error !== undefined) super.requestCompleted(error, request, reply)
  }
}

/**
 * The logger for the server process: readable lines (pino-pretty) for a person at a terminal outside
 * production, JSON lines for everything else (log collectors, pipes, containers). JSON goes to
 * process.stdout, which writes pipes and files synchronously: lines keep their order and the last one
 * is out before the process exits (pino's own destination writes in the background and flushes what
 * is left at exit, which can land before a write still in flight).
 */
export function processLogger (nodeEnv: string | undefined, stdoutIsTerminal: boolean, mixin?: () => object): LoggerOptions {
  // fields added to every line (pino's mixin), such as the ids of the trace it belongs to
  const added = mixin === undefined ? {} : { mixin }
  if (!stdoutIsTerminal || nodeEnv === 'production') return { level: 'info', stream: process.stdout, ...added }
  return { level: 'info', transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } }, ...added }
}

/** Fastify's own options, shared by the server and the tests so both build the same app. */
export function serverOptions (logger: false | LoggerOptions, trustProxySetting?: string): FastifyServerOptions {
  return {
    // request.ip: the client's address, from X-Forwarded-For only when sent by a proxy named in TRUST_PROXY
    // (hop counts are accepted at run time though Fastify's types leave them out)
    trustProxy: trustProxy(trustProxySetting) as FastifyServerOptions['trustProxy'],
    logger: logger === false ? false : { ...logger, redact },
    logController: new ErrorsOnlyLogController(),
    ...(logger === false ? {} : { childLoggerFactory: requestLoggerFactory }),
    // A request that reaches a closing server was sent before the load balancer saw the drain: serve
    // it (every answer while draining says Connection: close, so no connection outlives the close).
    return503OnClosing: false,
    forceCloseConnections: 'idle'
  }
}

export default async function serviceApp (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  try {
    await fastify.register(fastifyEnv, opts.env === undefined
      ? { schema: settingsSchema, dotenv: true }
      : { schema: settingsSchema, dotenv: false, env: false, data: opts.env })
  } catch (err) {
    throw toConfigError(err as Error)
  }
  checkSettings(fastify.config)
  fastify.log.level = fastify.config.LOG_LEVEL

  // Before every other hook: each runs within the request's span, which carries the incoming trace.
  if (opts.fastifyOtel !== undefined) {
    await fastify.register(opts.fastifyOtel.plugin())
    await fastify.register(tracing, { recordUserId: fastify.config.TRACING_RECORD_USER_ID })
  }

  // First of the request hooks: preflights are answered before anything else, and every answer
  // after it, refusals and shed requests included, carries the headers a page needs to read it.
  const cors = corsSetting(fastify.config, configuredIssuer(fastify.config) === undefined)
  await fastify.register(corsPlugin, { origins: cors.origins, allowLoopbackOrigins: cors.allowLoopbackOrigins, excludedPrefixes: [GATEWAY_PREFIX, WEBHOOK_PATH] })
  if (cors.from === 'nothing set') {
    fastify.log.info('No browser on another origin may call the API: set CORS_ORIGINS (or CLERK_AUTHORIZED_PARTIES) to your frontend\'s origins to allow it.')
  }

  // Then a shed request costs no verification.
  await fastify.register(overload, { maxEventLoopDelayMs: fastify.config.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS, retryAfterSeconds: fastify.config.OVERLOAD_RETRY_AFTER_SECONDS })

  // What replicas share (REDIS_URL; null without it): clerk-auth's machine-token verdicts, then revocations.
  await fastify.register(sharedStore, {
    url: fastify.config.REDIS_URL === '' ? undefined : fastify.config.REDIS_URL,
    keyPrefix: fastify.config.REDIS_KEY_PREFIX,
    timeoutMs: fastify.config.REDIS_TIMEOUT_MS,
    now: opts.now
  })

  // Without CLERK_ISSUER_URL, a local issuer whose URL clerk-auth is given below.
  await fastify.register(devIssuer, { now: opts.now })
  try {
    // The reusable plugin takes options only: the settings are mapped to them here.
    await fastify.register(clerkAuth, { ...clerkAuthOptions(fastify.config, fastify.devIssuer), now: opts.now, sharedVerdicts: fastify.sharedStore?.verdicts })
  } catch (err) {
    throw settingErrorFromOption(err as Error)
  }
  await fastify.sharedStore?.shareRevocations(fastify.clerkAuth.verifier)

  // Per caller, once authenticated; counted across replicas with REDIS_URL. Routes may set their own.
  await fastify.register(rateLimit, {
    max: fastify.config.RATE_LIMIT_MAX,
    windowMs: fastify.config.RATE_LIMIT_WINDOW_MS,
    redis: fastify.sharedStore?.redis,
    keyPrefix: fastify.config.REDIS_KEY_PREFIX
  })

  // Before the other plugins, so that every route they and routes/ declare is measured.
  await fastify.register(metrics, {
    host: fastify.config.METRICS_HOST,
    port: fastify.config.METRICS_PORT,
    now: opts.now,
    whenPortInUse: metricsPortInUse(fastify.config)
  })

  if (fastify.metrics !== null && fastify.sharedStore !== null) registerSharedStoreMetrics(fastify.metrics.registry, fastify.sharedStore.stats)

  if (fastify.config.LOG_REQUESTS) await fastify.register(requestLog)
  const acceptsToken = graphqlAcceptsToken(fastify.config)
  if (!acceptsToken.every(fastify.clerkAuth.canVerify)) {
    throw new ConfigError('GRAPHQL_ACCEPTS_TOKEN', 'names api_key, which only Clerk\'s Backend API can verify: set CLERK_SECRET_KEY')
  }
  const signingSecret = webhookSigningSecret(fastify.config, fastify.devIssuer)
  if (signingSecret !== undefined) {
    try {
      await fastify.register(clerkWebhooks, { prefix: WEBHOOK_PATH, signingSecret })
    } catch (err) {
      throw (err as Partial<InvalidOption>).option === 'signingSecret' ? new ConfigError('CLERK_WEBHOOK_SIGNING_SECRET', hintFor('CLERK_WEBHOOK_SIGNING_SECRET') as string) : err
    }
  }
  await fastify.register(graphql, {
    publicIntrospection: fastify.config.GRAPHQL_PUBLIC_INTROSPECTION,
    acceptsToken,
    subscriptions: {
      // the origins whose pages may call the API may open its sockets, and no others
      isAllowedOrigin: originMatcher(cors),
      initTimeoutMs: fastify.config.GRAPHQL_WS_INIT_TIMEOUT_MS,
      maxSockets: fastify.config.GRAPHQL_WS_MAX_SOCKETS,
      maxSubscriptionsPerSocket: fastify.config.GRAPHQL_WS_MAX_SUBSCRIPTIONS_PER_SOCKET,
      maxMessageBytes: fastify.config.GRAPHQL_WS_MAX_MESSAGE_BYTES,
      exposeStats: (stats) => { if (fastify.metrics !== null) registerSocketMetrics(fastify.metrics.registry, stats) }
    },
    observeOperation: fastify.hasDecorator('tracing') ? fastify.tracing.observeOperation : undefined
  })

  await fastify.register(fastifyAutoload, {
    dir: join(import.meta.dirname, '../plugins'),
    // plugins/ folders group files; they are not URL prefixes
    dirNameRoutePrefix: false,
    // the plugins registered above, with their options
    ignorePattern: /^clerk-auth$|^cors$|^graphql$|^metrics$|^shared-store$|^tracing$|^overload\.[jt]s$|^rate-limit\.[jt]s$|^request-log\.[jt]s$|\.d\.ts$|\.map$/
  })
  await fastify.register(fastifyAutoload, {
    dir: join(import.meta.dirname, '../routes'),
    autoHooks: true,
    cascadeHooks: true,
    ignorePattern: /\.d\.ts$|\.map$/
  })
}
