import { randomBytes } from 'node:crypto'

// Shaped like Clerk's machine JWTs (M2M and OAuth access tokens).

/** An M2M JWT's header: typ JWT and the M2M category. */
export const m2mHeader = { typ: 'JWT', cat: 'cl_B7d4PD333AAA' } as const
/** An OAuth access-token JWT's header (RFC 9068). */
export const oauthHeader = { typ: 'at+jwt' } as const

export interface M2mClaimsInput {
  issuer: string
  /** The calling machine, mch_…. */
  machineId: string
  /** The machines the token may reach (aud, and scopes space-separated); none when empty. */
  targets?: string[]
  ttlSeconds?: number
  nowSeconds?: number
}

export function m2mClaims (input: M2mClaimsInput): Record<string, unknown> {
  const now = input.nowSeconds ?? Math.floor(Date.now() / 1000)
  const targets = input.targets ?? []
  return {
    iss: input.issuer,
    sub: input.machineId,
    jti: `mt_${randomBytes(16).toString('hex')}`,
    iat: now,
    exp: now + (input.ttlSeconds ?? 3600),
    ...(targets.length === 0 ? {} : { aud: targets, scopes: targets.join(' ') })
  }
}

export interface OAuthClaimsInput {
  issuer: string
  /** The user who authorized the client, user_…. */
  userId: string
  clientId: string
  scopes?: string[]
  ttlSeconds?: number
  nowSeconds?: number
}

export function oauthClaims (input: OAuthClaimsInput): Record<string, unknown> {
  const now = input.nowSeconds ?? Math.floor(Date.now() / 1000)
  return {
    iss: input.issuer,
    sub: input.userId,
    client_id: input.clientId,
    jti: `oat_${randomBytes(16).toString('hex')}`,
    scope: (input.scopes ?? []).join(' '),
    iat: now,
    nbf: now - 5,
    exp: now + (input.ttlSeconds ?? 86_400)
  }
}
