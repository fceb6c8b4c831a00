import { randomBytes } from 'node:crypto'

export interface SessionClaimsInput {
  issuer: string
  sub: string
  sid?: string
  azp?: string
  ttlSeconds?: number
  nowSeconds?: number
  extra?: Record<string, unknown>
}

/** Claims shaped like a Clerk v2 session token. */
export function sessionClaims (input: SessionClaimsInput): Record<string, unknown> {
  const now = input.nowSeconds ?? Math.floor(Date.now() / 1000)
  return {
    azp: input.azp,
    exp: now + (input.ttlSeconds ?? 60),
    iat: now,
    iss: input.issuer,
    nbf: now - 5,
    sid: input.sid ?? `sess_dev_${randomBytes(12).toString('hex')}`,
    sub: input.sub,
    v: 2,
    ...input.extra
  }
}
