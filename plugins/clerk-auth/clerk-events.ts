// Clerk's webhook events that end access, read into revocations. Other events, and events that do
// not end access (a user updated without a ban), give none.
import { orgRole, type Revocation } from './revocations.js'

/** The event types read, and what each ends. */
export const REVOKING_EVENTS = [
  'session.revoked', 'session.ended', 'session.removed',
  'user.deleted', 'user.updated',
  'organizationMembership.deleted', 'organizationMembership.updated',
  'organization.deleted'
] as const

type Fields = Record<string, unknown>

const isObject = (value: unknown): value is Fields => value !== null && typeof value === 'object' && !Array.isArray(value)
const idOf = (value: unknown, prefix: string): string | undefined =>
  typeof value === 'string' && value.startsWith(prefix) && value.length > prefix.length && value.length <= 256 ? value : undefined

/** Who and which organization a membership event is about. */
function membershipOf (data: Fields): { userId: string, orgId: string } | undefined {
  const user = isObject(data.public_user_data) ? idOf(data.public_user_data.user_id, 'user_') : undefined
  const org = isObject(data.organization) ? idOf(data.organization.id, 'org_') : undefined
  return user === undefined || org === undefined ? undefined : { userId: user, orgId: org }
}

export interface ClerkEvent {
  type: string
  /** Clerk's time of the event, ms. */
  at: number
  data: Fields
}

/**
 * The envelope of a verified delivery: { type, timestamp (ms), data }. sentAt (ms, the signed
 * delivery time) stands in for a missing timestamp: it is never earlier than the event.
 */
export function readEvent (body: unknown, sentAt: number): ClerkEvent | undefined {
  if (!isObject(body) || typeof body.type !== 'string' || !isObject(body.data)) return undefined
  const at = Number.isSafeInteger(body.timestamp) && (body.timestamp as number) > 0 ? body.timestamp as number : sentAt
  return { type: body.type, at, data: body.data }
}

/** The access an event ends, if any. */
export function revocationOf (event: ClerkEvent): Revocation | undefined {
  const { type, at, data } = event
  switch (type) {
    case 'session.revoked':
    case 'session.ended':
    case 'session.removed': {
      const sessionId = idOf(data.id, 'sess_')
      return sessionId === undefined ? undefined : { kind: 'session', sessionId }
    }
    case 'user.deleted':
    case 'user.updated': {
      const userId = idOf(data.id, 'user_')
      // A locked user cannot sign in; whether a lock ends open sessions is not documented: it does here.
      const ends = type === 'user.deleted' || data.banned === true || data.locked === true
      return userId === undefined || !ends ? undefined : { kind: 'user', userId, at }
    }
    case 'organizationMembership.deleted':
    case 'organizationMembership.updated': {
      const membership = membershipOf(data)
      if (membership === undefined) return undefined
      if (type === 'organizationMembership.deleted') return { kind: 'membership', ...membership, at }
      // an update without a readable role (none, or longer than any id): every token of that
      // membership issued before it is refused
      const role = typeof data.role === 'string' && data.role !== '' ? orgRole(data.role) : undefined
      return { kind: 'membership', ...membership, at, ...(role === undefined || role.length > 256 ? {} : { role }) }
    }
    case 'organization.deleted': {
      const orgId = idOf(data.id, 'org_')
      return orgId === undefined ? undefined : { kind: 'organization', orgId, at }
    }
    default:
      return undefined
  }
}
