// Clerk's three Backend API verify endpoints for opaque machine tokens, answered as Clerk answers
// them: the test issuer serves them.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { KeyObject } from 'node:crypto'

export type OpaqueTokenType = 'api_key' | 'm2m_token' | 'oauth_token'

/** What Clerk knows about an opaque token. Times in ms. */
export interface OpaqueTokenRecord {
  type: OpaqueTokenType
  id: string
  subject: string
  scopes: string[]
  claims: Record<string, unknown> | null
  /** API keys: its name. OAuth: the client. */
  name?: string
  clientId?: string
  expiration: number | null
  revoked: boolean
  createdAt: number
}

const ENDPOINTS: Record<string, { type: OpaqueTokenType, field: string, notFound: string }> = {
  '/api_keys/verify': { type: 'api_key', field: 'secret', notFound: 'API key not found' },
  '/m2m_tokens/verify': { type: 'm2m_token', field: 'token', notFound: 'Machine token not found' },
  '/oauth_applications/access_tokens/verify': { type: 'oauth_token', field: 'access_token', notFound: 'OAuth token not found' }
}

const errors = (message: string, code: string) => ({ errors: [{ message, long_message: message, code }] })

/** Clerk's 200 body for a record, in the wire format (snake_case, an `object` naming the kind). */
export function verificationBody (record: OpaqueTokenRecord, nowMs: number): Record<string, unknown> {
  const common = {
    id: record.id,
    subject: record.subject,
    scopes: record.scopes,
    revoked: record.revoked,
    revocation_reason: record.revoked ? 'revoked by the test issuer' : null,
    expired: record.expiration !== null && record.expiration <= nowMs,
    expiration: record.expiration,
    created_at: record.createdAt,
    updated_at: record.createdAt
  }
  switch (record.type) {
    case 'api_key':
      return { object: 'api_key', type: 'api_key', name: record.name ?? '', description: null, claims: record.claims, created_by: null, last_used_at: null, ...common }
    case 'm2m_token':
      return { object: 'machine_to_machine_token', claims: record.claims, last_used_at: null, ...common }
    default:
      return { object: 'clerk_idp_oauth_access_token', client_id: record.clientId ?? '', ...common }
  }
}

export interface BackendApiRequest { method: string, path: string, authorization: string | undefined, body: string }

/**
 * The answer to one request. secretKeys: the bearer keys accepted (the instance secret key, and
 * machine secret keys for M2M tokens); lookUp: the record of a token, if Clerk knows it.
 */
export function answerBackendApi (
  request: BackendApiRequest,
  secretKeys: { secretKey: string, machineSecretKeys?: readonly string[] },
  lookUp: (type: OpaqueTokenType, token: string) => OpaqueTokenRecord | undefined,
  nowMs: number
): { status: number, body: unknown } {
  const endpoint = ENDPOINTS[request.path]
  if (request.method !== 'POST' || endpoint === undefined) return { status: 404, body: errors('Not found', 'resource_not_found') }
  const bearer = request.authorization?.startsWith('Bearer ') === true ? request.authorization.slice(7) : undefined
  const allowed = [secretKeys.secretKey, ...(endpoint.type === 'm2m_token' ? secretKeys.machineSecretKeys ?? [] : [])]
  if (bearer === undefined || !allowed.includes(bearer)) return { status: 401, body: errors('The secret key is invalid', 'authentication_invalid') }
  let token: unknown
  try {
    token = (JSON.parse(request.body) as Record<string, unknown>)[endpoint.field]
  } catch {
    token = undefined
  }
  if (typeof token !== 'string' || token === '') return { status: 400, body: errors(`${endpoint.field} is required`, 'bad_request') }
  const record = lookUp(endpoint.type, token)
  if (record === undefined) return { status: 404, body: errors(endpoint.notFound, 'resource_not_found') }
  return { status: 200, body: verificationBody(record, nowMs) }
}

// --- the test issuer's opaque tokens: self-describing and MACed, so a command line can mint them and
// the running issuer can check them without sharing any state but the signing key.

const PREFIXES: Record<OpaqueTokenType, string> = { api_key: 'ak_', m2m_token: 'mt_', oauth_token: 'oat_' }

/** A secret derived from the signing key: whoever holds the key derives the same one. */
/** A secret derived from the instance key for one purpose: the same key always gives the same one. */
export function derivedSecret (signingKey: KeyObject, purpose: string): Buffer {
  return createHash('sha256').update(signingKey.export({ format: 'der', type: 'pkcs8' })).update(purpose).digest()
}

/** The test instance's secret key (sk_test_…), for its Backend API. */
export function devSecretKey (signingKey: KeyObject): string {
  return `sk_test_dev${derivedSecret(signingKey, 'secret-key').toString('hex').slice(0, 40)}`
}

/** A machine secret key (ak_…) of the test instance, for opaque M2M tokens verified as a machine. */
export function devMachineSecretKey (signingKey: KeyObject): string {
  return `ak_dev${derivedSecret(signingKey, 'machine-secret-key').toString('hex').slice(0, 40)}`
}

type Minted = Omit<OpaqueTokenRecord, 'id' | 'createdAt'>

export function mintDevOpaqueToken (signingKey: KeyObject, record: Minted, nowMs = Date.now()): string {
  const id = `${PREFIXES[record.type]}${randomBytes(16).toString('hex')}`
  const body = Buffer.from(JSON.stringify({ ...record, id, createdAt: nowMs })).toString('base64url')
  const mac = createHmac('sha256', derivedSecret(signingKey, 'opaque-tokens')).update(body).digest('base64url')
  // no separator: Clerk's opaque tokens are base64 or base64url text after the prefix, and the MAC's length is fixed
  return `${PREFIXES[record.type]}${body}${mac}`
}

// An HMAC-SHA256 in base64url, unpadded.
const MAC_LENGTH = 43

/** The record of an opaque token minted with this key, or undefined if the MAC does not hold or the kind differs. */
export function readDevOpaqueToken (signingKey: KeyObject, type: OpaqueTokenType, token: string): OpaqueTokenRecord | undefined {
  const prefix = PREFIXES[type]
  if (!token.startsWith(prefix)) return undefined
  const rest = token.slice(prefix.length)
  if (rest.length <= MAC_LENGTH) return undefined
  const body = rest.slice(0, -MAC_LENGTH)
  const mac = rest.slice(-MAC_LENGTH)
  const expected = createHmac('sha256', derivedSecret(signingKey, 'opaque-tokens')).update(body).digest()
  const given = Buffer.from(mac, 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
  const record = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as OpaqueTokenRecord
  return record.type === type ? record : undefined
}
