// Opaque machine tokens (mt_…, oat_…, ak_…) verified by Clerk's Backend API, called as Clerk's SDK
// calls it: every call bounded in time, in number per second, and shared
// by concurrent requests; verdicts cached by whole token, a caller for at most cacheMs.
import { Ajv, type ValidateFunction } from 'ajv'
import { createHash } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { LruMap } from 'toad-cache'
import { machineAuthFromVerification, type MachineVerification } from './auth-object.js'
import { clientKey, type Client } from './client-key.js'
import { backendApiCalls, type BackendApiCallContext } from './diagnostics.js'
import { BodyTooLargeError, readJsonBody, withTimeout } from './jwks.js'
import type { Logger, SharedVerdicts } from './options.js'
import type { RefusalCode } from './refusals.js'
import type { MachineTokenType } from './token-types.js'
import { isRefusal, type Verdict } from './verdict.js'

export interface MachineApiOptions {
  /** Clerk's Backend API, e.g. https://api.clerk.com; the verify paths have no /v1, as in Clerk's SDK. */
  apiUrl: string
  /** The instance secret key, sk_…. */
  secretKey: string
  /** A machine secret key, ak_…: M2M tokens are then verified as this machine (Clerk checks they may reach it). */
  machineSecretKey?: string | undefined
  /** This service's machine id: an opaque M2M token must name it in its scopes. */
  machineId?: string | undefined
  timeoutMs: number
  /** How long Clerk's answer on a token is reused: the longest a revocation can go unseen. */
  cacheMs: number
  cacheSize: number
  /** Calls to Clerk per second at most, whatever arrives: random tokens cannot become a bill. */
  maxCallsPerSecond: number
  /** Calls per second at most for tokens new to this process from one client (an address, an IPv6 /64). */
  maxCallsPerClientPerSecond: number
  /** Where replicas share Clerk's answers and count their calls; undefined: this process alone. */
  shared?: SharedVerdicts | undefined
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
// After their prefix, Clerk's opaque tokens are base64 or base64url text (API-key secrets carry / and
// =): anything else is no Clerk token, refused without a call.
const OPAQUE_TOKEN = /^(?:ak|mt|oat)_[A-Za-z0-9+/=_-]+$/
// New tokens may not take the last quarter of the calls per second: it is kept for re-checking tokens
// Clerk has confirmed, so that a flood of new strings cannot stop known callers from being served.
const RECHECK_SHARE = 0.25
// Clients whose budgets are remembered; one evicted starts again with a full budget of its own.
const CLIENTS = 10_000
// A budget running out is logged at most this often, with how many calls it refused since.
const EXHAUSTION_LOG_INTERVAL_MS = 60_000

/** Calls per second, refilled continuously by the clock: a token bucket that starts full. */
export class CallBudget {
  #level: number
  #at: number
  constructor (readonly perSecond: number, at: number) {
    this.#level = perSecond
    this.#at = at
  }

  /** Whether a call is left once keep calls are set aside, after refilling up to at. */
  available (at: number, keep = 0): boolean {
    this.#level = Math.min(this.perSecond, this.#level + Math.max(0, at - this.#at) * this.perSecond / 1000)
    this.#at = Math.max(this.#at, at)
    return this.#level >= keep + 1
  }

  /** Spends one call; only after available() said yes. */
  take (): void {
    this.#level -= 1
  }
}

// Clerk's answers are a few hundred bytes; a verification with large custom claims stays far below this.
export const MAX_ANSWER_BYTES = 64 * 1024
// Claims are served back to callers (/me, GraphQL me) and serialised: nesting deeper than this is no claim set.
export const MAX_CLAIMS_DEPTH = 16

const text = { type: 'string', minLength: 1, maxLength: 1024 } as const
const ajv = new Ajv({ strict: true })

/** Every field of Clerk's 200 body that is read, checked before anything is taken from it. */
const verificationValidators = Object.fromEntries(Object.entries(ENDPOINTS).map(([type, { object }]) => [type, ajv.compile({
  type: 'object',
  required: ['object', 'id', 'subject', 'revoked', 'expired'],
  properties: {
    object: { const: object },
    id: text,
    subject: text,
    name: { type: 'string', maxLength: 1024 },
    client_id: { type: 'string', maxLength: 1024 },
    scopes: { type: 'array', maxItems: 1000, items: { type: 'string', maxLength: 1024 } },
    claims: { type: ['object', 'null'] },
    revoked: { type: 'boolean' },
    expired: { type: 'boolean' },
    expiration: { type: ['integer', 'null'], minimum: 0 }
  }
})])) as Record<MachineTokenType, ValidateFunction>

/** Whether value nests objects or arrays deeper than maxDepth (walked without recursion). */
export function nestsDeeperThan (value: unknown, maxDepth: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number]
    if (item === null || typeof item !== 'object') continue
    if (depth >= maxDepth) return true
    for (const child of Object.values(item)) stack.push([child, depth + 1])
  }
  return false
}

function isVerification (body: unknown, type: MachineTokenType): body is MachineVerification {
  return verificationValidators[type](body) && !nestsDeeperThan((body as MachineVerification).claims, MAX_CLAIMS_DEPTH)
}

/** Why Clerk's API could not give a verdict, for the log and the failure counts. */
export type ApiFailure = 'timeout' | 'unreachable' | 'status' | 'answer'

/** A call's outcome: Clerk's verdict on the token, or why Clerk could not give one (never the caller's fault). */
type CallResult = { verification: MachineVerification } | { refusal: RefusalCode } | { failure: ApiFailure, detail: string }

/** until: reused as it is; staleUntil: a confirmed caller, served while its re-check finds no budget. */
interface Entry { verdict: Verdict, until: number, staleUntil: number }

/** Which budget refused a call: the client's own, the process's, or the fleet's (SharedVerdicts). */
export type BudgetScope = 'client' | 'process' | 'fleet'

export interface MachineApiStats {
  apiCalls: number
  cachedVerdicts: number
  failures: Record<ApiFailure, number>
  /** Calls not made because a budget was spent (the request got 503 clerk_api_unavailable, or a stale verdict). */
  budgetRefusals: Record<BudgetScope, number>
  /** Requests served a confirmed verdict past its cache period while its re-check waited for budget. */
  staleVerdicts: number
  /** Verdicts taken from the shared store (another replica asked Clerk), and store operations that failed. */
  sharedVerdicts: number
  sharedFailures: number
}

export interface MachineApi {
  /** client: who sends it (its ip); a call for a new token comes out of that client's budget. */
  verify: (token: string, type: MachineTokenType, client?: Client) => Verdict | Promise<Verdict>
  stats: () => MachineApiStats
}

// While another replica asks Clerk about a token, how often the store is asked for its answer.
const CLAIM_POLL_MS = 20

/** Clerk's answer as replicas share it: at, when Clerk gave it (ms); result, its verification or refusal. */
interface SharedAnswer { at: number, result: { verification: MachineVerification } | { refusal: RefusalCode } }

// Clerk's refusals that are cached (and so shared); anything else read from the store is ignored.
const SHAREABLE_REFUSALS = new Set<string>(['token_unknown', 'token_expired'])

/** A shared answer read back, checked as strictly as Clerk's own; undefined if it is not one. */
function readSharedAnswer (value: string | null | undefined, type: MachineTokenType): SharedAnswer | undefined {
  if (typeof value !== 'string' || value.length > MAX_ANSWER_BYTES) return undefined
  let answer: Partial<SharedAnswer> | null
  try {
    answer = JSON.parse(value) as Partial<SharedAnswer> | null
  } catch {
    return undefined
  }
  const result = answer?.result as Record<string, unknown> | null | undefined
  if (typeof answer?.at !== 'number' || !Number.isFinite(answer.at) || typeof result !== 'object' || result === null) return undefined
  if (typeof result.refusal === 'string' && SHAREABLE_REFUSALS.has(result.refusal) && Object.keys(result).length === 1) return answer as SharedAnswer
  return isVerification(result.verification, type) && Object.keys(result).length === 1 ? answer as SharedAnswer : undefined
}

export function createMachineApi (options: MachineApiOptions): MachineApi {
  const { now, log } = options
  const cache = new LruMap<Entry>(options.cacheSize)
  const inFlight = new Map<string, Promise<Verdict>>()
  let apiCalls = 0
  const failures: Record<ApiFailure, number> = { timeout: 0, unreachable: 0, status: 0, answer: 0 }
  const budgetRefusals: Record<BudgetScope, number> = { client: 0, process: 0, fleet: 0 }
  let staleVerdicts = 0
  let sharedVerdicts = 0
  let sharedFailures = 0
  let rejectedKeyLogged = false
  const processBudget = new CallBudget(options.maxCallsPerSecond, now())
  const clientBudgets = new LruMap<CallBudget>(CLIENTS)
  const reserved = Math.floor(options.maxCallsPerSecond * RECHECK_SHARE)
  const lastLogged: Record<BudgetScope, number> = { client: -Infinity, process: -Infinity, fleet: -Infinity }
  const refusedSinceLog: Record<BudgetScope, number> = { client: 0, process: 0, fleet: 0 }
  const { shared } = options
  const sharedFailed = (): void => { sharedFailures++ }

  /**
   * Takes a call from the budgets, or names the one that is spent. A re-check of a confirmed token
   * draws on the whole process budget; a new token on its client's budget and on the process budget
   * but the share kept for re-checks.
   */
  function takeBudget (client: string, recheck: boolean, at: number): BudgetScope | undefined {
    if (recheck) {
      if (!processBudget.available(at)) return 'process'
      processBudget.take()
      return undefined
    }
    let own = clientBudgets.get(client)
    if (own === undefined) {
      own = new CallBudget(options.maxCallsPerClientPerSecond, at)
      clientBudgets.set(client, own)
    }
    if (!own.available(at)) return 'client'
    if (!processBudget.available(at, reserved)) return 'process'
    own.take()
    processBudget.take()
    return undefined
  }

  function refusedFor (scope: BudgetScope, at: number): void {
    budgetRefusals[scope]++
    refusedSinceLog[scope]++
    if (at - lastLogged[scope] < EXHAUSTION_LOG_INTERVAL_MS) return
    log.warn({ scope, refused: refusedSinceLog[scope], maxCallsPerSecond: options.maxCallsPerSecond, maxCallsPerClientPerSecond: options.maxCallsPerClientPerSecond },
      scope === 'client'
        ? 'A client sends more new machine tokens than its share of calls to Clerk\'s Backend API: its new tokens get 503 clerk_api_unavailable'
        : scope === 'process'
          ? 'Too many new machine tokens: Clerk\'s Backend API is not called more often than this'
          : 'Too many new machine tokens across the replicas: Clerk\'s Backend API is not called more often than this by all of them together')
    lastLogged[scope] = at
    refusedSinceLog[scope] = 0
  }

  const failureOf = (err: unknown): CallResult => (err as Error).name === 'TimeoutError'
    ? { failure: 'timeout', detail: `no answer within ${options.timeoutMs} ms` }
    : err instanceof BodyTooLargeError
      ? { failure: 'answer', detail: err.message }
      : { failure: 'unreachable', detail: (err as Error).message }

  /** The call, told to observers (tracing) when there are any. */
  async function observedCall (token: string, type: MachineTokenType): Promise<CallResult> {
    if (!backendApiCalls.hasSubscribers) return await call(token, type)
    const seen: BackendApiCallContext = { tokenType: type, path: ENDPOINTS[type].path }
    return await backendApiCalls.tracePromise(async () => {
      const result = await call(token, type, seen)
      seen.outcome = 'failure' in result ? result.failure : 'refusal' in result ? 'refused' : 'verified'
      return result
    }, seen)
  }

  async function call (token: string, type: MachineTokenType, seen?: BackendApiCallContext): Promise<CallResult> {
    const endpoint = ENDPOINTS[type]
    const key = type === 'm2m_token' ? options.machineSecretKey ?? options.secretKey : options.secretKey
    apiCalls++
    // the timeout covers the body too: it is read within the same signal, and the call ends with it
    return await withTimeout(options.timeoutMs, async (signal): Promise<CallResult> => {
      let response: Response
      try {
        response = await fetch(`${options.apiUrl}${endpoint.path}`, {
          method: 'POST',
          signal,
          redirect: 'error',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'clerk-api-version': CLERK_API_VERSION },
          body: JSON.stringify({ [endpoint.field]: token })
        })
      } catch (err) {
        return failureOf(err)
      }
      if (seen !== undefined) seen.status = response.status
      if (response.status !== 200) {
        await response.body?.cancel()
        // Clerk does not know the token (or finds it malformed): the caller's problem
        if (response.status === 400 || response.status === 404 || response.status === 422) return { refusal: 'token_unknown' }
        if ((response.status === 401 || response.status === 403) && !rejectedKeyLogged) {
          rejectedKeyLogged = true
          log.error({ status: response.status }, 'Clerk\'s Backend API refused the secret key: check CLERK_SECRET_KEY / CLERK_MACHINE_SECRET_KEY')
        }
        return { failure: 'status', detail: `HTTP ${response.status}` }
      }
      let body: unknown
      try {
        body = await readJsonBody(response, MAX_ANSWER_BYTES)
      } catch (err) {
        return err instanceof SyntaxError ? { failure: 'answer', detail: 'an answer that is not JSON' } : failureOf(err)
      }
      // an OAuth token Clerk no longer considers active
      if ((body as { active?: unknown } | null)?.active === false) return { refusal: 'token_expired' }
      return isVerification(body, type) ? { verification: body } : { failure: 'answer', detail: 'an answer that is not a verification' }
    }).catch(failureOf)
  }

  /** The verdict on Clerk's answer, reusable until a cache period after checkedAt, when Clerk gave it. */
  function judge (result: CallResult, type: MachineTokenType, nowMs: number, checkedAt = nowMs): { verdict: Verdict, until: number | undefined } {
    if ('failure' in result) return { verdict: 'clerk_api_unavailable', until: undefined }
    const periodEnd = checkedAt + options.cacheMs
    if ('refusal' in result) return { verdict: result.refusal, until: periodEnd }
    const { verification } = result
    // Clerk may answer 200 for a revoked or expired token: its flags and expiration decide.
    if (verification.revoked) return { verdict: 'token_revoked', until: periodEnd }
    if (verification.expired || (verification.expiration !== null && verification.expiration !== undefined && verification.expiration <= nowMs)) {
      return { verdict: 'token_expired', until: periodEnd }
    }
    if (type === 'm2m_token' && options.machineSecretKey === undefined && options.machineId !== undefined &&
        !(verification.scopes ?? []).includes(options.machineId)) {
      return { verdict: 'token_audience_invalid', until: periodEnd }
    }
    const until = Math.min(periodEnd, verification.expiration ?? Number.POSITIVE_INFINITY)
    return { verdict: machineAuthFromVerification(type, verification), until }
  }

  /**
   * Until when a confirmed caller may be served while its re-check waits for budget: one more cache
   * period, never past the token's expiration (an entry cut short by it gets nothing more). A
   * revocation then goes unseen for at most twice the cache period, and only while Clerk's budget is
   * spent. Only confirmed callers are ever served stale: Clerk's own no (revoked, expired) stands.
   */
  function staleUntil (until: number, nowMs: number): number {
    return until < nowMs + options.cacheMs ? until : until + options.cacheMs
  }

  async function verifyRemotely (token: string, type: MachineTokenType, sharedKey?: string): Promise<Verdict> {
    const result = await observedCall(token, type)
    if ('failure' in result) {
      failures[result.failure]++
      log.warn({ type, reason: result.detail }, 'Clerk\'s Backend API could not verify a machine token')
    }
    const nowMs = now()
    const { verdict, until } = judge(result, type, nowMs)
    if (until === undefined) return verdict
    cache.set(token, { verdict, until, staleUntil: staleUntil(until, nowMs) })
    if (shared !== undefined && sharedKey !== undefined && until > nowMs) {
      const answer: SharedAnswer = { at: nowMs, result: result as SharedAnswer['result'] }
      shared.set(sharedKey, JSON.stringify(answer), until - nowMs).catch(sharedFailed)
    }
    return verdict
  }

  /** What another replica stored for this token, as a verdict cached here too; undefined if nothing usable. */
  function fromStore (value: string | null | undefined, token: string, type: MachineTokenType): Verdict | undefined {
    const answer = readSharedAnswer(value, type)
    if (answer === undefined) return undefined
    const nowMs = now()
    const { verdict, until } = judge(answer.result, type, nowMs, Math.min(answer.at, nowMs))
    if (until === undefined || until <= nowMs) return undefined
    cache.set(token, { verdict, until, staleUntil: staleUntil(until, nowMs) })
    sharedVerdicts++
    return verdict
  }

  /**
   * With a shared store: another replica's answer if it has one; otherwise the claim to ask Clerk, or
   * (another replica holds it) its answer once stored, waiting about the API timeout at most. Then the
   * budgets, the fleet's included, and the call. A store that fails leaves it to this process.
   */
  async function verifyShared (token: string, type: MachineTokenType, client: string, cached: Entry | undefined, at: number): Promise<Verdict> {
    const store = shared as SharedVerdicts
    const key = createHash('sha256').update(token).digest('base64url')
    let claimed = false
    try {
      const stored = fromStore(await store.get(key), token, type)
      if (stored !== undefined) return stored
      // the claim outlives the claimant's call (at most timeoutMs): a waiter gives up first, and asks itself
      for (let polls = 0; !(claimed = await store.claim(key, 2 * options.timeoutMs)); polls++) {
        if (polls * CLAIM_POLL_MS >= options.timeoutMs) break
        await delay(CLAIM_POLL_MS)
        const answered = fromStore(await store.get(key), token, type)
        if (answered !== undefined) return answered
      }
    } catch {
      sharedFailures++
    }
    const recheck = cached !== undefined && !isRefusal(cached.verdict)
    let spent = takeBudget(client, recheck, at)
    if (spent === undefined) {
      try {
        const calls = await store.countCall(Math.floor(at / 1000))
        if (calls > (recheck ? options.maxCallsPerSecond : options.maxCallsPerSecond - reserved)) spent = 'fleet'
      } catch {
        sharedFailures++
      }
    }
    if (spent === undefined) return await verifyRemotely(token, type, key)
    // no call after all: the others need not wait for one
    if (claimed) store.release(key).catch(sharedFailed)
    return refused(spent, recheck, cached, at)
  }

  /** A call not made: a confirmed caller within its stale period keeps its verdict; anyone else waits. */
  function refused (scope: BudgetScope, recheck: boolean, cached: Entry | undefined, at: number): Verdict {
    refusedFor(scope, at)
    if (recheck && cached !== undefined && at < cached.staleUntil) {
      staleVerdicts++
      return cached.verdict
    }
    return 'clerk_api_unavailable'
  }

  return {
    verify (token, type, client) {
      if (token.length > MAX_OPAQUE_TOKEN_LENGTH || !OPAQUE_TOKEN.test(token)) return 'token_malformed'
      const at = now()
      const cached = cache.get(token)
      if (cached !== undefined && at < cached.until) return cached.verdict
      const running = inFlight.get(token)
      if (running !== undefined) return running
      let verdict: Promise<Verdict>
      if (shared === undefined) {
        const recheck = cached !== undefined && !isRefusal(cached.verdict)
        const spent = takeBudget(clientKey(client?.ip), recheck, at)
        if (spent !== undefined) return refused(spent, recheck, cached, at)
        verdict = verifyRemotely(token, type)
      } else {
        verdict = verifyShared(token, type, clientKey(client?.ip), cached, at)
      }
      verdict = verdict.finally(() => inFlight.delete(token))
      inFlight.set(token, verdict)
      return verdict
    },
    stats: () => ({ apiCalls, cachedVerdicts: cache.size, failures: { ...failures }, budgetRefusals: { ...budgetRefusals }, staleVerdicts, sharedVerdicts, sharedFailures })
  }
}
