import type { Attributes } from '@opentelemetry/api'
import type { RefusalCode } from '../clerk-auth/index.js'

/**
 * The authentication decision, as span attributes, from the verdict's code and the answer's status:
 * a caller answered 403 lacked what the route requires; a refusal answered below 400 was let through
 * without identity (optional sign-in, public introspection).
 */
export function decisionOf (code: RefusalCode | 'ok', statusCode: number): Attributes {
  if (code === 'ok') return statusCode === 403 ? { 'clerk.auth.result': 'forbidden', 'clerk.auth.refusal_code': 'forbidden' } : { 'clerk.auth.result': 'accepted' }
  return statusCode < 400 ? { 'clerk.auth.result': 'anonymous' } : { 'clerk.auth.result': 'refused', 'clerk.auth.refusal_code': code }
}
