import { randomBytes } from 'node:crypto'
import { isOrganizationEntry, scopedEntries, type ScopedEntry } from '../auth-object.js'

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

/** Features or plans as given: each scoped (u:<name>, o:<name> or uo:<name>), as Clerk writes them. */
function scoped (what: string, given: string[]): ScopedEntry[] {
  const entries = scopedEntries(given.join(','))
  if (entries.length !== given.length) throw new Error(`${what} are scoped: u:<name> or o:<name> (given ${given.join(', ')})`)
  return entries
}

/** Entries as fea and pla write them: scope:name, comma-separated. */
const written = (entries: ScopedEntry[]): string => entries.map(({ scope, name }) => `${scope}:${name}`).join(',')

/**
 * Clerk's compact v2 form of features, plans and an organization: fea lists the features, o.per the
 * permission actions, and o.fpm one bit mask per organization feature (in fea order), bit i for per[i].
 */
export function organizationClaims (org: OrganizationInput | undefined, features: string[] = [], plans: string[] = []): Record<string, unknown> {
  const claims: Record<string, unknown> = {}
  const entries = scoped('features', features)
  const actions: string[] = []
  const granted = new Map<string, Set<string>>()
  for (const permission of org?.permissions ?? []) {
    const match = PERMISSION.exec(permission)
    if (match === null) throw new Error(`${permission} is not a permission key: org:<feature>:<action>`)
    const [, feature, action] = match as unknown as [string, string, string]
    if (!actions.includes(action)) actions.push(action)
    if (!entries.some((entry) => entry.name === feature && isOrganizationEntry(entry))) entries.push({ scope: 'o', name: feature })
    granted.set(feature, (granted.get(feature) ?? new Set()).add(action))
  }
  if (entries.length > 0) claims.fea = written(entries)
  if (plans.length > 0) claims.pla = written(scoped('plans', plans))
  if (org !== undefined) {
    const masks = entries.filter(isOrganizationEntry).map((entry) => {
      const held = granted.get(entry.name) ?? new Set<string>()
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
