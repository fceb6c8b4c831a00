import { isUtf8 } from 'node:buffer'
import { verify, type KeyObject } from 'node:crypto'
import { LruMap } from 'toad-cache'
import { isWellFormed } from './token-source.js'

/** A compact JWS taken apart; nothing in it is trusted until the signature is checked. */
export interface DecodedJwt {
  header: Record<string, unknown>
  payload: Record<string, unknown>
  /** What the signature covers: the header and payload segments exactly as sent. */
  signingInput: string
  signature: string
}

// Value of each base64url character; the shape check (isWellFormed) has let no other through.
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * True when segment is the one unpadded base64url spelling of its bytes. Buffer's decoder ignores
 * the unused low bits of the last character, so without this one token has up to 16 spellings,
 * each a fresh cache entry and RSA check.
 */
export function isCanonicalBase64url (segment: string): boolean {
  switch (segment.length % 4) {
    case 0: return true
    // 2 characters carry one byte: the last one's 4 low bits are unused and must be 0
    case 2: return BASE64URL.indexOf(segment[segment.length - 1] as string) % 16 === 0
    // 3 characters carry two bytes: 2 unused bits
    case 3: return BASE64URL.indexOf(segment[segment.length - 1] as string) % 4 === 0
    // one character cannot carry a byte
    default: return false
  }
}

function parseSegment (segment: string): Record<string, unknown> | undefined {
  if (!isCanonicalBase64url(segment)) return undefined
  const bytes = Buffer.from(segment, 'base64url')
  // toString would replace bad UTF-8 with U+FFFD, so that two different claims could read the same
  if (!isUtf8(bytes)) return undefined
  const value: unknown = JSON.parse(bytes.toString('utf8'))
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : undefined
}

// Tokens of one Clerk instance share a few headers (alg, kid, typ), so each is parsed once; frozen
// because one parsed header serves many tokens. Bounded: junk headers only evict one another.
const parsedHeaders = new LruMap<Readonly<Record<string, unknown>>>(64)
const MAX_SHARED_HEADER_LENGTH = 512

function parseHeader (segment: string): Record<string, unknown> | undefined {
  const known = parsedHeaders.get(segment)
  if (known !== undefined) return known
  const header = parseSegment(segment)
  if (header !== undefined && segment.length <= MAX_SHARED_HEADER_LENGTH) parsedHeaders.set(segment, Object.freeze(header))
  return header
}

/** Header and payload of a compact JWS whose two JSON segments are objects; undefined otherwise. */
export function decodeJwt (token: string): DecodedJwt | undefined {
  if (!isWellFormed(token)) return undefined
  const headerEnd = token.indexOf('.')
  const payloadEnd = token.indexOf('.', headerEnd + 1)
  try {
    const header = parseHeader(token.slice(0, headerEnd))
    const payload = parseSegment(token.slice(headerEnd + 1, payloadEnd))
    const signature = token.slice(payloadEnd + 1)
    if (header === undefined || payload === undefined || !isCanonicalBase64url(signature)) return undefined
    return { header, payload, signingInput: token.slice(0, payloadEnd), signature }
  } catch {
    return undefined
  }
}

/**
 * RS256 (RSASSA-PKCS1-v1_5 with SHA-256), checked by node:crypto against a key built once per
 * JWKS entry: no key parsing, no promise, no second decode on the request path.
 */
export function hasValidRs256Signature (jwt: DecodedJwt, key: KeyObject): boolean {
  // An empty or wrong-length signature is simply not valid: crypto.verify answers false.
  return verify('sha256', Buffer.from(jwt.signingInput), key, Buffer.from(jwt.signature, 'base64url'))
}
