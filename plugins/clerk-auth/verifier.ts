// The framework-free verifier: the key store, the verdict cache and the checks, with no Fastify in
// it. The Fastify adapter (index.ts) turns its verdicts into replies; a plain Node script can use it as is.
import type { KeyObject } from 'node:crypto'
import { parseCookie } from 'cookie'
import { authFromClaims } from './auth-object.js'
import { createJwksKeyStore, createStaticKeyStore } from './key-store.js'
import { decodeJwt, hasValidRs256Signature, type DecodedJwt } from './jwt.js'
import { resolveOptions, type ClerkAuthOptions, type ResolvedOptions } from './options.js'
import { RefusalError } from './refusals.js'
import { checkClaims, checkHeader, type ClaimPolicy } from './token-checks.js'
import { findToken } from './token-source.js'
import { VerificationCache, isRefusal, reusableUntil, type Verdict } from './verification-cache.js'

export { isRefusal, type Verdict } from './verification-cache.js'

export interface VerifierStats {
  /** Full verifications: signatures checked. */
  signatureChecks: number
  /** Verdicts answered from the cache. */
  cacheHits: number
  /** Verdicts held in the cache now. */
  cachedVerdicts: number
}

export interface Verifier {
  /** The options after validation and defaults. */
  readonly options: Readonly<ResolvedOptions>
  /**
   * The verdict on a session token: the caller, or a refusal code. Synchronous when the cache or a
   * known key can answer; a promise only while an unknown key is looked up: `await` it either way.
   */
  verify: (token: string) => Verdict | Promise<Verdict>
  /**
   * The verdict on a request's credentials as a Clerk frontend sends them: the Authorization header
   * (Bearer) or, without one, the __session cookie.
   */
  verifyCredentials: (authorization: string | undefined, cookieHeader: string | undefined) => Verdict | Promise<Verdict>
  /** Whether the issuer's keys are loaded and not too old. */
  isReady: () => boolean
  stats: () => VerifierStats
  /** Stops the background key refresh. */
  close: () => void
}

// Parsed only when there is no Authorization header.
function readSessionCookie (header: string): string | undefined {
  return parseCookie(header).__session
}

/** A verifier for one Clerk instance; throws FST_CLERK_AUTH_INVALID_OPTION on a bad option. */
export function createVerifier (options: ClerkAuthOptions): Verifier {
  const resolved = resolveOptions(options)
  const { now } = resolved
  const policy: ClaimPolicy = {
    issuer: resolved.issuer,
    authorizedParties: resolved.authorizedParties,
    clockSkewMs: resolved.clockSkewMs,
    acceptPendingSessions: resolved.acceptPendingSessions
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
  let signatureChecks = 0
  let cacheHits = 0

  function remember (token: string, verdict: Verdict, exp: unknown, nowMs: number, keyGeneration: number): Verdict {
    cache.remember(token, verdict, reusableUntil(verdict, exp, nowMs), keyGeneration)
    return verdict
  }

  /**
   * The signature first, then the claims (Clerk's order since #8332): a forged token gets
   * token_signature_invalid whatever it claims, so refusals cannot be used to learn the issuer,
   * the allowed origins or the clock.
   */
  function judge (token: string, jwt: DecodedJwt, key: KeyObject, nowMs: number, keyGeneration: number): Verdict {
    signatureChecks++
    if (!hasValidRs256Signature(jwt, key)) return remember(token, 'token_signature_invalid', undefined, nowMs, keyGeneration)
    const verdict = checkClaims(jwt.payload, policy, nowMs) ?? authFromClaims(jwt.payload)
    return remember(token, verdict, jwt.payload.exp, nowMs, keyGeneration)
  }

  /**
   * The full check of a token not in the cache, and its caching: the header (no key, no RSA), then
   * the key, the signature and the claims. Synchronous whenever the key is known.
   */
  function verifyUncached (token: string, nowMs: number, keyGeneration: number): Verdict | Promise<Verdict> {
    const jwt = decodeJwt(token)
    if (jwt === undefined) return remember(token, 'token_malformed', undefined, nowMs, keyGeneration)
    const refusal = checkHeader(jwt.header)
    if (refusal !== undefined) return remember(token, refusal, undefined, nowMs, keyGeneration)
    const key = keyStore.getKey(jwt.header.kid as string)
    if (!(key instanceof Promise)) return judge(token, jwt, key, nowMs, keyGeneration)
    return key.then((found) => {
      // The wait may have been long: the claims are judged at the time it ended, against the key set it brought.
      const later = now()
      const generation = keyStore.generation()
      // Requests that waited on the same lookup with the same token: the first one verifies.
      return cache.get(token, later, generation) ?? judge(token, jwt, found, later, generation)
    }, (err: unknown) => {
      if (err instanceof RefusalError) return err.code
      throw err
    })
  }

  function verify (token: string): Verdict | Promise<Verdict> {
    const nowMs = now()
    const keyGeneration = keyStore.generation()
    const cached = cache.get(token, nowMs, keyGeneration)
    // A caller verified against keys that have since gone stale is checked again (and gets 503 while
    // the issuer is unreachable); refusals stand whatever the keys' age.
    if (cached === undefined || (!isRefusal(cached) && !keyStore.isFreshAt(nowMs))) return verifyUncached(token, nowMs, keyGeneration)
    cacheHits++
    return cached
  }

  return {
    options: resolved,
    verify,
    verifyCredentials (authorization, cookieHeader) {
      const found = findToken(authorization, cookieHeader, readSessionCookie)
      return found.refusal !== undefined ? found.refusal : verify(found.token)
    },
    isReady: () => keyStore.isFreshAt(now()),
    stats: () => ({ signatureChecks, cacheHits, cachedVerdicts: cache.size }),
    close: keyStore.close
  }
}
