// Verdicts counted by kind of token and code, for metrics: plain counters on the hot path, read when
// an operator asks (a scrape), so that counting costs an increment and nothing more.
import type { RefusalCode } from './refusals.js'
import { TOKEN_TYPES, type TokenType } from './token-types.js'

/** The kind a verdict is counted under: unknown where no kind could be read (no token, not a JWT, a bad header, a JWT template). */
export type CountedTokenType = TokenType | 'unknown'
export interface VerdictCount { tokenType: CountedTokenType, code: RefusalCode | 'ok', count: number }

const COUNTED_TYPES: readonly CountedTokenType[] = [...TOKEN_TYPES, 'unknown']

export class VerdictCounts {
  // one row per kind, keyed by code; created up front so that counting never allocates
  readonly #rows = Object.fromEntries(COUNTED_TYPES.map((type) => [type, {}])) as Record<CountedTokenType, Partial<Record<RefusalCode | 'ok', number>>>

  /** Counts a verdict (a caller counts as ok) and returns it. */
  count<V extends object | RefusalCode> (verdict: V, tokenType: TokenType | undefined): V {
    const row = this.#rows[tokenType ?? 'unknown']
    const code = typeof verdict === 'string' ? verdict : 'ok'
    row[code] = (row[code] ?? 0) + 1
    return verdict
  }

  /** Every kind and code counted so far, with its count. */
  list (): VerdictCount[] {
    return COUNTED_TYPES.flatMap((tokenType) =>
      Object.entries(this.#rows[tokenType]).map(([code, count]) => ({ tokenType, code: code as RefusalCode | 'ok', count })))
  }
}
