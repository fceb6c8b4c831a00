import type { ClerkAuth } from './auth-object.js'
import type { RefusalCode } from './refusals.js'

/** What verifying a token gives: the caller, or the code of the refusal. */
export type Verdict = ClerkAuth | RefusalCode

/** True when a verdict is a refusal code rather than a verified caller. */
export function isRefusal (verdict: Verdict): verdict is RefusalCode {
  return typeof verdict === 'string'
}
