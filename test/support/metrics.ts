// The app's Prometheus metrics, read as a scraper reads them.
import type { FastifyInstance } from 'fastify'

/** One sample of Prometheus text: its name, labels and value. */
export interface MetricSample { name: string, labels: Record<string, string>, value: number }

/** Prometheus text format, as a scraper reads it: samples, without the HELP and TYPE lines. */
export function parseMetrics (text: string): MetricSample[] {
  const samples: MetricSample[] = []
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) continue
    const labels: Record<string, string> = {}
    for (const [, name, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[name as string] = value as string
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) })
  }
  return samples
}

/** The app's metrics, parsed (the app must have them on: METRICS_PORT set to a free port). */
export async function readMetrics (app: FastifyInstance): Promise<MetricSample[]> {
  if (app.metrics === null) throw new Error('metrics are off: give the app a METRICS_PORT')
  return parseMetrics((await app.metrics.read()).body)
}

/** The value of the sample with this name and (at least) these labels; 0 when there is none, as for a counter never increased. */
export function metricValue (samples: MetricSample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`)
  return found[0]?.value ?? 0
}
