import { createPublicKey, type JsonWebKey } from 'node:crypto'
import buildGetJwks from 'get-jwks'
import { RefusalError } from './refusals.js'

export interface KeyStore {
  /** The PEM of the issuer's RS256 key with this kid; throws RefusalError when there is none or it cannot be fetched. */
  getKey: (kid: string) => Promise<string>
  /** True once the issuer's key set has been fetched. */
  isReady: () => boolean
  close: () => void
}

export interface KeyStoreOptions {
  /** Keys come from `${issuer}/.well-known/jwks.json` and from nowhere else. */
  issuer: string
  timeoutMs: number
  /** Delay before the first retry of a failed warm-up; doubles up to maxRetryMs. */
  minRetryMs?: number
  maxRetryMs?: number
  log: { warn: (obj: object, msg: string) => void, info: (obj: object, msg: string) => void }
}

interface Jwk { kid?: unknown, kty?: unknown, alg?: unknown, use?: unknown }

/** Rejects after ms: get-jwks's own timeout option does nothing on native fetch. */
async function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function isUsableRsaKey (jwk: Jwk): boolean {
  return jwk.kty === 'RSA' && typeof jwk.kid === 'string' &&
    (jwk.alg === undefined || jwk.alg === 'RS256') && (jwk.use === undefined || jwk.use === 'sig')
}

/** get-jwks, bound to one issuer, warmed at start-up and retried in the background until it answers. */
export function createJwksKeyStore (options: KeyStoreOptions): KeyStore {
  const { issuer, timeoutMs, log } = options
  const domain = `${issuer}/`
  const jwksUrl = `${domain}.well-known/jwks.json`
  const getJwks = buildGetJwks({ issuersWhitelist: [domain], max: 100, ttl: 5 * 60_000 })
  // PEMs are built once per JWK object, not on every request.
  const pems = new WeakMap<object, string>()
  let ready = false
  let closed = false
  let retryTimer: NodeJS.Timeout | undefined
  let retryMs = options.minRetryMs ?? 1000
  const maxRetryMs = options.maxRetryMs ?? 30_000

  function pemOf (jwk: Jwk): string | undefined {
    let pem = pems.get(jwk)
    if (pem === undefined) {
      if (!isUsableRsaKey(jwk)) return undefined
      try {
        pem = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
          .export({ type: 'spki', format: 'pem' }) as string
      } catch {
        return undefined
      }
      pems.set(jwk, pem)
    }
    return pem
  }

  async function warmUp (): Promise<void> {
    try {
      const response = await fetch(jwksUrl, { signal: AbortSignal.timeout(timeoutMs) })
      if (!response.ok) throw new Error(`HTTP ${response.status}`)
      const body = await response.json() as { keys?: unknown }
      if (!Array.isArray(body.keys)) throw new Error('the response has no keys array')
      for (const jwk of body.keys as Jwk[]) {
        if (jwk !== null && typeof jwk === 'object' && isUsableRsaKey(jwk)) {
          getJwks.cache.set(getJwks.generateCacheKey('RS256', jwk.kid as string, domain), jwk as never)
        }
      }
      ready = true
      log.info({ issuer }, 'Issuer signing keys loaded')
    } catch (err) {
      if (closed) return
      log.warn({ issuer, reason: (err as Error).message, retryInMs: retryMs }, 'Cannot fetch the issuer signing keys yet; retrying')
      retryTimer = setTimeout(() => { void warmUp() }, retryMs)
      retryTimer.unref()
      retryMs = Math.min(retryMs * 2, maxRetryMs)
    }
  }
  void warmUp()

  return {
    async getKey (kid) {
      let jwk: Jwk
      try {
        jwk = await withTimeout(getJwks.getJwk({ domain, alg: 'RS256', kid }), timeoutMs)
      } catch (err) {
        const code = (err as { code?: string }).code
        if (code === 'JWK_NOT_FOUND' || code === 'NO_JWKS') {
          ready = true // the issuer answered; it just has no such key
          throw new RefusalError('token_key_unknown', { cause: err })
        }
        throw new RefusalError('issuer_unavailable', { cause: err })
      }
      ready = true
      const pem = pemOf(jwk)
      if (pem === undefined) throw new RefusalError('token_key_unknown')
      return pem
    },
    isReady: () => ready,
    close () {
      closed = true
      clearTimeout(retryTimer)
    }
  }
}
