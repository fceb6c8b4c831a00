// The GraphQL sockets as Prometheus metrics, read from the subscriptions' counters when scraped.
import type { Registry } from 'prom-client'
import { counterReadAtScrape, gaugeReadAtScrape } from './read-at-scrape.js'

/** What the GraphQL plugin counts of its sockets. */
export interface SocketCounts {
  open: number
  subscriptions: number
  closes: Record<string, number>
}

export function registerSocketMetrics (registry: Registry, stats: () => SocketCounts): void {
  gaugeReadAtScrape(registry, 'graphql_ws_sockets', 'GraphQL sockets open (subscriptions over WebSocket).', () => stats().open)
  gaugeReadAtScrape(registry, 'graphql_ws_subscriptions', 'Subscriptions open on GraphQL sockets.', () => stats().subscriptions)
  counterReadAtScrape(registry, 'graphql_ws_closes_total', 'GraphQL sockets closed, by close code (4401 unauthenticated or expired, 4403 another session, 4408 no init in time, 1000/1001 by the client, …).',
    ['code'], () => Object.entries(stats().closes).map(([code, value]) => ({ labels: { code }, value })))
}
