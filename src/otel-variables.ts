// What the standard OTEL_* variables ask of this service: plain functions, no SDK.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseEnv } from 'node:util'
import type { FastifyOtelInstrumentationOpts } from '@fastify/otel'

/** service.name on spans unless OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) sets one. */
export const SERVICE_NAME = 'clerk-fastify-service'

/** Requests to these paths are not traced unless OTEL_FASTIFY_IGNORE_PATHS (a glob) says otherwise. */
export const UNTRACED_PATHS: ReadonlySet<string> = new Set(['/health', '/ready', '/metrics', '/favicon.ico'])

/**
 * Whether the variables ask for traces: an OTLP endpoint (for all signals or for traces) or a traces
 * exporter other than none, and the SDK not disabled.
 */
export function tracingRequested (env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '')
  if (exporters.length > 0) return !exporters.every((name) => name === 'none')
  return (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '').trim() !== '' || (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '').trim() !== ''
}

/**
 * Sets the OTEL_* variables of the .env file in dir that the environment has not set: the SDK reads
 * process.env, and every other setting may come from .env too (which the environment overrides).
 */
export function loadOtelVariables (env: NodeJS.ProcessEnv, dir: string): void {
  const file = join(dir, '.env')
  if (!existsSync(file)) return
  for (const [name, value] of Object.entries(parseEnv(readFileSync(file, 'utf8')))) {
    if (name.startsWith('OTEL_') && env[name] === undefined) env[name] = value
  }
}

/** Whether the variables name the service (otherwise it is SERVICE_NAME). */
export function serviceNamed (env: NodeJS.ProcessEnv): boolean {
  return (env.OTEL_SERVICE_NAME ?? '').trim() !== '' || /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '')
}

/** @fastify/otel's options: untraced paths (OTEL_FASTIFY_IGNORE_PATHS replaces UNTRACED_PATHS), span names, url.path. */
export function fastifyOtelOptions (env: NodeJS.ProcessEnv): FastifyOtelInstrumentationOpts {
  const ignoreGlob = env.OTEL_FASTIFY_IGNORE_PATHS
  return {
    ignorePaths: ignoreGlob === undefined ? (route) => UNTRACED_PATHS.has((route.url ?? '').split('?')[0] as string) : ignoreGlob,
    // One span per request, named by its route as OpenTelemetry's HTTP conventions say; spans of
    // each hook and of the handler would outnumber everything else, and cost on every request.
    instrumentHooks: false,
    instrumentHandler: false,
    requestHook: (span, request) => {
      const path = request.url.split('?')[0] as string
      span.updateName(`${request.method} ${request.routeOptions.url ?? path}`)
      // without the query string: a GraphQL GET carries the query and its variables there
      span.setAttribute('url.path', path)
    }
  }
}
