// The shared store (Valkey or Redis, REDIS_URL) as Prometheus metrics, read from its counters when scraped.
import type { Registry } from 'prom-client'
import { counterReadAtScrape, gaugeReadAtScrape } from './read-at-scrape.js'

/** What the shared store counts. */
export interface SharedStoreCounts {
  up: boolean
  outages: number
  published: number
  received: number
}

export function registerSharedStoreMetrics (registry: Registry, stats: () => SharedStoreCounts): void {
  // with several workers, the lowest: one worker cut off is enough to say so
  gaugeReadAtScrape(registry, 'shared_store_up', '1 while the shared store (REDIS_URL) answers and this replica has loaded what the others shared; 0 while revocations stay local.', () => stats().up ? 1 : 0, 'min')
  counterReadAtScrape(registry, 'shared_store_outages_total', 'Times the shared store stopped answering.', [], () => [{ labels: {}, value: stats().outages }])
  counterReadAtScrape(registry, 'shared_store_revocations_total', 'Revocations this replica published to the others, and learned from them.',
    ['direction'], () => [{ labels: { direction: 'published' }, value: stats().published }, { labels: { direction: 'received' }, value: stats().received }])
}
