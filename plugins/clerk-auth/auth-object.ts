// Claims of a verified Clerk token -> the auth object Clerk users know from the frontend and Clerk's
// SDK (@clerk/backend), for session tokens of both claim versions and for machine callers. Pure functions.
import { m2mScopes, oauthScopes } from './token-checks.js'
import type { MachineTokenType } from './token-types.js'

export type ReverificationLevel = 'first_factor' | 'second_factor' | 'multi_factor'
export type ReverificationPreset = 'strict_mfa' | 'strict' | 'moderate' | 'lax'

/** What a caller must have; every field given must hold. */
export interface AuthRequirement {
  role?: string
  permission?: string
  feature?: string
  plan?: string
  reverification?: ReverificationPreset | { level: ReverificationLevel, afterMinutes: number }
  /** An OAuth scope (machine callers only: sessions have no scopes). */
  scope?: string
}

/** A signed-in user, from a session token. */
export interface SessionAuth {
  tokenType: 'session_token'
  userId: string
  sessionId: string
  /** `active`, or `pending` while the session still has a task to finish (refused unless allowed). */
  sessionStatus: string
  /** Set during impersonation: who is acting as the user. */
  actor: Readonly<Record<string, unknown>> | null
  orgId: string | undefined
  orgRole: string | undefined
  orgSlug: string | undefined
  orgPermissions: string[] | undefined
  /** [minutes since first factor, minutes since second factor], -1 when not enrolled. */
  factorVerificationAge: [number, number] | null
  claims: Readonly<Record<string, unknown>>
  has: (requirement: AuthRequirement) => boolean
}

/**
 * A machine caller, with the fields Clerk's SDK sets for its kind: every kind has id, subject and
 * scopes; m2m_token adds claims and machineId; oauth_token adds userId and clientId. has() is always
 * false: machines have no roles, permissions, features or plans.
 */
export interface MachineAuth {
  tokenType: MachineTokenType
  /** jti (mt_… or oat_…), or null when the token has none. */
  id: string | null
  subject: string
  scopes: readonly string[]
  claims?: Readonly<Record<string, unknown>> | null
  machineId?: string
  userId?: string | null
  clientId?: string
  orgId?: string | null
  name?: string
  has: (requirement: AuthRequirement) => boolean
}

/** Who is calling: request.auth on an authenticated route. */
export type ClerkAuth = SessionAuth | MachineAuth

const ORG_PREFIX = /^org:/

function asString (value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

function splitList (value: unknown): string[] {
  return typeof value === 'string' ? value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '') : []
}

/** A feature or plan of a v2 token: its scope letters (u, o or both) and its name. */
export interface ScopedEntry { scope: string, name: string }

/** `o:reservations,u:dashboard,uo:chat` -> entries with their scope letters. */
export function scopedEntries (value: unknown): ScopedEntry[] {
  const entries: ScopedEntry[] = []
  for (const item of splitList(value)) {
    const colon = item.indexOf(':')
    if (colon > 0) entries.push({ scope: item.slice(0, colon), name: item.slice(colon + 1) })
  }
  return entries
}

/** An organization's entry (o or uo): the ones fpm's masks pair with, in order. */
export const isOrganizationEntry = (entry: ScopedEntry): boolean => entry.scope.includes('o')

// A mask is a plain decimal string of any size: BigInt keeps bits beyond 2^53 exact.
const DECIMAL = /^\d+$/

/**
 * v2 permissions: org-scoped features (in fea order) pair with fpm's masks; bit i selects per[i].
 * A malformed mask gives that feature nothing; bits past the per list are ignored.
 */
export function decodeOrgPermissions (fea: unknown, per: unknown, fpm: unknown): string[] {
  const permissions = splitList(per)
  const masks = typeof fpm === 'string' ? fpm.split(',').map((mask) => mask.trim()) : []
  const orgFeatures = scopedEntries(fea).filter(isOrganizationEntry)
  const decoded: string[] = []
  orgFeatures.forEach((feature, index) => {
    const mask = masks[index]
    if (mask === undefined || !DECIMAL.test(mask)) return
    let bits = BigInt(mask)
    for (let bit = 0; bit < permissions.length && bits > 0n; bit++, bits >>= 1n) {
      if ((bits & 1n) === 1n) decoded.push(`org:${feature.name}:${permissions[bit] as string}`)
    }
  })
  return decoded
}

interface Organization { orgId?: string | undefined, orgRole?: string | undefined, orgSlug?: string | undefined, orgPermissions?: string[] }

function organizationOf (claims: Record<string, unknown>): Organization {
  if (claims.v === 2) {
    const o = claims.o
    if (o === null || typeof o !== 'object') return {}
    const { id, rol, slg, per, fpm } = o as Record<string, unknown>
    const role = asString(rol)
    return {
      orgId: asString(id),
      orgRole: role === undefined ? undefined : `org:${role.replace(ORG_PREFIX, '')}`,
      orgSlug: asString(slg),
      orgPermissions: decodeOrgPermissions(claims.fea, per, fpm)
    }
  }
  const orgId = asString(claims.org_id)
  if (orgId === undefined) return {}
  const permissions = claims.org_permissions
  return {
    orgId,
    orgRole: asString(claims.org_role),
    orgSlug: asString(claims.org_slug),
    orgPermissions: Array.isArray(permissions) ? permissions.filter((p): p is string => typeof p === 'string') : []
  }
}

function factorAgeOf (fva: unknown): [number, number] | null {
  if (!Array.isArray(fva) || fva.length !== 2 || !fva.every((age) => Number.isInteger(age) && age >= -1)) return null
  return [fva[0] as number, fva[1] as number]
}

const REVERIFICATION_PRESETS: Record<ReverificationPreset, { level: ReverificationLevel, afterMinutes: number }> = {
  strict_mfa: { level: 'multi_factor', afterMinutes: 10 },
  strict: { level: 'second_factor', afterMinutes: 10 },
  moderate: { level: 'second_factor', afterMinutes: 60 },
  lax: { level: 'second_factor', afterMinutes: 1440 }
}

/** Whether the factors were verified recently enough; -1 marks a factor that is not enrolled. */
export function meetsReverification (requirement: AuthRequirement['reverification'], fva: [number, number] | null): boolean {
  if (fva === null || requirement === undefined) return false
  const rule = typeof requirement === 'string' ? REVERIFICATION_PRESETS[requirement] : requirement
  if (rule === null || typeof rule !== 'object' || !Number.isFinite(rule.afterMinutes) || rule.afterMinutes <= 0) return false
  const [firstAge, secondAge] = fva
  const firstOk = firstAge !== -1 && rule.afterMinutes > firstAge
  const secondOk = secondAge !== -1 && rule.afterMinutes > secondAge
  switch (rule.level) {
    case 'first_factor':
      return firstOk
    // Without a second factor enrolled, the first one stands in (as Clerk does).
    case 'second_factor':
      return secondAge === -1 ? firstOk : secondOk
    case 'multi_factor':
      return secondAge === -1 ? firstOk : firstOk && secondOk
    default:
      return false
  }
}

const ORG_SCOPES = new Set(['o', 'org', 'organization'])
const USER_SCOPES = new Set(['u', 'user'])

/** feature / plan: an optional org or user scope; without one, either kind of entry matches. */
function hasScopedEntry (asked: string, entries: ScopedEntry[]): boolean {
  const colon = asked.indexOf(':')
  const scope = colon === -1 ? undefined : asked.slice(0, colon)
  const name = asked.slice(colon + 1)
  return entries.some((entry) => entry.name === name && (
    scope === undefined ||
    (ORG_SCOPES.has(scope) && isOrganizationEntry(entry)) ||
    (USER_SCOPES.has(scope) && entry.scope.includes('u'))
  ))
}

const withoutOrgPrefix = (value: string): string => value.replace(ORG_PREFIX, '')

/** Each dimension asked of a requirement, judged on its own: fail closed. */
export function unmetRequirements (auth: Omit<SessionAuth, 'has'> | Omit<MachineAuth, 'has'>, requirement: AuthRequirement): Array<keyof AuthRequirement> {
  if (auth.tokenType !== 'session_token') {
    // a machine meets a scope it was granted, and nothing else
    const asked = (Object.keys(requirement) as Array<keyof AuthRequirement>).filter((name) => requirement[name] !== undefined)
    return asked.filter((name) => name !== 'scope' || !auth.scopes.includes(requirement.scope as string))
  }
  const unmet: Array<keyof AuthRequirement> = []
  const { role, permission, feature, plan, reverification, scope } = requirement
  if (role !== undefined && (auth.orgId === undefined || typeof role !== 'string' || auth.orgRole === undefined ||
      withoutOrgPrefix(auth.orgRole) !== withoutOrgPrefix(role))) unmet.push('role')
  if (permission !== undefined && (auth.orgId === undefined || typeof permission !== 'string' ||
      !(auth.orgPermissions ?? []).some((granted) => withoutOrgPrefix(granted) === withoutOrgPrefix(permission)))) unmet.push('permission')
  if (feature !== undefined && (typeof feature !== 'string' || !hasScopedEntry(feature, scopedEntries(auth.claims.fea)))) unmet.push('feature')
  if (plan !== undefined && (typeof plan !== 'string' || !hasScopedEntry(plan, scopedEntries(auth.claims.pla)))) unmet.push('plan')
  if (reverification !== undefined && !meetsReverification(reverification, auth.factorVerificationAge)) unmet.push('reverification')
  if (scope !== undefined) unmet.push('scope')
  return unmet
}

const ASKABLE = ['role', 'permission', 'feature', 'plan', 'reverification'] as const

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key in value) deepFreeze(value[key])
  }
  return value
}

/** The auth object; has() lives on the prototype, so building one per request allocates no closure. */
class SessionCaller implements SessionAuth {
  readonly tokenType = 'session_token'
  readonly userId: string
  readonly sessionId: string
  readonly sessionStatus: string
  readonly actor: Readonly<Record<string, unknown>> | null
  readonly orgId: string | undefined
  readonly orgRole: string | undefined
  readonly orgSlug: string | undefined
  readonly orgPermissions: string[] | undefined
  readonly factorVerificationAge: [number, number] | null
  readonly claims: Readonly<Record<string, unknown>>

  constructor (claims: Record<string, unknown>) {
    const org = organizationOf(claims)
    this.userId = claims.sub as string
    this.sessionId = claims.sid as string
    this.sessionStatus = asString(claims.sts) ?? 'active'
    this.actor = claims.act !== null && typeof claims.act === 'object' && !Array.isArray(claims.act) ? claims.act as Record<string, unknown> : null
    this.orgId = org.orgId
    this.orgRole = org.orgRole
    this.orgSlug = org.orgSlug
    this.orgPermissions = org.orgPermissions
    this.factorVerificationAge = factorAgeOf(claims.fva)
    this.claims = claims
    // One verified token's auth object serves every request that presents it: nobody may change it.
    deepFreeze(this)
  }

  has (requirement: AuthRequirement): boolean {
    if (this.userId === '' || requirement === null || typeof requirement !== 'object') return false
    if (!ASKABLE.some((name) => requirement[name] !== undefined)) return false
    return unmetRequirements(this, requirement).length === 0
  }
}

/** Claims have passed checkClaims, so sub and sid are non-empty strings. */
export function authFromClaims (claims: Record<string, unknown>): SessionAuth {
  return new SessionCaller(claims)
}

// Registered claims Clerk leaves out of an M2M token's claims.
const M2M_REGISTERED = new Set(['iss', 'sub', 'exp', 'nbf', 'iat', 'jti'])

function m2mClaims (claims: Record<string, unknown>): Record<string, unknown> | null {
  const kept = Object.fromEntries(Object.entries(claims).filter(([name]) => !M2M_REGISTERED.has(name)))
  return Object.keys(kept).length === 0 ? null : kept
}

/** A machine caller; has() lives on the prototype, so the object is plain data (as /me serializes it). */
class MachineCaller implements MachineAuth {
  declare readonly tokenType: MachineTokenType
  declare readonly id: string | null
  declare readonly subject: string
  declare readonly scopes: readonly string[]
  declare readonly claims?: Readonly<Record<string, unknown>> | null
  declare readonly machineId?: string
  declare readonly userId?: string | null
  declare readonly clientId?: string
  declare readonly orgId?: string | null
  declare readonly name?: string

  constructor (fields: Omit<MachineAuth, 'has'>) {
    Object.assign(this, fields)
    deepFreeze(this)
  }

  has (): boolean {
    return false
  }
}

/** The auth object of a verified machine JWT, shaped per kind as Clerk's SDK shapes it. */
export function machineAuthFromClaims (type: 'm2m_token' | 'oauth_token', claims: Record<string, unknown>): MachineAuth {
  const subject = claims.sub as string
  const id = typeof claims.jti === 'string' ? claims.jti : null
  const fields: Omit<MachineAuth, 'has'> = type === 'm2m_token'
    ? { tokenType: type, id, subject, scopes: m2mScopes(claims), claims: m2mClaims(claims), machineId: subject }
    : { tokenType: type, id, subject, scopes: oauthScopes(claims), userId: subject, clientId: claims.client_id as string }
  return new MachineCaller(fields)
}

/** Clerk's 200 body for a token, as far as it is needed (snake_case, times in ms). */
export interface MachineVerification {
  object: string
  id: string
  subject: string
  scopes: string[]
  claims: Record<string, unknown> | null
  name?: string
  client_id?: string
  revoked: boolean
  expired: boolean
  expiration: number | null
}

const subjectIf = (subject: string, prefix: string): string | null => subject.startsWith(prefix) ? subject : null

/** The auth object of an opaque token Clerk's Backend API verified, shaped per kind as Clerk's SDK shapes it. */
export function machineAuthFromVerification (type: MachineTokenType, verification: MachineVerification): MachineAuth {
  const { id, subject } = verification
  const scopes = verification.scopes ?? []
  const claims = verification.claims ?? null
  switch (type) {
    case 'api_key':
      return new MachineCaller({ tokenType: type, id, subject, scopes, claims, name: verification.name ?? '', userId: subjectIf(subject, 'user_'), orgId: subjectIf(subject, 'org_') })
    case 'm2m_token':
      return new MachineCaller({ tokenType: type, id, subject, scopes, claims, machineId: subject })
    default:
      return new MachineCaller({ tokenType: type, id, subject, scopes, userId: subject, clientId: verification.client_id ?? '' })
  }
}
