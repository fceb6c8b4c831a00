// Clerk webhook deliveries as Svix sends them: an event envelope, signed over its exact bytes with
// the endpoint's signing secret, and the headers that carry the signature.
import { createHash, randomBytes, type KeyObject } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { derivedSecret } from './backend-api.js'

/** What an event is about; each type reads the fields Clerk's payload of that type carries. */
export interface WebhookEventInput {
  /** session.*: the session (sess_…). */
  sessionId?: string
  /** user.*, session.*, organizationMembership.*: the user (user_…). */
  userId?: string
  /** organization.*, organizationMembership.*: the organization (org_…). */
  orgId?: string
  /** organizationMembership.*: the role now held, e.g. org:member. */
  role?: string
  /** user.updated: whether the user is banned. */
  banned?: boolean
  /** Fields added to data, or replacing the ones built. */
  data?: Record<string, unknown>
}

/** A delivery ready to POST: the body exactly as signed, and its headers. */
export interface WebhookDelivery {
  body: string
  headers: Record<'content-type' | 'svix-id' | 'svix-timestamp' | 'svix-signature', string>
}

export interface SignWebhookOptions {
  /** svix-id: stable across retries of one delivery (default: a new one). */
  id?: string
  /** When it is sent, ms (default: now); svix-timestamp carries it in seconds. */
  sentAt?: number
  /** Further signatures sent beside the right one, as during a secret's rotation. */
  extraSignatures?: string[]
}

/** A signing secret (whsec_…) derived from a key, so that a service and a CLI sharing the key agree on it. */
export function devWebhookSigningSecret (signingKey: KeyObject): string {
  return `whsec_${derivedSecret(signingKey, 'webhook-signing-secret').subarray(0, 24).toString('base64')}`
}

/** A new random signing secret. */
export function generateWebhookSigningSecret (): string {
  return `whsec_${randomBytes(24).toString('base64')}`
}

/** The data Clerk sends with an event of this type. */
function eventData (type: string, input: WebhookEventInput): Record<string, unknown> {
  const userId = input.userId ?? 'user_test'
  const orgId = input.orgId ?? 'org_test'
  let data: Record<string, unknown>
  if (type.startsWith('session.')) {
    data = { id: input.sessionId ?? 'sess_test', object: 'session', user_id: userId, client_id: 'client_test', status: type.slice('session.'.length) }
  } else if (type === 'user.deleted' || type === 'organization.deleted') {
    data = { id: type === 'user.deleted' ? userId : orgId, object: type.split('.')[0], deleted: true }
  } else if (type.startsWith('user.')) {
    data = { id: userId, object: 'user', banned: input.banned ?? false, locked: false }
  } else if (type.startsWith('organizationMembership.')) {
    data = {
      id: `orgmem_${createHash('sha256').update(`${userId} ${orgId}`).digest('hex').slice(0, 24)}`,
      object: 'organization_membership',
      role: input.role ?? 'org:member',
      organization: { id: orgId, object: 'organization', slug: orgId.slice('org_'.length) },
      public_user_data: { user_id: userId }
    }
  } else {
    data = { id: input.orgId ?? userId }
  }
  return { ...data, ...input.data }
}

/** The event envelope Clerk sends: { data, object: 'event', type, timestamp (ms) }. */
export function webhookEvent (type: string, input: WebhookEventInput = {}, timestamp = Date.now()): Record<string, unknown> {
  return { data: eventData(type, input), object: 'event', type, timestamp, instance_id: 'ins_test' }
}

/** Signs body (a string, sent as is) as Svix does: HMAC-SHA256 over `${id}.${seconds}.${body}`. */
export function signWebhook (signingSecret: string, body: string, options: SignWebhookOptions = {}): WebhookDelivery {
  const id = options.id ?? `msg_${randomBytes(12).toString('hex')}`
  const sentAt = options.sentAt ?? Date.now()
  const signature = new Webhook(signingSecret).sign(id, new Date(sentAt), body)
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'svix-id': id,
      'svix-timestamp': String(Math.floor(sentAt / 1000)),
      'svix-signature': [...(options.extraSignatures ?? []), signature].join(' ')
    }
  }
}
