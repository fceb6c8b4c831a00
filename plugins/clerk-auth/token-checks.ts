import type { RefusalCode } from './refusals.js'

// Clerk's header category for machine-to-machine tokens: never a session.
const MACHINE_TOKEN_CATEGORY = 'cl_B7d4PD333AAA'

// Header parameters that would let a token bring its own key.
const KEY_CARRYING_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const

/** Header rules, checked before any key is looked up. */
export function checkHeader (header: Record<string, unknown>): RefusalCode | undefined {
  if (header.alg !== 'RS256') return 'token_algorithm_invalid'
  if (header.typ !== undefined && header.typ !== 'JWT') return 'token_header_invalid'
  // We implement no JWS extension, so any critical one is unknown to us (RFC 7515 §4.1.11).
  if (header.crit !== undefined) return 'token_header_invalid'
  for (const name of KEY_CARRYING_HEADERS) {
    if (Object.hasOwn(header, name)) return 'token_header_invalid'
  }
  if (header.cat === MACHINE_TOKEN_CATEGORY) return 'token_not_session'
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

function isTime (value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

/**
 * Claim rules for a Clerk session token (see shared/clerk/session-tokens.md), checked before the
 * signature as Clerk's own SDK does: a refusal here costs no RSA work.
 */
export function checkClaims (payload: Record<string, unknown>, policy: ClaimPolicy, nowMs: number): RefusalCode | undefined {
  const { iss, sub, sid, exp, iat, nbf, azp } = payload
  if (!isNonEmptyString(iss) || !isNonEmptyString(sub) || !isNonEmptyString(sid) ||
      !isTime(exp) || !isTime(iat) || (nbf !== undefined && !isTime(nbf))) {
    return 'token_claims_invalid'
  }
  if (iss !== policy.issuer) return 'token_issuer_invalid'
  const skew = policy.clockSkewMs
  if (exp * 1000 <= nowMs - skew) return 'token_expired'
  if (nbf !== undefined && nbf * 1000 > nowMs + skew) return 'token_not_yet_valid'
  if (iat * 1000 > nowMs + skew) return 'token_issued_in_future'
  if (policy.authorizedParties !== undefined && (typeof azp !== 'string' || !policy.authorizedParties.has(azp))) {
    return 'token_unauthorized_party'
  }
  if (payload.sts === 'pending' && policy.acceptPendingSessions !== true) return 'session_pending'
  return undefined
}
