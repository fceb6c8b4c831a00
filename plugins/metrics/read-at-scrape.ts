// Metrics whose values are read when Prometheus scrapes, from plain counters kept elsewhere, so that
// requests pay for an increment and nothing more.
import { Counter, Gauge, type Metric, type Registry } from 'prom-client'

type Aggregator = 'sum' | 'max' | 'min'

/** A counter set to the totals read(): reset and set to them at each scrape. */
export function counterReadAtScrape<L extends string> (registry: Registry, name: string, help: string, labelNames: readonly L[], read: () => Array<{ labels: Record<L, string>, value: number }>): void {
  // eslint-disable-next-line no-new
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect () {
      this.reset()
      for (const { labels, value } of read()) this.inc(labels as never, value)
    }
  })
}

/** A gauge set to read() at each scrape. */
export function gaugeReadAtScrape (registry: Registry, name: string, help: string, read: () => number, aggregator: Aggregator = 'sum'): void {
  // eslint-disable-next-line no-new
  new Gauge({ name, help, registers: [registry], aggregator, collect () { this.set(read()) } })
}

/** A gauge with no sample while read() has nothing to tell (prom-client's Gauge always shows one, 0 by default). */
export function gaugeWhenKnown (registry: Registry, name: string, help: string, read: () => number | undefined, aggregator: Aggregator): void {
  registry.registerMetric({
    name,
    help,
    type: 'gauge',
    aggregator,
    get: () => {
      const value = read()
      return { name, help, type: 'gauge', aggregator, values: value === undefined ? [] : [{ labels: {}, value }] }
    }
  } as unknown as Metric)
}
