import type { RefusalCode } from './refusals.js'

// Three base64url segments; the signature may be empty so that alg "none" is named as such later.
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]*$/
// Far above any Clerk token (about 1-2 KiB with custom claims); bounds the work spent on junk.
export const MAX_TOKEN_LENGTH = 16 * 1024

/** fromCookie: the token came from the __session cookie, where only session tokens belong. */
export type TokenLookup = { token: string, fromCookie: boolean, refusal?: undefined } | { token?: undefined, refusal: RefusalCode }

const BEARER = 'bearer'

/** The credentials after a case-insensitive "Bearer" and blanks; undefined for any other scheme. */
function bearerCredentials (header: string): string | undefined {
  // Past the end of a shorter header charCodeAt gives NaN, which matches no letter.
  for (let i = 0; i < BEARER.length; i++) {
    // | 0x20 lower-cases ASCII letters
    if ((header.charCodeAt(i) | 0x20) !== BEARER.charCodeAt(i)) return undefined
  }
  if (header.length === BEARER.length) return ''
  const separator = header.charCodeAt(BEARER.length)
  if (separator !== 0x20 && separator !== 0x09) return undefined
  return header.slice(BEARER.length + 1).trim()
}

/**
 * Where a Clerk frontend puts its session token: the Authorization header for cross-origin
 * calls, the __session cookie for same-origin ones. A non-empty header wins; any other scheme is refused.
 * Only cheap checks here: the shape is checked (isWellFormed) when the token is not in the cache.
 */
export function findToken (
  authorization: string | undefined,
  cookieHeader: string | undefined,
  readSessionCookie: (cookieHeader: string) => string | undefined
): TokenLookup {
  let candidate: string | undefined
  // An empty header is no header, as in Clerk's SDK (Node trims header values, so blanks arrive empty).
  const fromHeader = authorization !== undefined && authorization !== ''
  if (fromHeader) {
    candidate = bearerCredentials(authorization)
    if (candidate === undefined) return { refusal: 'token_scheme_invalid' }
  } else if (cookieHeader !== undefined) {
    candidate = readSessionCookie(cookieHeader)
  }
  if (candidate === undefined || candidate === '') return { refusal: 'token_missing' }
  return { token: candidate, fromCookie: !fromHeader }
}

/** A compact JWT of sane size: three base64url segments. */
export function isWellFormed (token: string): boolean {
  return token.length <= MAX_TOKEN_LENGTH && JWT_SHAPE.test(token)
}
