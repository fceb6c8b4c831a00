import type { RefusalCode } from './refusals.js'

// Three base64url segments; the signature may be empty so that alg "none" is named as such later.
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]*$/
const BEARER = /^Bearer(?:[ \t]+(.*))?$/i
// Far above any Clerk token (about 1-2 KiB with custom claims); bounds the work spent on junk.
export const MAX_TOKEN_LENGTH = 16 * 1024

export type TokenLookup = { token: string, refusal?: undefined } | { token?: undefined, refusal: RefusalCode }

/**
 * Where a Clerk frontend puts its session token: the Authorization header for cross-origin
 * calls, the __session cookie for same-origin ones. The header wins; any other scheme is refused.
 */
export function findToken (authorization: string | undefined, sessionCookie: () => string | undefined): TokenLookup {
  let candidate: string | undefined
  if (authorization !== undefined) {
    const match = BEARER.exec(authorization)
    if (match === null) return { refusal: 'token_scheme_invalid' }
    candidate = match[1]?.trim()
  } else {
    candidate = sessionCookie()
  }
  if (candidate === undefined || candidate === '') return { refusal: 'token_missing' }
  if (candidate.length > MAX_TOKEN_LENGTH || !JWT_SHAPE.test(candidate)) return { refusal: 'token_malformed' }
  return { token: candidate }
}
