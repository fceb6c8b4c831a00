// Tokens no honest signer makes, and the header that carries a token.
import { createHmac, createPublicKey } from 'node:crypto'
import type { SigningKey } from '../../testing/index.js'

/** A token with any header and signature segment. */
export function forgeToken (header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${encode(header)}.${encode(payload)}.${signature}`
}

/** A signing key's public half as PEM, as the Clerk dashboard shows it (CLERK_JWT_KEY). */
export function publicPem (key: SigningKey): string {
  return createPublicKey(key.privateKey).export({ type: 'spki', format: 'pem' }).toString()
}

/** HS256 "signed" with the issuer's public key as the HMAC secret: the classic algorithm-confusion attack. */
export function hs256WithPublicKey (key: SigningKey, payload: Record<string, unknown>): string {
  const secret = publicPem(key)
  const input = forgeToken({ alg: 'HS256', typ: 'JWT', kid: key.publicJwk.kid }, payload).slice(0, -1)
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** The Authorization header carrying a token. */
export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })
