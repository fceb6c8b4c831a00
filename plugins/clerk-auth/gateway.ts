// Forward-auth (gateway mode): what a gateway's auth URL asks of the caller, and the identity it
// hands to the backend as headers. Pure functions; the adapter (index.ts) answers with them.
import type { AuthRequirement, ClerkAuth } from './auth-object.js'
import { requirementProblem, type Access } from './authorization.js'
import { acceptsTokenProblem, type TokenType } from './token-types.js'

export const GATEWAY_PARAMETERS = ['role', 'permission', 'feature', 'plan', 'reverification', 'scope', 'acceptsToken'] as const
const KNOWN = new Set<string>(GATEWAY_PARAMETERS)
// A gateway's configuration is short; anything longer is not one.
export const MAX_GATEWAY_PARAMETERS_LENGTH = 1024
// reverification=second_factor:10 is { level: 'second_factor', afterMinutes: 10 }.
const LEVEL_AND_MINUTES = /^(first_factor|second_factor|multi_factor):(\d{1,6})$/

/**
 * The access a gateway's parameters ask for, in query-string form
 * (`permission=org:invoices:read&acceptsToken=session_token,m2m_token`), or why they are unusable.
 */
export function parseGatewayAccess (parameters: string): Access | string {
  if (parameters.length > MAX_GATEWAY_PARAMETERS_LENGTH) return `are longer than ${MAX_GATEWAY_PARAMETERS_LENGTH} characters`
  const access: { auth?: AuthRequirement, acceptsToken?: TokenType[] } = {}
  const requirement: Record<string, unknown> = {}
  const seen = new Set<string>()
  for (const [name, value] of new URLSearchParams(parameters)) {
    if (!KNOWN.has(name)) return `name an unknown parameter ${JSON.stringify(name)} (known: ${GATEWAY_PARAMETERS.join(', ')})`
    if (seen.has(name)) return `name ${name} twice`
    seen.add(name)
    if (name === 'acceptsToken') {
      const types = value.split(',')
      const problem = acceptsTokenProblem(types)
      if (problem !== undefined) return `give an acceptsToken that ${problem} (comma-separated)`
      access.acceptsToken = types as TokenType[]
    } else if (name === 'reverification') {
      const levelForm = LEVEL_AND_MINUTES.exec(value)
      requirement.reverification = levelForm === null ? value : { level: levelForm[1], afterMinutes: Number(levelForm[2]) }
    } else {
      requirement[name] = value
    }
  }
  if (Object.keys(requirement).length > 0) {
    const problem = requirementProblem(requirement)
    if (problem !== undefined) return `ask for a requirement that ${problem}`
    access.auth = requirement as AuthRequirement
  }
  return access
}

// Header values are visible ASCII but % (Clerk's ids, roles and slugs are) or percent-encoded, % included,
// so that decodeURIComponent gives every value back and no two values arrive alike.
const PLAIN = /^[\x21-\x24\x26-\x7e]*$/
const headerValue = (value: string): string => PLAIN.test(value) ? value : encodeURIComponent(value)

/** The caller's identity as the headers a gateway forwards to the backend; fields the caller lacks are left out. */
export function identityHeaders (auth: ClerkAuth): Record<string, string> {
  const fields: Array<[string, string | null | undefined]> = auth.tokenType === 'session_token'
    ? [['x-clerk-user-id', auth.userId], ['x-clerk-session-id', auth.sessionId], ['x-clerk-org-id', auth.orgId], ['x-clerk-org-role', auth.orgRole], ['x-clerk-org-slug', auth.orgSlug]]
    : [['x-clerk-subject', auth.subject], ['x-clerk-machine-id', auth.machineId], ['x-clerk-client-id', auth.clientId], ['x-clerk-user-id', auth.userId], ['x-clerk-org-id', auth.orgId]]
  const headers: Record<string, string> = { 'x-clerk-token-type': auth.tokenType }
  for (const [name, value] of fields) if (typeof value === 'string' && value !== '') headers[name] = headerValue(value)
  return headers
}

/**
 * Names only the gateway may set: X-Clerk-*, and the same with underscores (X_Clerk_User_Id), which
 * CGI, WSGI and Rack backends read as the hyphenated name (HTTP_X_CLERK_USER_ID). Node gives names in lower case.
 */
export const IDENTITY_HEADER_NAME = /^x[-_]clerk[-_]/

/** The first identity header a request carries, or undefined. */
export function identityHeaderSent (headers: Record<string, unknown>): string | undefined {
  for (const name in headers) if (IDENTITY_HEADER_NAME.test(name)) return name
  return undefined
}

/**
 * The gateway's parameters in what follows the forward-auth path and its slash, as Envoy sends it:
 * its path_prefix (ending in the parameters, possibly none) and then the client's own path and query.
 * Only the segment before the client's path is the gateway's: the client's query is never read.
 * Undefined when no client path follows, which Envoy never sends.
 */
export function pathParameters (rest: string): string | undefined {
  const path = rest.split('?', 1)[0] as string
  const slash = path.indexOf('/')
  return slash === -1 ? undefined : path.slice(0, slash)
}
