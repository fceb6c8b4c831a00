import type { RefusalCode } from './refusals.js'
import { M2M_CATEGORY, MACHINE_ID_PREFIX, TEMPLATE_CATEGORY, type JwtTokenType } from './token-types.js'

// JWT for sessions and M2M tokens (or no typ at all), RFC 9068's two spellings for OAuth access tokens.
const KNOWN_TYPES = new Set([undefined, 'JWT', 'at+jwt', 'application/at+jwt'])

// Header parameters that would let a token bring its own key.
const KEY_CARRYING_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const

/**
 * Header rules for every kind of token, checked before any key is looked up or signature checked.
 * They reveal nothing configurable: the same answer holds for every Clerk instance.
 */
export function checkHeader (header: Record<string, unknown>): RefusalCode | undefined {
  if (header.alg !== 'RS256') return 'token_algorithm_invalid'
  if (!KNOWN_TYPES.has(header.typ as string)) return 'token_header_invalid'
  // We implement no JWS extension, so any critical one is unknown to us (RFC 7515 §4.1.11).
  if (header.crit !== undefined) return 'token_header_invalid'
  for (const name of KEY_CARRYING_HEADERS) {
    if (Object.hasOwn(header, name)) return 'token_header_invalid'
  }
  if (typeof header.kid !== 'string' || header.kid === '') return 'token_key_unknown'
  return undefined
}

/**
 * Header rules of one kind (see jwtTokenType), also before the key: an M2M JWT is typed JWT (or
 * not at all) with the M2M category or none, as Clerk requires; an OAuth token is no JWT template.
 */
export function checkTypedHeader (type: JwtTokenType, header: Record<string, unknown>): RefusalCode | undefined {
  if (type === 'm2m_token' && ((header.typ !== undefined && header.typ !== 'JWT') || (header.cat !== undefined && header.cat !== M2M_CATEGORY))) {
    return 'token_header_invalid'
  }
  if (type === 'oauth_token' && header.cat === TEMPLATE_CATEGORY) return 'token_header_invalid'
  return undefined
}

export interface ClaimPolicy {
  /** The exact iss expected. */
  issuer: string
  /** Allowed azp origins of session tokens; when set, azp is required. */
  authorizedParties?: ReadonlySet<string> | undefined
  clockSkewMs: number
  /** Accept sessions whose sts is pending (Clerk treats them as signed out by default). */
  acceptPendingSessions?: boolean | undefined
  /** This service's machine id: an M2M token must name it in aud or scopes. */
  machineId?: string | undefined
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

function isOptional<T> (value: unknown, check: (value: unknown) => value is T): boolean {
  return value === undefined || check(value)
}

function isStringList (value: unknown): value is string[] {
  return Array.isArray(value) && value.every(isNonEmptyString)
}

// Session statuses a signed-in caller can have; anything else is refused rather than guessed at.
const SESSION_STATUSES = new Set([undefined, 'active', 'pending'])

/** act, during impersonation: an object naming the actor (only a JSON object can have a string sub). */
function isActor (value: unknown): value is { sub: string } {
  return isNonEmptyString((value as { sub?: unknown } | null)?.sub)
}

/** iss, then the times, the same for every kind: exp is required, nbf and iat are checked when present. */
function checkIssuerAndTimes (payload: Record<string, unknown>, policy: ClaimPolicy, nowMs: number): RefusalCode | undefined {
  const { iss, exp, nbf, iat } = payload
  if (iss !== policy.issuer) return 'token_issuer_invalid'
  const skew = policy.clockSkewMs
  if ((exp as number) * 1000 <= nowMs - skew) return 'token_expired'
  if (((nbf ?? 0) as number) * 1000 > nowMs + skew) return 'token_not_yet_valid'
  if (((iat ?? 0) as number) * 1000 > nowMs + skew) return 'token_issued_in_future'
  return undefined
}

/** The claims every kind must carry with the right types: iss, sub, exp; nbf and iat when present. */
function hasCommonClaims (payload: Record<string, unknown>): boolean {
  const { iss, sub, exp, nbf, iat } = payload
  return isNonEmptyString(iss) && isNonEmptyString(sub) && isTime(exp) && isOptional(nbf, isTime) && isOptional(iat, isTime)
}

/**
 * Claim rules for a Clerk session token, checked after the signature, as Clerk's SDK does: a forged
 * token learns nothing about the issuer, the allowed origins or the clock.
 */
function checkSessionClaims (payload: Record<string, unknown>, policy: ClaimPolicy, nowMs: number): RefusalCode | undefined {
  const { sid, iat, azp, sts, act } = payload
  if (!hasCommonClaims(payload) || !isNonEmptyString(sid) || iat === undefined ||
      !SESSION_STATUSES.has(sts as string) || !isOptional(act, isActor)) {
    return 'token_claims_invalid'
  }
  const refusal = checkIssuerAndTimes(payload, policy, nowMs)
  if (refusal !== undefined) return refusal
  // The allowed origins are strings: an azp of any other type is simply not among them.
  if (policy.authorizedParties !== undefined && !policy.authorizedParties.has(azp as string)) {
    return 'token_unauthorized_party'
  }
  if (sts === 'pending' && policy.acceptPendingSessions !== true) return 'session_pending'
  return undefined
}

/** The machines an M2M token may reach: its space-separated scopes, else its aud. */
export function m2mScopes (payload: Record<string, unknown>): string[] {
  const { scopes, aud } = payload
  if (typeof scopes === 'string') return scopes.split(' ').filter((scope) => scope !== '')
  if (typeof aud === 'string') return [aud]
  return Array.isArray(aud) ? aud : []
}

/**
 * An M2M JWT: issued by a machine (sub mch_…) of this instance (exact iss, which Clerk's SDK does not
 * check) and, when this service has a machine id, for this service: Clerk's SDK accepts any M2M token
 * of the instance anywhere.
 */
function checkM2mClaims (payload: Record<string, unknown>, policy: ClaimPolicy, nowMs: number): RefusalCode | undefined {
  const { sub, jti, scopes, aud } = payload
  if (!hasCommonClaims(payload) || !(sub as string).startsWith(MACHINE_ID_PREFIX) || !isOptional(jti, isNonEmptyString) ||
      !isOptional(scopes, (value): value is string => typeof value === 'string') ||
      !(aud === undefined || isNonEmptyString(aud) || isStringList(aud))) {
    return 'token_claims_invalid'
  }
  const refusal = checkIssuerAndTimes(payload, policy, nowMs)
  if (refusal !== undefined) return refusal
  if (policy.machineId !== undefined && !m2mScopes(payload).includes(policy.machineId)) return 'token_audience_invalid'
  return undefined
}

/** An OAuth access token's scopes: the scp array wins over the space-separated scope. */
export function oauthScopes (payload: Record<string, unknown>): string[] {
  const { scp, scope } = payload
  if (Array.isArray(scp)) return scp
  return typeof scope === 'string' ? scope.split(' ').filter((entry) => entry !== '') : []
}

/** An OAuth access-token JWT (RFC 9068): a user (sub) through a client (client_id), of this instance. */
function checkOAuthClaims (payload: Record<string, unknown>, policy: ClaimPolicy, nowMs: number): RefusalCode | undefined {
  const { client_id: clientId, jti, scp, scope } = payload
  if (!hasCommonClaims(payload) || !isNonEmptyString(clientId) || !isOptional(jti, isNonEmptyString) ||
      !isOptional(scp, isStringList) || !isOptional(scope, (value): value is string => typeof value === 'string')) {
    return 'token_claims_invalid'
  }
  return checkIssuerAndTimes(payload, policy, nowMs)
}

/** The claim rules of a token's kind, after its signature. */
export function checkClaims (payload: Record<string, unknown>, policy: ClaimPolicy, nowMs: number, type: JwtTokenType = 'session_token'): RefusalCode | undefined {
  switch (type) {
    case 'm2m_token': return checkM2mClaims(payload, policy, nowMs)
    case 'oauth_token': return checkOAuthClaims(payload, policy, nowMs)
    default: return checkSessionClaims(payload, policy, nowMs)
  }
}
