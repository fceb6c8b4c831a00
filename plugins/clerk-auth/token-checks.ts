import type { RefusalCode } from './refusals.js'

// Header categories (`cat`) of tokens Clerk signs with the instance key but that are not sessions:
// JWT-template tokens and M2M tokens (shared/clerk/machine-tokens.md §1, §4). The session category
// cl_B7d4PD111AAA, the "ignore" category cl_I7d4PD111III and an absent cat are neutral.
const NON_SESSION_CATEGORIES = new Set(['cl_B7d4PD222AAA', 'cl_B7d4PD333AAA'])
// OAuth access-token JWTs (RFC 9068).
const ACCESS_TOKEN_TYPES = new Set(['at+jwt', 'application/at+jwt'])
// Clerk's machine ids: an M2M JWT from before the category was stamped has sub mch_….
const MACHINE_SUBJECT = 'mch_'

// Header parameters that would let a token bring its own key.
const KEY_CARRYING_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const

/**
 * Header rules, checked before any key is looked up or signature checked. They reveal nothing
 * configurable: the same answer holds for every Clerk instance.
 */
export function checkHeader (header: Record<string, unknown>): RefusalCode | undefined {
  if (header.alg !== 'RS256') return 'token_algorithm_invalid'
  if (ACCESS_TOKEN_TYPES.has(header.typ as string)) return 'token_not_session'
  if (header.typ !== undefined && header.typ !== 'JWT') return 'token_header_invalid'
  // We implement no JWS extension, so any critical one is unknown to us (RFC 7515 §4.1.11).
  if (header.crit !== undefined) return 'token_header_invalid'
  for (const name of KEY_CARRYING_HEADERS) {
    if (Object.hasOwn(header, name)) return 'token_header_invalid'
  }
  if (NON_SESSION_CATEGORIES.has(header.cat as string)) return 'token_not_session'
  if (typeof header.kid !== 'string' || header.kid === '') return 'token_key_unknown'
  return undefined
}

export interface ClaimPolicy {
  /** The exact iss expected. */
  issuer: string
  /** Allowed azp origins; when set, azp is required. */
  authorizedParties?: ReadonlySet<string>
  clockSkewMs: number
  /** Accept sessions whose sts is pending (Clerk treats them as signed out by default). */
  acceptPendingSessions?: boolean
}

function isNonEmptyString (value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}

// Seconds since the epoch, up to the last second of year 9999: anything else (floats, negatives,
// 1e308) is not a time Clerk writes, and would let a verdict be cached for ever.
const LAST_TIME = 253_402_300_799

function isTime (value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= LAST_TIME
}

// Session statuses a signed-in caller can have; anything else is refused rather than guessed at.
const SESSION_STATUSES = new Set([undefined, 'active', 'pending'])

/** act, during impersonation: an object naming the actor (only a JSON object can have a string sub). */
function isActor (value: unknown): boolean {
  return isNonEmptyString((value as { sub?: unknown } | null)?.sub)
}

/**
 * Claim rules for a Clerk session token (see shared/clerk/session-tokens.md), checked after the
 * signature, as Clerk's SDK does since #8332: a forged token learns nothing about the issuer, the
 * allowed origins or the clock.
 */
export function checkClaims (payload: Record<string, unknown>, policy: ClaimPolicy, nowMs: number): RefusalCode | undefined {
  const { iss, sub, sid, exp, iat, nbf, azp, sts, act } = payload
  // An M2M JWT without a category (issued before Clerk stamped one) names a machine as its subject.
  if (typeof sub === 'string' && sub.startsWith(MACHINE_SUBJECT)) return 'token_not_session'
  if (!isNonEmptyString(iss) || !isNonEmptyString(sub) || !isNonEmptyString(sid) ||
      !isTime(exp) || !isTime(iat) || (nbf !== undefined && !isTime(nbf)) ||
      !SESSION_STATUSES.has(sts as string) || (act !== undefined && !isActor(act))) {
    return 'token_claims_invalid'
  }
  if (iss !== policy.issuer) return 'token_issuer_invalid'
  const skew = policy.clockSkewMs
  if (exp * 1000 <= nowMs - skew) return 'token_expired'
  if ((nbf ?? 0) * 1000 > nowMs + skew) return 'token_not_yet_valid'
  if (iat * 1000 > nowMs + skew) return 'token_issued_in_future'
  // The allowed origins are strings: an azp of any other type is simply not among them.
  if (policy.authorizedParties !== undefined && !policy.authorizedParties.has(azp as string)) {
    return 'token_unauthorized_party'
  }
  if (sts === 'pending' && policy.acceptPendingSessions !== true) return 'session_pending'
  return undefined
}
