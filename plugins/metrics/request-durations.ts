// Request durations by route and status, as a Prometheus histogram. prom-client's Histogram costs
// about 260 ns an observation (it hashes the labels each time), a sizeable share of a cached request:
// here each route gets its own cells when it is declared, and an observation is a bucket increment.

// Seconds; a cached request takes well under a millisecond, a first sight of a token a few.
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const

class Cells {
  // per bucket, not cumulative: the last one counts what is above every bound
  readonly counts = new Float64Array(DURATION_BUCKETS.length + 1)
  sum = 0
  count = 0

  observe (seconds: number): void {
    let i = 0
    while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] as number)) i++
    this.counts[i] = (this.counts[i] as number) + 1
    this.sum += seconds
    this.count++
  }
}

interface Value { metricName: string, labels: Record<string, string | number>, value: number }

interface Route { method: string, route: string, byStatus: Map<number, Cells> }

function observer (entry: Route): (statusCode: number, elapsedMs: number) => void {
  return (statusCode, elapsedMs) => {
    let cells = entry.byStatus.get(statusCode)
    if (cells === undefined) {
      cells = new Cells()
      entry.byStatus.set(statusCode, cells)
    }
    cells.observe(elapsedMs / 1000)
  }
}

export class RequestDurations {
  readonly #routes: Route[] = []

  constructor (readonly name: string, readonly help: string) {}

  /**
   * The observer of one route: the request's method, its statusCode and milliseconds (Fastify's
   * reply.elapsedTime). A route of one method keeps a single set of cells; one declared for several
   * methods gets a set per method as requests come.
   */
  forRoute (methods: string | readonly string[], route: string): (method: string, statusCode: number, elapsedMs: number) => void {
    const declared = typeof methods === 'string' ? [methods] : methods
    if (declared.length === 1) {
      const entry: Route = { method: declared[0] as string, route, byStatus: new Map() }
      this.#routes.push(entry)
      const observe = observer(entry)
      return (_method, statusCode, elapsedMs) => { observe(statusCode, elapsedMs) }
    }
    const byMethod = new Map<string, (statusCode: number, elapsedMs: number) => void>()
    return (method, statusCode, elapsedMs) => {
      let observe = byMethod.get(method)
      if (observe === undefined) {
        const entry: Route = { method, route, byStatus: new Map() }
        this.#routes.push(entry)
        observe = observer(entry)
        byMethod.set(method, observe)
      }
      observe(statusCode, elapsedMs)
    }
  }

  /** The histogram as prom-client's registries read a metric (text and cluster aggregation alike). */
  get (): { name: string, help: string, type: 'histogram', aggregator: 'sum', values: Value[] } {
    const values: Value[] = []
    for (const { method, route, byStatus } of this.#routes) {
      for (const [status, cells] of byStatus) {
        const labels = { method, route, status_code: status }
        let cumulative = 0
        DURATION_BUCKETS.forEach((le, i) => {
          cumulative += cells.counts[i] as number
          values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative })
        })
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cells.count })
        values.push({ metricName: `${this.name}_sum`, labels, value: cells.sum })
        values.push({ metricName: `${this.name}_count`, labels, value: cells.count })
      }
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' }
  }
}
