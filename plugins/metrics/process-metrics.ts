// prom-client's default process metrics (CPU, memory, heap, event-loop lag, handles, file descriptors),
// all read when scraped, without its GC metric: that one watches every garbage collection through a
// PerformanceObserver, which measured cost 5-8 % of a cached request (the young generation is collected
// every few hundred requests). collectDefaultMetrics cannot leave one out, so the others are taken from
// prom-client's own modules, by the names its collectDefaultMetrics uses.
import { createRequire } from 'node:module'
import type { Registry } from 'prom-client'

const require = createRequire(import.meta.url)
const WITHOUT_GC = [
  'processCpuTotal', 'processStartTime', 'osMemoryHeap', 'processOpenFileDescriptors', 'processMaxFileDescriptors',
  'eventLoopLag', 'processResources', 'processHandles', 'processRequests', 'heapSizeAndUsed', 'heapSpacesSizeAndUsed', 'version'
] as const

export function registerProcessMetrics (registry: Registry): void {
  for (const name of WITHOUT_GC) {
    const register = require(`prom-client/lib/metrics/${name}`) as (registry: Registry, config: Record<string, unknown>) => void
    register(registry, {})
  }
}
