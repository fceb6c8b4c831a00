// clerk-auth's counters as Prometheus metrics: read from fastify.clerkAuth.stats() when scraped,
// so that requests pay for a plain increment only.
import type { Registry } from 'prom-client'
import type { ClerkAuthStats } from '../clerk-auth/index.js'
import { counterReadAtScrape, gaugeReadAtScrape, gaugeWhenKnown } from './read-at-scrape.js'

export function registerClerkAuthMetrics (registry: Registry, stats: () => ClerkAuthStats, isReady: () => boolean, now: () => number): void {
  // Each metric reads the totals afresh.
  const total = (read: (s: ClerkAuthStats) => number) => () => [{ labels: {}, value: read(stats()) }]

  counterReadAtScrape(registry, 'clerk_auth_decisions_total', 'Requests decided by clerk-auth: result accepted, refused (401/503, code says why), forbidden (403) or anonymous (no token where sign-in is optional), by kind of token.',
    ['result', 'code', 'token_type'], () => stats().decisions.map(({ result, code, tokenType, count }) => ({ labels: { result, code, token_type: tokenType }, value: count })))
  counterReadAtScrape(registry, 'clerk_auth_verification_cache_hits_total', 'Verdicts answered from the verification cache.', [], total((s) => s.cacheHits))
  counterReadAtScrape(registry, 'clerk_auth_verification_cache_misses_total', 'Tokens the verification cache could not answer for, checked in full.', [], total((s) => s.cacheMisses))
  gaugeReadAtScrape(registry, 'clerk_auth_verification_cache_entries', 'Verdicts held in the verification cache.', () => stats().cachedVerdicts)
  counterReadAtScrape(registry, 'clerk_auth_signature_checks_total', 'RSA signature verifications.', [], total((s) => s.signatureChecks))
  counterReadAtScrape(registry, 'clerk_auth_backend_api_calls_total', 'Calls to Clerk\'s Backend API for opaque machine tokens.', [], total((s) => s.machineApiCalls))
  counterReadAtScrape(registry, 'clerk_auth_backend_api_failures_total', 'Calls to Clerk\'s Backend API that gave no verdict (503 clerk_api_unavailable), by reason: timeout, unreachable, status (an error status), answer (too large, not JSON, or not a verification).',
    ['reason'], () => Object.entries(stats().machineApiFailures).map(([reason, value]) => ({ labels: { reason }, value })))
  counterReadAtScrape(registry, 'clerk_auth_backend_api_budget_refusals_total', 'Calls to Clerk\'s Backend API not made because a budget was spent: scope client (one client\'s share of new tokens, CLERK_API_MAX_CALLS_PER_CLIENT_PER_SECOND) or process (CLERK_API_MAX_CALLS_PER_SECOND).',
    ['scope'], () => Object.entries(stats().machineApiBudgetRefusals).map(([scope, value]) => ({ labels: { scope }, value })))
  counterReadAtScrape(registry, 'clerk_auth_backend_api_shared_verdicts_total', 'Opaque-token verdicts taken from the shared store: another replica asked Clerk.', [], total((s) => s.machineApiSharedVerdicts))
  counterReadAtScrape(registry, 'clerk_auth_backend_api_shared_failures_total', 'Shared-store operations for opaque tokens that failed: the replica decided alone.', [], total((s) => s.machineApiSharedFailures))
  counterReadAtScrape(registry, 'clerk_auth_backend_api_stale_verdicts_total', 'Confirmed opaque tokens served past their cache period while their re-check waited for budget.', [], total((s) => s.machineApiStaleVerdicts))
  gaugeReadAtScrape(registry, 'clerk_auth_revocations', 'Revocations held (sessions ended, users banned or deleted, memberships removed or changed, from Clerk\'s webhooks): their tokens get 401 session_revoked.', () => stats().revocations)
  counterReadAtScrape(registry, 'clerk_auth_revocations_evicted_total', 'Revocations dropped before their time to stay within the maximum held.', [], total((s) => s.revocationsEvicted))
  counterReadAtScrape(registry, 'clerk_auth_jwks_fetches_total', 'Fetches of the issuer\'s key set, by outcome (ok, timeout, failed).', ['outcome'],
    () => Object.entries(stats().keySet.fetches).map(([outcome, value]) => ({ labels: { outcome }, value })))
  // Absent with a fixed key (CLERK_JWT_KEY) or before the first key set: there is no age to tell.
  const loadedAt = (): number | undefined => stats().keySet.loadedAt
  gaugeWhenKnown(registry, 'clerk_auth_key_set_age_seconds', 'Seconds since the issuer\'s key set was last fetched successfully.',
    () => { const at = loadedAt(); return at === undefined ? undefined : (now() - at) / 1000 }, 'max')
  gaugeWhenKnown(registry, 'clerk_auth_key_set_last_success_timestamp_seconds', 'When the issuer\'s key set was last fetched successfully, in seconds since the epoch.',
    () => { const at = loadedAt(); return at === undefined ? undefined : at / 1000 }, 'min')
  gaugeReadAtScrape(registry, 'clerk_auth_ready', '1 while the issuer\'s keys are loaded and fresh enough to verify tokens, else 0.', () => isReady() ? 1 : 0, 'min')
}
