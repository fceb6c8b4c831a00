// What the standard OTEL_* variables ask of this service: plain functions, no SDK.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseEnv } from 'node:util'

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
