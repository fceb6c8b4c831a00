// Access Clerk has ended (a sign-out, a ban, a membership removed) while tokens issued before it are
// still unexpired. Held in memory for a bounded time and number; checked on every verdict for a
// caller, so that cached verdicts and open sockets honour them too.
import { Ajv } from 'ajv'
import type { FromSchema } from 'json-schema-to-ts'
import type { ClerkAuth } from './auth-object.js'

// Clerk's ids are short; a bound keeps a revocation read from elsewhere (another replica) small.
const id = { type: 'string', minLength: 1, maxLength: 256 } as const
const at = { type: 'number' } as const
const kind = <K extends string>(name: K) => ({ type: 'string', const: name }) as const

/**
 * What ended, and when by Clerk's clock (ms; the event's timestamp). Tokens issued at or before that
 * time are refused; a session's end is final, so its tokens are refused whenever they were issued.
 * For a membership, role is the role the user holds now; absent when the membership is gone.
 */
export const revocationSchema = {
  oneOf: [
    { type: 'object', additionalProperties: false, required: ['kind', 'sessionId'], properties: { kind: kind('session'), sessionId: id } },
    { type: 'object', additionalProperties: false, required: ['kind', 'userId', 'at'], properties: { kind: kind('user'), userId: id, at } },
    { type: 'object', additionalProperties: false, required: ['kind', 'userId', 'orgId', 'at'], properties: { kind: kind('membership'), userId: id, orgId: id, at, role: id } },
    { type: 'object', additionalProperties: false, required: ['kind', 'orgId', 'at'], properties: { kind: kind('organization'), orgId: id, at } }
  ]
} as const

export type Revocation = FromSchema<typeof revocationSchema>

const validRevocation = new Ajv({ strict: true }).compile<Revocation>(revocationSchema)

/** A revocation read from elsewhere (another replica, a shared store), or undefined if it is not one. */
export function readRevocation (value: unknown): Revocation | undefined {
  return validRevocation(value) ? value : undefined
}

interface Entry {
  /** When the entry is forgotten, by the verifier's clock. */
  until: number
  /** Clerk's time of the event: tokens issued later are not affected. */
  at: number
  role?: string | undefined
}

function keyOf (revocation: Revocation): string {
  switch (revocation.kind) {
    case 'session': return `s ${revocation.sessionId}`
    case 'user': return `u ${revocation.userId}`
    case 'membership': return `m ${revocation.userId} ${revocation.orgId}`
    case 'organization': return `o ${revocation.orgId}`
  }
}

/** When a caller's token was issued (ms); one that does not say is taken as issued before any event. */
function issuedAt (auth: ClerkAuth): number {
  const iat = auth.claims?.iat
  return typeof iat === 'number' ? iat * 1000 : -Infinity
}

/** Roles as Clerk's webhooks name them: org:admin (v1 session tokens may carry admin). */
export function orgRole (role: string | undefined): string | undefined {
  return role === undefined || role.startsWith('org:') ? role : `org:${role}`
}

export class Revocations {
  // Insertion order is expiry order (every entry lives retentionMs from when it is added): the
  // oldest are pruned and, when full, evicted from the front.
  readonly #entries = new Map<string, Entry>()
  #evicted = 0

  constructor (readonly retentionMs: number, readonly maxEntries: number) {}

  get size (): number {
    return this.#entries.size
  }

  /** Entries dropped to make room before their time. */
  get evicted (): number {
    return this.#evicted
  }

  /**
   * Records a revocation; returns false when it changes nothing: the one held for the same thing is
   * as recent (the same event heard twice, from a retry or another replica) or more recent.
   */
  add (revocation: Revocation, nowMs: number): boolean {
    this.#prune(nowMs)
    const key = keyOf(revocation)
    const at = revocation.kind === 'session' ? Infinity : revocation.at
    const role = revocation.kind === 'membership' ? revocation.role : undefined
    const held = this.#entries.get(key)
    if (held !== undefined && (held.at > at || (held.at === at && held.role === role))) return false
    this.#entries.delete(key)
    if (this.#entries.size >= this.maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value as string)
      this.#evicted++
    }
    this.#entries.set(key, { until: nowMs + this.retentionMs, at, role })
    return true
  }

  /** Whether a revocation ends this caller's access. */
  revokes (auth: ClerkAuth, nowMs: number): boolean {
    if (this.#entries.size === 0) return false
    const iat = issuedAt(auth)
    const ended = (key: string, roleHeld?: string): boolean => {
      const entry = this.#entries.get(key)
      if (entry === undefined) return false
      if (entry.until <= nowMs) {
        this.#entries.delete(key)
        return false
      }
      return iat <= entry.at && (entry.role === undefined || entry.role !== orgRole(roleHeld))
    }
    if (auth.tokenType === 'session_token') {
      return ended(`s ${auth.sessionId}`) || ended(`u ${auth.userId}`) ||
        (auth.orgId !== undefined && (ended(`m ${auth.userId} ${auth.orgId}`, auth.orgRole) || ended(`o ${auth.orgId}`)))
    }
    return typeof auth.userId === 'string' && ended(`u ${auth.userId}`)
  }

  #prune (nowMs: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.until > nowMs) return
      this.#entries.delete(key)
    }
  }
}
