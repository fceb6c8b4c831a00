import { createHash, sign, type KeyObject } from 'node:crypto'

export type JwtHeader = Record<string, unknown>
export type JwtPayload = Record<string, unknown>

function encodeSegment (value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** Signs a compact RS256 JWT with node:crypto; the header is taken as given (alg defaults to RS256). */
export function signJwt (header: JwtHeader, payload: JwtPayload, privateKey: KeyObject): string {
  const signingInput = `${encodeSegment({ alg: 'RS256', typ: 'JWT', ...header })}.${encodeSegment(payload)}`
  return `${signingInput}.${sign('sha256', Buffer.from(signingInput), privateKey).toString('base64url')}`
}

/** RFC 7638 thumbprint of an RSA public JWK: a key id that stays the same for the same key. */
export function rsaThumbprint (jwk: { e?: string, n?: string }): string {
  const canonical = JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n })
  return createHash('sha256').update(canonical).digest('base64url')
}
