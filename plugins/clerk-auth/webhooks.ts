// Clerk's webhooks (delivered by Svix, signed as Standard Webhooks): the events that end access
// become revocations in the verifier. Register it with a prefix:
//   app.register(clerkWebhooks, { prefix: '/webhooks/clerk', signingSecret: 'whsec_…' })
// Not wrapped in fastify-plugin: its raw-body parser stays inside its own route.
import { timingSafeEqual } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Webhook } from 'standardwebhooks'
import { LruMap } from 'toad-cache'
import { readEvent, revocationOf } from './clerk-events.js'
import { invalidOption } from './options.js'

export interface ClerkWebhooksOptions {
  /** The endpoint's signing secret, whsec_… (Dashboard > Webhooks > the endpoint). */
  signingSecret: string
  /** The largest body read, in bytes (413 past it). */
  bodyLimit?: number
}

// A delivery older or newer than this is refused, as the Standard Webhooks libraries do.
const TOLERANCE_MS = 5 * 60_000
// Deliveries remembered to acknowledge retries without acting twice: a retry older than the
// tolerance is refused anyway, so ids need keeping only twice that long, and only this many.
const SEEN_IDS = 10_000
// Signatures per delivery: one, or two while a secret is rolled.
const MAX_SIGNATURES = 8
const MAX_ID_LENGTH = 256
// Clerk's user objects carry up to three metadata blobs of 8 KB each, and lists of addresses.
const DEFAULT_BODY_LIMIT = 256 * 1024

type WebhookRefusal = 'webhook_headers_missing' | 'webhook_timestamp_invalid' | 'webhook_signature_invalid' | 'webhook_payload_invalid'

const REFUSALS: Record<WebhookRefusal, string> = {
  webhook_headers_missing: 'The svix-id, svix-timestamp and svix-signature headers are required.',
  webhook_timestamp_invalid: 'svix-timestamp must be Unix seconds within five minutes of now.',
  webhook_signature_invalid: 'No signature in svix-signature matches the body with this endpoint\'s signing secret.',
  webhook_payload_invalid: 'The body is not a Clerk event: a JSON object with type and data.'
}

const headerOf = (request: FastifyRequest, svix: string, standard: string): string | undefined => {
  const value = request.headers[svix] ?? request.headers[standard]
  return typeof value === 'string' && value !== '' ? value : undefined
}

/** The signing secret's key, or why it is unusable. */
function webhookFor (signingSecret: unknown): Webhook {
  if (typeof signingSecret !== 'string' || !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(signingSecret)) {
    throw invalidOption('signingSecret', 'must be the endpoint\'s signing secret, whsec_ followed by base64')
  }
  try {
    return new Webhook(signingSecret)
  } catch {
    throw invalidOption('signingSecret', 'is not valid base64 after whsec_')
  }
}

export async function clerkWebhooks (fastify: FastifyInstance, options: ClerkWebhooksOptions): Promise<void> {
  if (!fastify.hasDecorator('clerkAuth')) throw new Error('clerkWebhooks needs clerk-auth: register it first, in this context or a parent')
  const webhook = webhookFor(options.signingSecret)
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT
  if (!Number.isSafeInteger(bodyLimit) || bodyLimit < 1024) {
    throw invalidOption('bodyLimit', 'must be a whole number of bytes, at least 1024')
  }
  const { verifier } = fastify.clerkAuth
  const { now } = verifier.options
  const seen = new LruMap<number>(SEEN_IDS)

  // The signature covers the bytes as sent: they are kept, never re-serialised.
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => { done(null, body) })

  function refuse (reply: FastifyReply, code: WebhookRefusal): FastifyReply {
    reply.request.log.debug({ code }, 'clerk webhook refused')
    return reply.code(400).send({ statusCode: 400, error: STATUS_CODES[400], code, message: REFUSALS[code] })
  }

  fastify.post('/', {
    bodyLimit,
    config: { public: true }
  }, async (request, reply) => {
    const id = headerOf(request, 'svix-id', 'webhook-id')
    const timestamp = headerOf(request, 'svix-timestamp', 'webhook-timestamp')
    const signatures = headerOf(request, 'svix-signature', 'webhook-signature')
    if (id === undefined || timestamp === undefined || signatures === undefined || id.length > MAX_ID_LENGTH) return refuse(reply, 'webhook_headers_missing')
    const nowMs = now()
    const sentAt = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) * 1000 : NaN
    if (!(Math.abs(nowMs - sentAt) <= TOLERANCE_MS)) return refuse(reply, 'webhook_timestamp_invalid')
    const body = request.body as Buffer
    const expected = Buffer.from(webhook.sign(id, new Date(sentAt), body))
    const passed = signatures.split(' ', MAX_SIGNATURES + 1)
    const matches = passed.length <= MAX_SIGNATURES && passed.some((signature) => {
      const bytes = Buffer.from(signature)
      return bytes.length === expected.length && timingSafeEqual(bytes, expected)
    })
    if (!matches) return refuse(reply, 'webhook_signature_invalid')

    const firstSeen = seen.get(id)
    if (firstSeen !== undefined && nowMs - firstSeen < 2 * TOLERANCE_MS) return { received: true, duplicate: true }
    let event
    try {
      event = readEvent(JSON.parse(body.toString('utf8')), sentAt)
    } catch {}
    if (event === undefined) return refuse(reply, 'webhook_payload_invalid')
    seen.set(id, nowMs)
    const revocation = revocationOf(event)
    if (revocation !== undefined) verifier.revoke(revocation)
    request.log.info({ type: event.type, revocation: revocation?.kind ?? 'none' }, 'clerk webhook received')
    return { received: true, duplicate: false, revoked: revocation?.kind ?? null }
  })
}
