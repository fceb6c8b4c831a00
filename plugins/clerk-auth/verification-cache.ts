import { LruMap } from 'toad-cache'
import { isLasting } from './refusals.js'
import type { TokenType } from './token-types.js'
import { isRefusal, type Verdict } from './verdict.js'

// A lasting refusal (one the same token always gets) is cached this long: a flood of one bad token
// costs one check a minute.
const REFUSAL_TTL_MS = 60_000
// Longer strings are abnormal for Clerk tokens; they are checked every time rather than held in memory.
const MAX_CACHED_TOKEN_LENGTH = 4096

/** Until when a verdict on a token may be reused: a verified token never past its exp. */
export function reusableUntil (verdict: Verdict, exp: unknown, nowMs: number): number | undefined {
  if (!isRefusal(verdict)) return typeof exp === 'number' ? exp * 1000 : undefined
  return isLasting(verdict) ? nowMs + REFUSAL_TTL_MS : undefined
}

// Every request's token is a fresh string of about 1 KB, and hashing it for a Map lookup costs more
// than the rest of a cache hit. Entries are therefore found by the token's last characters (the end of
// its signature: 192 bits, so distinct tokens practically never share them) and then confirmed on the
// whole token. A token sharing another's ending only replaces that entry; it never gets its verdict.
const INDEX_LENGTH = 32

function indexOf (token: string): string {
  return token.slice(-INDEX_LENGTH)
}

/**
 * tokenType: the kind the token showed before its key was looked up, unknown for tokens refused before
 * that; keyId: the key it was checked with, for JWTs that got that far.
 */
export interface CachedVerdict { token: string, verdict: Verdict, until: number, keyGeneration: number, tokenType: TokenType | undefined, keyId: string | undefined }

function lookUp (entries: LruMap<CachedVerdict>, token: string, nowMs: number, keyGeneration: number): CachedVerdict | undefined {
  const index = indexOf(token)
  const entry = entries.get(index)
  if (entry === undefined || entry.token !== token) return undefined
  if (nowMs < entry.until && entry.keyGeneration === keyGeneration) return entry
  entries.delete(index)
  return undefined
}

/** A cached verdict where tokens of these kinds are accepted: a token of another kind is not. */
export function verdictHere (entry: CachedVerdict, accepts: readonly TokenType[]): Verdict {
  return entry.tokenType === undefined || accepts.includes(entry.tokenType) ? entry.verdict : 'token_type_not_accepted'
}

/**
 * Bounded LRUs of verdicts on whole tokens: callers and refusals apart, so that a stream of junk
 * tokens only evicts other junk and never sends a valid token back through RSA.
 */
export class VerificationCache {
  readonly #accepted: LruMap<CachedVerdict>
  readonly #refused: LruMap<CachedVerdict>

  constructor (readonly maxEntries: number) {
    this.#accepted = new LruMap<CachedVerdict>(maxEntries)
    this.#refused = new LruMap<CachedVerdict>(maxEntries)
  }

  /** Verdicts held: callers and refusals. */
  get size (): number {
    return this.#accepted.size + this.#refused.size
  }

  /**
   * The verdict, with the kind of token it was given to, if it is still valid now and no key was
   * withdrawn since it was given; verdictHere says what it is where other kinds are accepted.
   */
  find (token: string, nowMs: number, keyGeneration: number): CachedVerdict | undefined {
    return lookUp(this.#accepted, token, nowMs, keyGeneration) ?? lookUp(this.#refused, token, nowMs, keyGeneration)
  }

  remember (token: string, verdict: Verdict, until: number | undefined, keyGeneration: number, tokenType?: TokenType, keyId?: string): void {
    if (until === undefined || token.length > MAX_CACHED_TOKEN_LENGTH) return
    const entries = isRefusal(verdict) ? this.#refused : this.#accepted
    entries.set(indexOf(token), { token, verdict, until, keyGeneration, tokenType, keyId })
  }
}
