import type { KeyObject } from 'node:crypto'
import { RefusalError } from './refusals.js'
import { keySetFetches, keyWaits, type KeySetFetchContext } from './diagnostics.js'
import { fetchJson, parseJwks, type VerificationKey } from './jwks.js'
import type { Logger } from './options.js'

/** For operators: the key-set fetches by outcome, and when the current set was loaded (undefined: never, or a fixed key). */
export interface KeySetStats {
  fetches: { ok: number, timeout: number, failed: number }
  loadedAt: number | undefined
}

export interface KeyStore {
  /** The issuer's key named kid; a known key is returned at once (no promise), without waiting on the network. */
  getKey: (kid: string) => KeyObject | Promise<KeyObject>
  /** True while a key set is loaded and not older than the allowed staleness, at a time the caller read. */
  isFreshAt: (nowMs: number) => boolean
  /** Goes up whenever a key is withdrawn: verdicts given before no longer stand. */
  generation: () => number
  stats: () => KeySetStats
  close: () => void
}

/** Networkless mode: the one key from the Clerk dashboard, whatever kid the token names. No request is ever made. */
export function createStaticKeyStore (key: KeyObject): KeyStore {
  return { getKey: () => key, isFreshAt: () => true, generation: () => 0, stats: () => ({ fetches: { ok: 0, timeout: 0, failed: 0 }, loadedAt: undefined }), close: () => {} }
}

export interface JwksKeyStoreOptions {
  /** Keys come from `${issuer}/.well-known/jwks.json` and from nowhere else. */
  issuer: string
  /** A fetch that takes longer is aborted. */
  timeoutMs: number
  /** The key set is refetched in the background this often, so requests never wait for it. */
  refreshIntervalMs: number
  /** At most one fetch per this period is triggered by tokens naming an unknown kid. */
  unknownKidCooldownMs: number
  /** How long the last good key set keeps serving while the issuer cannot be reached. */
  maxStaleMs: number
  /** Largest JWKS document accepted. */
  maxBytes?: number
  /** First delay before retrying a failed fetch; doubles up to maxRetryMs. */
  minRetryMs?: number
  maxRetryMs?: number
  log: Logger
  now?: () => number
}

/**
 * The issuer's key set, fetched at start-up and kept fresh in the background. One fetch at a time;
 * unknown kids trigger at most one fetch per cooldown; on failure the last good set keeps serving
 * (up to maxStaleMs) and the failure is logged once, not per request.
 */
export function createJwksKeyStore (options: JwksKeyStoreOptions): KeyStore {
  const { issuer, log } = options
  const now = options.now ?? Date.now
  const url = `${issuer}/.well-known/jwks.json`
  const maxBytes = options.maxBytes ?? 1024 * 1024
  // A failed fetch is retried no later than the next regular refresh would have come.
  const maxRetryMs = Math.min(options.maxRetryMs ?? 30_000, options.refreshIntervalMs)
  const minRetryMs = Math.min(options.minRetryMs ?? 1000, maxRetryMs)

  let keys = new Map<string, VerificationKey>()
  let generation = 0
  let loadedAt = Number.NEGATIVE_INFINITY
  let inFlight: Promise<void> | undefined
  let lastKidTriggeredFetch = Number.NEGATIVE_INFINITY
  let failing = false
  let staleLogged = false
  let retryMs = minRetryMs
  let timer: NodeJS.Timeout | undefined
  let closed = false
  const fetches = { ok: 0, timeout: 0, failed: 0 }

  function isFreshAt (nowMs: number): boolean {
    return keys.size > 0 && nowMs - loadedAt <= options.maxStaleMs
  }

  function isFresh (): boolean {
    return isFreshAt(now())
  }

  function schedule (delayMs: number): void {
    if (closed) return
    clearTimeout(timer)
    timer = setTimeout(startFetch, delayMs)
    timer.unref()
  }

  async function load (seen?: KeySetFetchContext): Promise<void> {
    try {
      const parsed = parseJwks(await fetchJson(url, { timeoutMs: options.timeoutMs, maxBytes }, seen), keys)
      const added = [...parsed.keys.keys()].filter((kid) => !keys.has(kid)).length
      const removed = [...keys.keys()].filter((kid) => !parsed.keys.has(kid)).length
      const replaced = [...keys].filter(([kid, key]) => parsed.keys.has(kid) && parsed.keys.get(kid) !== key).length
      keys = parsed.keys
      if (removed + replaced > 0) generation++
      loadedAt = now()
      fetches.ok++
      retryMs = minRetryMs
      staleLogged = false
      if (failing || added + removed + replaced > 0) {
        log.info({ issuer, keys: keys.size, added, removed, replaced, skipped: parsed.skipped }, 'Issuer signing keys loaded')
      }
      failing = false
      if (seen !== undefined) {
        seen.outcome = 'ok'
        seen.keys = keys.size
      }
      schedule(options.refreshIntervalMs)
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError'
      if (seen !== undefined) seen.outcome = timedOut ? 'timeout' : 'failed'
      if (timedOut) fetches.timeout++
      else fetches.failed++
      const reason = timedOut ? `no answer within ${options.timeoutMs} ms` : (err as Error).message
      const fields = { issuer, reason, retryInMs: retryMs }
      if (!failing) {
        failing = true
        if (keys.size > 0) log.warn(fields, 'Cannot refresh the issuer signing keys; serving the last good set and retrying in the background')
        else log.warn(fields, 'Cannot fetch the issuer signing keys; retrying in the background')
      } else {
        log.debug(fields, 'Issuer signing keys still unavailable')
      }
      if (keys.size > 0 && !isFresh() && !staleLogged) {
        staleLogged = true
        log.error({ issuer, maxStaleMs: options.maxStaleMs }, 'The last good key set is too old; refusing tokens until the issuer answers')
      }
      schedule(retryMs)
      retryMs = Math.min(retryMs * 2, maxRetryMs)
    }
  }

  /** Starts a fetch unless one is already running; everyone waits on the same one (load never rejects). */
  function startFetch (): void {
    if (closed) return
    inFlight ??= observedLoad().finally(() => { inFlight = undefined })
  }

  function observedLoad (): Promise<void> {
    if (!keySetFetches.hasSubscribers) return load()
    const seen: KeySetFetchContext = { issuer }
    return keySetFetches.tracePromise(load, seen, undefined, seen)
  }

  async function lookUpUnknown (kid: string): Promise<KeyObject> {
    const startsFetch = inFlight === undefined && now() - lastKidTriggeredFetch >= options.unknownKidCooldownMs
    if (startsFetch) {
      lastKidTriggeredFetch = now()
      startFetch()
    }
    return await (keyWaits.hasSubscribers ? keyWaits.tracePromise(keyAfterFetch, { keyId: kid, startedFetch: startsFetch }, undefined, kid) : keyAfterFetch(kid))
  }

  /** The key once the fetch in flight (if any) has ended, or the refusal. */
  async function keyAfterFetch (kid: string): Promise<KeyObject> {
    await inFlight
    const key = isFresh() ? keys.get(kid) : undefined
    if (key !== undefined) return key.key
    throw new RefusalError(isFresh() ? 'token_key_unknown' : 'issuer_unavailable')
  }

  startFetch()

  return {
    getKey (kid) {
      const key = keys.get(kid)
      if (key !== undefined && isFresh()) return key.key
      return lookUpUnknown(kid)
    },
    isFreshAt,
    generation: () => generation,
    stats: () => ({ fetches: { ...fetches }, loadedAt: keys.size > 0 ? loadedAt : undefined }),
    close () {
      closed = true
      clearTimeout(timer)
    }
  }
}
