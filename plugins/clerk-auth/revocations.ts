// Access Clerk has ended (a sign-out, a ban, a membership removed) while tokens issued before it are
// still unexpired. Held in memory for a bounded time and number; checked on every verdict for a
// caller, so that cached verdicts and open sockets honour them too.
import type { ClerkAuth } from './auth-object.js'

/**
 * What ended, and when by Clerk's clock (ms; the event's timestamp). Tokens issued at or before that
 * time are refused; a session's end is final, so its tokens are refused whenever they were issued.
 */
export type Revocation =
  | { kind: 'session', sessionId: string }
  | { kind: 'user', userId: string, at: number }
  /** role: the role the user holds now; absent when the membership is gone. */
  | { kind: 'membership', userId: string, orgId: string, at: number, role?: string | undefined }
  | { kind: 'organization', orgId: string, at: number }

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

  /** Records a revocation; an older event than the one held for the same thing changes nothing. */
  add (revocation: Revocation, nowMs: number): void {
    this.#prune(nowMs)
    const key = keyOf(revocation)
    const at = revocation.kind === 'session' ? Infinity : revocation.at
    const held = this.#entries.get(key)
    if (held !== undefined && held.at > at) return
    this.#entries.delete(key)
    if (this.#entries.size >= this.maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value as string)
      this.#evicted++
    }
    this.#entries.set(key, { until: nowMs + this.retentionMs, at, role: revocation.kind === 'membership' ? revocation.role : undefined })
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
