// Which session cookie to read when several Clerk apps share a domain: __session, or
// __session_<suffix> derived from the publishable key, chosen as Clerk's SDK chooses
// (@clerk/backend, AuthenticateContext.usesSuffixedCookies).
import { createHash } from 'node:crypto'
import { parseCookie } from 'cookie'
import { decodeJwt } from './jwt.js'

export interface PublishableKey {
  /** The key as configured: the cookie suffix is derived from it. */
  key: string
  /** The Frontend API host the key names, e.g. clerk.example.com (no scheme). */
  frontendApi: string
  instanceType: 'production' | 'development'
}

const PUBLISHABLE_KEY = /^pk_(live|test)_([A-Za-z0-9+/]+={0,2})$/
// A host, and a port when there is one: what Clerk's SDK accepts as "a domain".
const FRONTEND_API = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d{1,5})?$/

/** The Frontend API and instance type a publishable key encodes (base64 of "<host>$"), or undefined. */
export function parsePublishableKey (key: string): PublishableKey | undefined {
  const match = PUBLISHABLE_KEY.exec(key)
  if (match === null) return undefined
  const decoded = Buffer.from(match[2] as string, 'base64').toString('utf8')
  if (!decoded.endsWith('$')) return undefined
  const frontendApi = decoded.slice(0, -1)
  if (!FRONTEND_API.test(frontendApi)) return undefined
  return { key, frontendApi, instanceType: match[1] === 'live' ? 'production' : 'development' }
}

/** The cookie-name suffix: the first 8 characters of the URL-safe base64 SHA-1 of the whole key. */
export function cookieSuffix (publishableKey: string): string {
  return createHash('sha1').update(publishableKey, 'utf8').digest('base64url').slice(0, 8)
}

// What JavaScript counts as false, as Clerk's SDK tests iss (a JSON value cannot be NaN).
const NO_ISSUER = new Set<unknown>([undefined, null, '', 0, false])

const SESSION = '__session'
const CLIENT_UAT = '__client_uat'

/** Reads the session token from a Cookie header. */
export type SessionCookieReader = (cookieHeader: string) => string | undefined

/** Without a publishable key: the plain __session cookie, as a single-app Clerk frontend sets it. */
export function readPlainSessionCookie (cookieHeader: string): string | undefined {
  return parseCookie(cookieHeader)[SESSION]
}

/**
 * With a publishable key: Clerk's rules, first match wins. The tokens are only decoded here, to read
 * iss, iat and exp; whichever is chosen is then verified like any other. now: ms since the epoch.
 */
export function createSessionCookieReader (key: PublishableKey, now: () => number): SessionCookieReader {
  const suffix = cookieSuffix(key.key)
  const suffixedSession = `${SESSION}_${suffix}`
  const suffixedUat = `${CLIENT_UAT}_${suffix}`

  function usesSuffixed (cookies: Record<string, string | undefined>): boolean {
    // as in Clerk's SDK, an empty cookie is no cookie (the plain uat is only ever compared with '0')
    const uat = cookies[CLIENT_UAT]
    const suffixedUatValue = cookies[suffixedUat] === '' ? undefined : cookies[suffixedUat]
    const session = cookies[SESSION] ?? ''
    const suffixed = cookies[suffixedSession] ?? ''
    const plainClaims = decodeJwt(session)?.payload
    // a plain session without an issuer: read it, to answer signed out rather than guess
    if (session !== '' && NO_ISSUER.has(plainClaims?.iss)) return false
    // a plain session of another instance: this instance's is the suffixed one
    if (plainClaims !== undefined && (typeof plainClaims.iss !== 'string' || plainClaims.iss.replace(/https?:\/\//gi, '') !== key.frontendApi)) return true
    if (suffixedUatValue === undefined && suffixed === '') return false
    const suffixedClaims = decodeJwt(suffixed)?.payload
    const iatOf = (claims: Record<string, unknown> | undefined): number => typeof claims?.iat === 'number' ? claims.iat : 0
    // both signed in, the plain one newer
    if (suffixedUatValue !== '0' && uat !== '0' && iatOf(plainClaims) > iatOf(suffixedClaims)) return false
    // suffixed signed out, plain signed in
    if (suffixedUatValue === '0' && uat !== '0') return false
    // development only: suffixed signed in with an expired token, plain signed out
    if (key.instanceType !== 'production' && suffixedUatValue !== '0' && uat === '0' &&
        typeof suffixedClaims?.exp === 'number' && suffixedClaims.exp <= Math.floor(now() / 1000)) return false
    // a suffixed session without its uat: suffixed cookies are off for the instance
    if (suffixedUatValue === undefined && suffixed !== '') return false
    return true
  }

  return (cookieHeader) => {
    const cookies = parseCookie(cookieHeader)
    return usesSuffixed(cookies) ? cookies[suffixedSession] : cookies[SESSION]
  }
}
