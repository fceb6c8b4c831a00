// clerk-auth's counters as Prometheus metrics: read from fastify.clerkAuth.stats() when scraped,
// so that requests pay for a plain increment only.
import { Counter, Gauge, type Metric, type Registry } from 'prom-client'
import type { ClerkAuthStats } from '../clerk-auth/index.js'

export function registerClerkAuthMetrics (registry: Registry, stats: () => ClerkAuthStats, isReady: () => boolean, now: () => number): void {
  const registers = [registry]
  // Each metric reads the totals afresh: a counter is reset and set to them.
  function counter<L extends string> (name: string, help: string, labelNames: readonly L[], read: (stats: ClerkAuthStats) => Array<{ labels: Record<L, string>, value: number }>): void {
    // eslint-disable-next-line no-new
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect () {
        this.reset()
        for (const { labels, value } of read(stats())) this.inc(labels as never, value)
      }
    })
  }
  function gauge (name: string, help: string, read: (stats: ClerkAuthStats) => number, aggregator: 'sum' | 'max' | 'min' = 'sum'): void {
    // eslint-disable-next-line no-new
    new Gauge({ name, help, registers, aggregator, collect () { this.set(read(stats())) } })
  }
  // A gauge with no sample while there is nothing to tell (prom-client's Gauge always shows one, 0 by default).
  function gaugeWhenKnown (name: string, help: string, read: (stats: ClerkAuthStats) => number | undefined, aggregator: 'max' | 'min'): void {
    registry.registerMetric({
      name,
      help,
      type: 'gauge',
      aggregator,
      get: () => {
        const value = read(stats())
        return { name, help, type: 'gauge', aggregator, values: value === undefined ? [] : [{ labels: {}, value }] }
      }
    } as unknown as Metric)
  }

  counter('clerk_auth_decisions_total', 'Requests decided by clerk-auth: result accepted, refused (401/503, code says why) or forbidden (403), by kind of token.',
    ['result', 'code', 'token_type'], (s) => s.decisions.map(({ result, code, tokenType, count }) => ({ labels: { result, code, token_type: tokenType }, value: count })))
  counter('clerk_auth_verification_cache_hits_total', 'Verdicts answered from the verification cache.', [], (s) => [{ labels: {}, value: s.cacheHits }])
  counter('clerk_auth_verification_cache_misses_total', 'Tokens the verification cache could not answer for, checked in full.', [], (s) => [{ labels: {}, value: s.cacheMisses }])
  gauge('clerk_auth_verification_cache_entries', 'Verdicts held in the verification cache.', (s) => s.cachedVerdicts)
  counter('clerk_auth_signature_checks_total', 'RSA signature verifications.', [], (s) => [{ labels: {}, value: s.signatureChecks }])
  counter('clerk_auth_backend_api_calls_total', 'Calls to Clerk\'s Backend API for opaque machine tokens.', [], (s) => [{ labels: {}, value: s.machineApiCalls }])
  counter('clerk_auth_jwks_fetches_total', 'Fetches of the issuer\'s key set, by outcome (ok, timeout, failed).', ['outcome'],
    (s) => Object.entries(s.keySet.fetches).map(([outcome, value]) => ({ labels: { outcome }, value })))
  // Absent with a fixed key (CLERK_JWT_KEY) or before the first key set: there is no age to tell.
  gaugeWhenKnown('clerk_auth_key_set_age_seconds', 'Seconds since the issuer\'s key set was last fetched successfully.',
    (s) => s.keySet.loadedAt === undefined ? undefined : (now() - s.keySet.loadedAt) / 1000, 'max')
  gaugeWhenKnown('clerk_auth_key_set_last_success_timestamp_seconds', 'When the issuer\'s key set was last fetched successfully, in seconds since the epoch.',
    (s) => s.keySet.loadedAt === undefined ? undefined : s.keySet.loadedAt / 1000, 'min')
  gauge('clerk_auth_ready', '1 while the issuer\'s keys are loaded and fresh enough to verify tokens, else 0.', () => isReady() ? 1 : 0, 'min')
}
