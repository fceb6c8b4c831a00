// The framework-free verifier: the key store, the verdict cache and the checks, with no Fastify in
// it. The Fastify adapter (index.ts) turns its verdicts into replies; a plain Node script can use it as is.
import type { KeyObject } from 'node:crypto'
import { authFromClaims, machineAuthFromClaims, type ClerkAuth } from './auth-object.js'
import { createJwksKeyStore, createStaticKeyStore, type KeySetStats } from './key-store.js'
import { decodeJwt, hasValidRs256Signature, type DecodedJwt } from './jwt.js'
import { resolveOptions, type ClerkAuthOptions, type ResolvedOptions } from './options.js'
import { RefusalError } from './refusals.js'
import { Revocations, type Revocation } from './revocations.js'
import { checkClaims, checkHeader, checkTypedHeader, type ClaimPolicy } from './token-checks.js'
import { createSessionCookieReader, readPlainSessionCookie } from './session-cookie.js'
import type { Client } from './client-key.js'
import { createMachineApi, type ApiFailure, type BudgetScope } from './machine-api.js'
import { findToken } from './token-source.js'
import { jwtTokenType, opaqueTokenType, SESSIONS_ONLY, type JwtTokenType, type TokenType } from './token-types.js'
import { VerdictCounts, type VerdictCount } from './verdict-counts.js'
import { isRefusal, type Verdict } from './verdict.js'
import { VerificationCache, reusableUntil, verdictHere } from './verification-cache.js'

export { isRefusal, type Verdict } from './verdict.js'
export { readRevocation, type Revocation } from './revocations.js'
export type { CountedTokenType, VerdictCount } from './verdict-counts.js'

export interface VerifierStats {
  /** Full verifications: signatures checked. */
  signatureChecks: number
  /** Verdicts answered from the cache. */
  cacheHits: number
  /** Tokens the cache could not answer for (checked in full). */
  cacheMisses: number
  /** Verdicts held in the cache now. */
  cachedVerdicts: number
  /** Calls made to Clerk's Backend API for opaque machine tokens. */
  machineApiCalls: number
  /** Calls that gave no verdict, by why: no answer in time, unreachable, an error status, an unusable answer. */
  machineApiFailures: Record<ApiFailure, number>
  /** Calls not made because a budget was spent: a client's own, the process's, or the fleet's. */
  machineApiBudgetRefusals: Record<BudgetScope, number>
  /** Confirmed opaque tokens served past their cache period while their re-check waited for budget. */
  machineApiStaleVerdicts: number
  /** Opaque-token verdicts taken from the shared store (another replica asked Clerk), and its operations that failed. */
  machineApiSharedVerdicts: number
  machineApiSharedFailures: number
  /** Every verdict given, by kind of token and code (ok for a caller). */
  verdicts: VerdictCount[]
  /** The issuer's key-set fetches by outcome, and when the current set was loaded (ms, by the verifier's clock). */
  keySet: KeySetStats
  /** Revocations held now, and those dropped to make room before their time. */
  revocations: number
  revocationsEvicted: number
}

/**
 * What a verification found besides its verdict (for traces): filled in, before any wait, when a
 * caller passes one. keyId is the key a JWT names; cached says the verdict came from the cache.
 */
export interface VerificationDetail {
  tokenType?: TokenType | undefined
  keyId?: string | undefined
  cached: boolean
}

export interface Verifier {
  /** The options after validation and defaults. */
  readonly options: Readonly<ResolvedOptions>
  /**
   * The verdict on a token of one of the accepted kinds (sessions only by default): the caller, or a
   * refusal code. Synchronous when the cache or a known key can answer; a promise only while an
   * unknown key is looked up: `await` it either way. client (who sends it: a Fastify request, or
   * { ip }) says whose budget a call to Clerk's Backend API for a new opaque token comes out of.
   */
  verify: (token: string, accepts?: readonly TokenType[], client?: Client, detail?: VerificationDetail) => Verdict | Promise<Verdict>
  /**
   * The verdict on a request's credentials: the Authorization header (Bearer) or, without one and
   * where sessions are accepted, the __session cookie (which never carries a machine token).
   */
  verifyCredentials: (authorization: string | undefined, cookieHeader: string | undefined, accepts?: readonly TokenType[], client?: Client, detail?: VerificationDetail) => Verdict | Promise<Verdict>
  /**
   * Ends access Clerk has ended (from its webhooks): matching callers get session_revoked from now
   * on, cached verdicts included, and listeners are told (open sockets close). Returns false, and
   * tells no one, when it was known already (the same event heard again, or a newer one held).
   */
  revoke: (revocation: Revocation) => boolean
  /** Whether access of a caller verified earlier has been revoked since (for long-lived connections). */
  isRevoked: (auth: ClerkAuth) => boolean
  /** Calls listener after each revocation new to the verifier; returns the function that stops it. */
  onRevocation: (listener: (revocation: Revocation) => void) => () => void
  /** Whether the issuer's keys are loaded and not too old. */
  isReady: () => boolean
  stats: () => VerifierStats
  /** Stops the background key refresh. */
  close: () => void
}

/** A verifier for one Clerk instance; throws FST_CLERK_AUTH_INVALID_OPTION on a bad option. */
export function createVerifier (options: ClerkAuthOptions): Verifier {
  const resolved = resolveOptions(options)
  const { now } = resolved
  const policy: ClaimPolicy = {
    issuer: resolved.issuer,
    authorizedParties: resolved.authorizedParties,
    clockSkewMs: resolved.clockSkewMs,
    acceptPendingSessions: resolved.acceptPendingSessions,
    machineId: resolved.machineId
  }
  const keyStore = resolved.jwtKey !== undefined
    ? createStaticKeyStore(resolved.jwtKey)
    : createJwksKeyStore({
      issuer: resolved.issuer,
      timeoutMs: resolved.jwksTimeoutMs,
      refreshIntervalMs: resolved.jwksRefreshIntervalMs,
      unknownKidCooldownMs: resolved.jwksUnknownKidCooldownMs,
      maxStaleMs: resolved.jwksMaxStaleMs,
      log: resolved.log,
      now
    })
  const cache = new VerificationCache(resolved.verificationCacheSize)
  // Opaque machine tokens need Clerk's Backend API, and so the secret key.
  const machineApi = resolved.secretKey === undefined
    ? undefined
    : createMachineApi({
      apiUrl: resolved.apiUrl,
      secretKey: resolved.secretKey,
      machineSecretKey: resolved.machineSecretKey,
      machineId: resolved.machineId,
      timeoutMs: resolved.apiTimeoutMs,
      cacheMs: resolved.machineTokenCacheMs,
      cacheSize: resolved.verificationCacheSize,
      maxCallsPerSecond: resolved.apiMaxCallsPerSecond,
      maxCallsPerClientPerSecond: resolved.apiMaxCallsPerClientPerSecond,
      shared: resolved.sharedVerdicts,
      now,
      log: resolved.log
    })
  // Read only when there is no Authorization header.
  const readSessionCookie = resolved.publishableKey === undefined
    ? readPlainSessionCookie
    : createSessionCookieReader(resolved.publishableKey, now)
  const revocations = new Revocations(resolved.revocationRetentionMs, resolved.maxRevocations)
  const revocationListeners = new Set<(revocation: Revocation) => void>()
  let signatureChecks = 0
  let cacheHits = 0
  let cacheMisses = 0
  const counts = new VerdictCounts()

  /**
   * A verdict given, and counted: a caller whose access was revoked since is refused here, after the
   * cache, so that a revocation reaches cached verdicts too.
   */
  function given (verdict: Verdict, type: TokenType | undefined): Verdict {
    const revoked = revocations.size > 0 && !isRefusal(verdict) && revocations.revokes(verdict, now())
    return counts.count(revoked ? 'session_revoked' : verdict, type)
  }

  /** A verdict given: cached where it may be reused, counted and returned. */
  function remember (token: string, verdict: Verdict, exp: unknown, nowMs: number, keyGeneration: number, type?: TokenType, keyId?: string): Verdict {
    cache.remember(token, verdict, reusableUntil(verdict, exp, nowMs), keyGeneration, type, keyId)
    return given(verdict, type)
  }

  /** A verdict that may still be coming, counted once it is given. */
  function counted (verdict: Verdict | Promise<Verdict>, type: TokenType): Verdict | Promise<Verdict> {
    return verdict instanceof Promise ? verdict.then((settled) => given(settled, type)) : given(verdict, type)
  }

  /**
   * The signature first, then the claims (Clerk's SDK checks in this order too): a forged token gets
   * token_signature_invalid whatever it claims, so refusals cannot be used to learn the issuer,
   * the allowed origins or the clock.
   */
  function judge (token: string, jwt: DecodedJwt, type: JwtTokenType, key: KeyObject, nowMs: number, keyGeneration: number): Verdict {
    signatureChecks++
    const keyId = jwt.header.kid as string
    if (!hasValidRs256Signature(jwt, key)) return remember(token, 'token_signature_invalid', undefined, nowMs, keyGeneration, type, keyId)
    const verdict = checkClaims(jwt.payload, policy, nowMs, type) ??
      (type === 'session_token' ? authFromClaims(jwt.payload) : machineAuthFromClaims(type, jwt.payload))
    return remember(token, verdict, jwt.payload.exp, nowMs, keyGeneration, type, keyId)
  }

  /**
   * The full check of a token not in the cache, and its caching: the header (no key, no RSA), then
   * the key, the signature and the claims. Synchronous whenever the key is known.
   */
  function verifyUncached (token: string, accepts: readonly TokenType[], nowMs: number, keyGeneration: number, client: Client | undefined, detail: VerificationDetail | undefined): Verdict | Promise<Verdict> {
    const opaque = opaqueTokenType(token)
    if (opaque !== undefined) {
      if (detail !== undefined) detail.tokenType = opaque
      // without the secret key, the opaque form of a kind cannot be verified here, so it is not accepted
      return counted(accepts.includes(opaque) && machineApi !== undefined ? machineApi.verify(token, opaque, client) : 'token_type_not_accepted', opaque)
    }
    const jwt = decodeJwt(token)
    if (jwt === undefined) return remember(token, 'token_malformed', undefined, nowMs, keyGeneration)
    const refusal = checkHeader(jwt.header)
    if (refusal !== undefined) return remember(token, refusal, undefined, nowMs, keyGeneration)
    const type = jwtTokenType(jwt.header, jwt.payload)
    // JWT templates are accepted nowhere; other kinds where the route says, before any key or network.
    if (type === 'template') return remember(token, 'token_type_not_accepted', undefined, nowMs, keyGeneration)
    if (detail !== undefined) {
      detail.tokenType = type
      // checkHeader refused a JWT without one
      detail.keyId = jwt.header.kid as string
    }
    if (!accepts.includes(type)) return counts.count('token_type_not_accepted', type)
    const typed = checkTypedHeader(type, jwt.header)
    if (typed !== undefined) return remember(token, typed, undefined, nowMs, keyGeneration, type)
    const key = keyStore.getKey(jwt.header.kid as string)
    if (!(key instanceof Promise)) return judge(token, jwt, type, key, nowMs, keyGeneration)
    return key.then((found) => {
      // The wait may have been long: the claims are judged at the time it ended, against the key set it brought.
      const later = now()
      const generation = keyStore.generation()
      // Requests that waited on the same lookup with the same token: the first one verifies.
      const settled = cache.find(token, later, generation)
      return settled === undefined ? judge(token, jwt, type, found, later, generation) : given(verdictHere(settled, accepts), settled.tokenType)
    }, (err: unknown) => {
      if (err instanceof RefusalError) return counts.count(err.code, type)
      throw err
    })
  }

  function verify (token: string, accepts: readonly TokenType[] = SESSIONS_ONLY, client?: Client, detail?: VerificationDetail): Verdict | Promise<Verdict> {
    const nowMs = now()
    const keyGeneration = keyStore.generation()
    const cached = cache.find(token, nowMs, keyGeneration)
    // A caller verified against keys that have since gone stale is checked again (and gets 503 while
    // the issuer is unreachable); refusals stand whatever the keys' age.
    if (cached === undefined || (!isRefusal(cached.verdict) && !keyStore.isFreshAt(nowMs))) {
      cacheMisses++
      return verifyUncached(token, accepts, nowMs, keyGeneration, client, detail)
    }
    cacheHits++
    if (detail !== undefined) {
      detail.cached = true
      detail.tokenType = cached.tokenType
      detail.keyId = cached.keyId
    }
    return given(verdictHere(cached, accepts), cached.tokenType)
  }

  return {
    options: resolved,
    verify,
    verifyCredentials (authorization, cookieHeader, accepts = SESSIONS_ONLY, client, detail) {
      const sessions = accepts.includes('session_token')
      const found = findToken(authorization, sessions ? cookieHeader : undefined, readSessionCookie)
      if (found.refusal !== undefined) return counts.count(found.refusal, undefined)
      return verify(found.token, found.fromCookie ? SESSIONS_ONLY : accepts, client, detail)
    },
    revoke (revocation) {
      if (!revocations.add(revocation, now())) return false
      for (const listener of revocationListeners) listener(revocation)
      return true
    },
    isRevoked: (auth) => revocations.revokes(auth, now()),
    onRevocation (listener) {
      revocationListeners.add(listener)
      return () => { revocationListeners.delete(listener) }
    },
    isReady: () => keyStore.isFreshAt(now()),
    stats: () => {
      const api = machineApi?.stats()
      return {
        signatureChecks,
        cacheHits,
        cacheMisses,
        cachedVerdicts: cache.size,
        machineApiCalls: api?.apiCalls ?? 0,
        machineApiFailures: api?.failures ?? { timeout: 0, unreachable: 0, status: 0, answer: 0 },
        machineApiBudgetRefusals: api?.budgetRefusals ?? { client: 0, process: 0, fleet: 0 },
        machineApiStaleVerdicts: api?.staleVerdicts ?? 0,
        machineApiSharedVerdicts: api?.sharedVerdicts ?? 0,
        machineApiSharedFailures: api?.sharedFailures ?? 0,
        verdicts: counts.list(),
        keySet: keyStore.stats(),
        revocations: revocations.size,
        revocationsEvicted: revocations.evicted
      }
    },
    close: keyStore.close
  }
}
