// Opaque machine tokens (mt_…, oat_…, ak_…) verified by Clerk's Backend API
// (shared/clerk/machine-tokens.md §3): every call bounded in time, in number per second, and shared
// by concurrent requests; verdicts cached by whole token, a caller for at most cacheMs.
import { LruMap } from 'toad-cache'
import { machineAuthFromVerification } from './auth-object.js'
import type { Logger } from './options.js'
import type { RefusalCode } from './refusals.js'
import type { MachineTokenType } from './token-types.js'
import type { Verdict } from './verification-cache.js'

export interface MachineApiOptions {
  /** Clerk's Backend API, e.g. https://api.clerk.com; the verify paths have no /v1, as in Clerk's SDK. */
  apiUrl: string
  /** The instance secret key, sk_…. */
  secretKey: string
  /** A machine secret key, ak_…: M2M tokens are then verified as this machine (Clerk checks they may reach it). */
  machineSecretKey?: string
  /** This service's machine id: an opaque M2M token must name it in its scopes. */
  machineId?: string
  timeoutMs: number
  /** How long Clerk's answer on a token is reused: the longest a revocation can go unseen. */
  cacheMs: number
  cacheSize: number
  /** Calls to Clerk per second at most, whatever arrives: random tokens cannot become a bill. */
  maxCallsPerSecond: number
  now: () => number
  log: Logger
}

// The API version Clerk's SDK sends with these calls.
const CLERK_API_VERSION = '2026-05-12'

const ENDPOINTS: Record<MachineTokenType, { path: string, field: string, object: string }> = {
  api_key: { path: '/api_keys/verify', field: 'secret', object: 'api_key' },
  m2m_token: { path: '/m2m_tokens/verify', field: 'token', object: 'machine_to_machine_token' },
  oauth_token: { path: '/oauth_applications/access_tokens/verify', field: 'access_token', object: 'clerk_idp_oauth_access_token' }
}

// Longer strings are not Clerk's opaque tokens: refused without a call.
export const MAX_OPAQUE_TOKEN_LENGTH = 512

/** Clerk's 200 body for a token, as far as it is needed (snake_case, times in ms). */
export interface MachineVerification {
  object: string
  id: string
  subject: string
  scopes: string[]
  claims: Record<string, unknown> | null
  name?: string
  client_id?: string
  revoked: boolean
  expired: boolean
  expiration: number | null
}

function isVerification (body: unknown, object: string): body is MachineVerification {
  const value = body as Partial<MachineVerification> | null
  return value !== null && typeof value === 'object' && value.object === object &&
    typeof value.id === 'string' && typeof value.subject === 'string' && value.subject !== '' &&
    (value.scopes === undefined || (Array.isArray(value.scopes) && value.scopes.every((scope) => typeof scope === 'string'))) &&
    (value.expiration === undefined || value.expiration === null || Number.isFinite(value.expiration))
}

/** A call's outcome: Clerk's verdict on the token, or why Clerk could not give one (never the caller's fault). */
type CallResult = { verification: MachineVerification } | { refusal: RefusalCode } | { failure: string }

interface Entry { verdict: Verdict, until: number }

export interface MachineApi {
  verify: (token: string, type: MachineTokenType) => Verdict | Promise<Verdict>
  stats: () => { apiCalls: number, cachedVerdicts: number }
}

export function createMachineApi (options: MachineApiOptions): MachineApi {
  const { now, log } = options
  const cache = new LruMap<Entry>(options.cacheSize)
  const inFlight = new Map<string, Promise<Verdict>>()
  let apiCalls = 0
  // a token bucket: maxCallsPerSecond calls, refilled continuously
  let budget = options.maxCallsPerSecond
  let budgetAt = now()
  let exhaustedLogged = false
  let rejectedKeyLogged = false

  function takeBudget (): boolean {
    const at = now()
    budget = Math.min(options.maxCallsPerSecond, budget + (at - budgetAt) * options.maxCallsPerSecond / 1000)
    budgetAt = at
    if (budget < 1) return false
    budget -= 1
    exhaustedLogged = false
    return true
  }

  async function call (token: string, type: MachineTokenType): Promise<CallResult> {
    const endpoint = ENDPOINTS[type]
    const key = type === 'm2m_token' ? options.machineSecretKey ?? options.secretKey : options.secretKey
    apiCalls++
    let response: Response
    try {
      response = await fetch(`${options.apiUrl}${endpoint.path}`, {
        method: 'POST',
        signal: AbortSignal.timeout(options.timeoutMs),
        redirect: 'error',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'clerk-api-version': CLERK_API_VERSION },
        body: JSON.stringify({ [endpoint.field]: token })
      })
    } catch (err) {
      return { failure: (err as Error).name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : (err as Error).message }
    }
    const body: unknown = await response.json().catch(() => undefined)
    if (response.status === 200) {
      // an OAuth token Clerk no longer considers active
      if ((body as { active?: unknown } | undefined)?.active === false) return { refusal: 'token_expired' }
      return isVerification(body, endpoint.object) ? { verification: body } : { failure: 'an answer that is not a verification' }
    }
    // Clerk does not know the token (or finds it malformed): the caller's problem
    if (response.status === 400 || response.status === 404 || response.status === 422) return { refusal: 'token_unknown' }
    if ((response.status === 401 || response.status === 403) && !rejectedKeyLogged) {
      rejectedKeyLogged = true
      log.error({ status: response.status }, 'Clerk\'s Backend API refused the secret key: check CLERK_SECRET_KEY / CLERK_MACHINE_SECRET_KEY')
    }
    return { failure: `HTTP ${response.status}` }
  }

  function judge (result: CallResult, type: MachineTokenType, nowMs: number): { verdict: Verdict, until: number | undefined } {
    if ('failure' in result) return { verdict: 'clerk_api_unavailable', until: undefined }
    if ('refusal' in result) return { verdict: result.refusal, until: nowMs + options.cacheMs }
    const { verification } = result
    // Clerk may answer 200 for a revoked or expired token: its flags and expiration decide.
    if (verification.revoked) return { verdict: 'token_revoked', until: nowMs + options.cacheMs }
    if (verification.expired || (verification.expiration !== null && verification.expiration !== undefined && verification.expiration <= nowMs)) {
      return { verdict: 'token_expired', until: nowMs + options.cacheMs }
    }
    if (type === 'm2m_token' && options.machineSecretKey === undefined && options.machineId !== undefined &&
        !(verification.scopes ?? []).includes(options.machineId)) {
      return { verdict: 'token_audience_invalid', until: nowMs + options.cacheMs }
    }
    const until = Math.min(nowMs + options.cacheMs, verification.expiration ?? Number.POSITIVE_INFINITY)
    return { verdict: machineAuthFromVerification(type, verification), until }
  }

  async function verifyRemotely (token: string, type: MachineTokenType): Promise<Verdict> {
    const result = await call(token, type)
    if ('failure' in result) log.warn({ type, reason: result.failure }, 'Clerk\'s Backend API could not verify a machine token')
    const nowMs = now()
    const { verdict, until } = judge(result, type, nowMs)
    if (until !== undefined) cache.set(token, { verdict, until })
    return verdict
  }

  return {
    verify (token, type) {
      if (token.length > MAX_OPAQUE_TOKEN_LENGTH) return 'token_malformed'
      const cached = cache.get(token)
      if (cached !== undefined && now() < cached.until) return cached.verdict
      const running = inFlight.get(token)
      if (running !== undefined) return running
      if (!takeBudget()) {
        if (!exhaustedLogged) {
          exhaustedLogged = true
          log.warn({ maxCallsPerSecond: options.maxCallsPerSecond }, 'Too many unknown machine tokens: Clerk\'s Backend API is not called more often than this')
        }
        return 'clerk_api_unavailable'
      }
      const verdict = verifyRemotely(token, type).finally(() => inFlight.delete(token))
      inFlight.set(token, verdict)
      return verdict
    },
    stats: () => ({ apiCalls, cachedVerdicts: cache.size })
  }
}
