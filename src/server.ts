// First: with the OTEL_* variables set, tracing starts before the rest is imported.
import { runningTracing, traceLogFields } from './tracing.js'
import cluster from 'node:cluster'
import { availableParallelism } from 'node:os'
import { setTimeout as delay } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { AggregatorRegistry } from 'prom-client'
import { listenForMetrics } from '../plugins/metrics/index.js'
import type { Revocation, Verifier } from '../plugins/clerk-auth/index.js'
import serviceApp, { processLogger, serverOptions } from './app.js'
import { metricsPortInUse, readSettings, type Settings } from './settings.js'

function exitWith (message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(1)
}

function settings (): Settings {
  try {
    return readSettings()
  } catch (err) {
    exitWith((err as Error).message)
  }
}

/** WORKERS=auto or N > 1: one process per core sharing the port, each with its own warm key set and cache. */
function workerCount (config: Settings): number {
  return config.WORKERS === 'auto' ? availableParallelism() : Number(config.WORKERS)
}

interface RevocationMessage { clerkRevocation: Revocation }
const isRevocationMessage = (message: unknown): message is RevocationMessage =>
  typeof message === 'object' && message !== null && 'clerkRevocation' in message

/**
 * A webhook reaches one worker: what it revokes is sent to the primary, which passes it on to the
 * other workers, so that a sign-out takes effect on every connection whichever worker serves it.
 */
function shareRevocations (verifier: Verifier): void {
  let relayed = false
  verifier.onRevocation((revocation) => {
    if (!relayed) process.send?.({ clerkRevocation: revocation } satisfies RevocationMessage)
  })
  process.on('message', (message) => {
    if (!isRevocationMessage(message)) return
    relayed = true
    try {
      verifier.revoke(message.clerkRevocation)
    } finally {
      relayed = false
    }
  })
}

async function runPrimary (workers: number, config: Settings): Promise<void> {
  // The workers' metrics, summed, on the primary's listener (workers do not listen for metrics).
  if (config.METRICS_PORT !== 0) {
    const aggregator = new AggregatorRegistry()
    try {
      const server = await listenForMetrics(config.METRICS_HOST, config.METRICS_PORT, async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() }))
      server.unref()
    } catch (err) {
      if (metricsPortInUse(config) === 'fail' || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') exitWith((err as Error).message)
      process.stderr.write(`${(err as Error).message} Carrying on without metrics.\n`)
    }
  }
  let stopping = false
  const fork = (): void => { cluster.fork() }
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return
    process.stderr.write(`worker ${worker.process.pid ?? '?'} exited (${signal ?? code}); starting another\n`)
    setTimeout(fork, 1000).unref()
  })
  cluster.on('message', (from, message) => {
    if (!isRevocationMessage(message)) return
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker !== undefined && worker !== from) worker.send(message)
    }
  })
  for (let i = 0; i < workers; i++) fork()
  const stop = (): void => {
    stopping = true
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM')
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

/** After the listener closes, how long a connection accepted just before has to send its request. */
const ACCEPTED_CONNECTION_GRACE_MS = 1000

async function runServer (): Promise<void> {
  // LOG_LEVEL is applied by the app once the settings are validated; a bad setting is reported below.
  let early: Partial<Settings> = {}
  try {
    early = readSettings()
  } catch {}
  const tracing = runningTracing()
  // with tracing, each line logged within a traced request carries its trace_id and span_id
  const app = Fastify(serverOptions(processLogger(early.NODE_ENV, process.stdout.isTTY === true, tracing === undefined ? undefined : traceLogFields), early.TRUST_PROXY))
  app.register(fp(serviceApp), { fastifyOtel: tracing?.fastifyOtel })

  try {
    await app.ready()
  } catch (err) {
    // A bad setting is the operator's to fix: one line that names it, no stack trace.
    if ((err as Error).name === 'ConfigError') exitWith((err as Error).message)
    app.log.fatal({ err }, 'start-up failed')
    process.exit(1)
  }

  if (cluster.isWorker) shareRevocations(app.clerkAuth.verifier)

  const drainMs = app.config.SHUTDOWN_DRAIN_MS
  const production = app.config.NODE_ENV === 'production'
  // On a signal: drain (still serving, /ready 503) so load balancers stop sending, then close the
  // listener, serve the requests of connections it had accepted and finish what is in flight. Ctrl-C
  // at a developer's terminal (SIGINT outside production) and an unexpected error close at once.
  closeWithGrace({ delay: drainMs + 10_000 }, async ({ err, signal }) => {
    // Once everything is closed nothing else keeps the process alive: this holds it until the last line.
    const untilTheLastLine = setInterval(() => {}, 60_000)
    if (err !== undefined) {
      app.log.error({ err }, 'closing after an unexpected error')
    } else if (signal === 'SIGINT' && !production) {
      app.log.info({ signal }, 'closing (no drain outside production)')
    } else {
      app.drain.start()
      app.log.info({ signal, drainMs }, 'draining: /ready answers 503, requests are still served')
      await delay(drainMs)
      app.log.info('closing')
      await app.drain.stopAccepting(ACCEPTED_CONNECTION_GRACE_MS)
    }
    await app.close()
    // the spans still held are exported before the process ends; a collector that is away loses them, no more
    await tracing?.shutdown().catch((err: unknown) => { app.log.warn({ reason: (err as Error).message }, 'Could not export the last spans: the collector did not take them') })
    app.log.info('stopped: the process exits now')
    clearInterval(untilTheLastLine)
  })

  try {
    await app.listen({ host: app.config.HOST, port: app.config.PORT })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      await app.close()
      exitWith(`Cannot listen: port ${app.config.PORT} on ${app.config.HOST} is already in use (set PORT to another one).`)
    }
    throw err
  }
}

if (cluster.isPrimary) {
  const config = settings()
  const workers = workerCount(config)
  if (workers > 1) await runPrimary(workers, config)
  else await runServer()
} else {
  await runServer()
}
