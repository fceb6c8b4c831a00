import { randomBytes } from 'node:crypto'

/** An active organization, as Clerk writes it in a v2 session token. */
export interface OrganizationInput {
  id: string
  slug?: string
  /** With or without the org: prefix: admin, org:member, … */
  role?: string
  /** Full keys: org:<feature>:<action>, e.g. org:invoices:read. */
  permissions?: string[]
}

export interface SessionClaimsInput {
  issuer: string
  sub: string
  sid?: string
  azp?: string
  ttlSeconds?: number
  nowSeconds?: number
  org?: OrganizationInput
  /** Scoped features: u:<feature> (the user's) or o:<feature> (the organization's). */
  features?: string[]
  /** Scoped plans: u:<plan> or o:<plan>. */
  plans?: string[]
  extra?: Record<string, unknown>
}

const PERMISSION = /^org:([^:,]+):([^:,]+)$/

/**
 * Clerk's compact v2 form of features, plans and an organization: fea lists the features, o.per the
 * permission actions, and o.fpm one bit mask per organization feature (in fea order), bit i for per[i].
 */
export function organizationClaims (org: OrganizationInput | undefined, features: string[] = [], plans: string[] = []): Record<string, unknown> {
  const claims: Record<string, unknown> = {}
  const scoped = [...features]
  const actions: string[] = []
  const granted = new Map<string, Set<string>>()
  for (const permission of org?.permissions ?? []) {
    const match = PERMISSION.exec(permission)
    if (match === null) throw new Error(`${permission} is not a permission key: org:<feature>:<action>`)
    const [, feature, action] = match as unknown as [string, string, string]
    if (!actions.includes(action)) actions.push(action)
    if (!scoped.some((entry) => entry.split(':')[1] === feature && entry.split(':')[0]?.includes('o') === true)) scoped.push(`o:${feature}`)
    granted.set(feature, (granted.get(feature) ?? new Set()).add(action))
  }
  if (scoped.length > 0) claims.fea = scoped.join(',')
  if (plans.length > 0) claims.pla = plans.join(',')
  if (org !== undefined) {
    const masks = scoped.filter((entry) => entry.split(':')[0]?.includes('o') === true).map((entry) => {
      const held = granted.get(entry.slice(entry.indexOf(':') + 1)) ?? new Set<string>()
      return actions.reduce((mask, action, bit) => held.has(action) ? mask | (1n << BigInt(bit)) : mask, 0n).toString()
    })
    claims.o = {
      id: org.id,
      ...(org.role === undefined ? {} : { rol: org.role.replace(/^org:/, '') }),
      ...(org.slug === undefined ? {} : { slg: org.slug }),
      per: actions.join(','),
      fpm: masks.join(',')
    }
  }
  return claims
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
    ...organizationClaims(input.org, input.features, input.plans),
    ...input.extra
  }
}
