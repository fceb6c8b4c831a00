// The kinds of Clerk credentials, by Clerk's names (acceptsToken), and how a token tells its kind
// before anything in it is verified, as Clerk's SDK (@clerk/backend) tells them.

export const TOKEN_TYPES = ['session_token', 'm2m_token', 'oauth_token', 'api_key'] as const
export type TokenType = typeof TOKEN_TYPES[number]
export type MachineTokenType = Exclude<TokenType, 'session_token'>
/** The kinds that come as JWTs (API keys are always opaque). */
export type JwtTokenType = Exclude<TokenType, 'api_key'>

/** What a route accepts when it says nothing: sessions only. */
export const SESSIONS_ONLY: readonly TokenType[] = Object.freeze(['session_token'])

/** Why an acceptsToken declaration is unusable, or undefined; checked when a route is declared. */
export function acceptsTokenProblem (value: unknown): string | undefined {
  if (!Array.isArray(value) || value.length === 0) return `must be a non-empty array of ${TOKEN_TYPES.join(', ')}`
  for (const type of value) {
    if (!(TOKEN_TYPES as readonly unknown[]).includes(type)) return `has an unknown token type ${JSON.stringify(type)} (known: ${TOKEN_TYPES.join(', ')})`
  }
  if (new Set(value).size !== value.length) return 'names a token type twice'
  return undefined
}

// Opaque machine tokens, by prefix (case-sensitive, as in Clerk's SDK).
const OPAQUE_PREFIXES: ReadonlyArray<[string, MachineTokenType]> = [['mt_', 'm2m_token'], ['oat_', 'oauth_token'], ['ak_', 'api_key']]

/** The kind of an opaque (not JWT) machine token, or undefined for anything else. */
export function opaqueTokenType (token: string): MachineTokenType | undefined {
  for (const [prefix, type] of OPAQUE_PREFIXES) if (token.startsWith(prefix)) return type
  return undefined
}

// Header categories (`cat`): the same instance key signs sessions, JWT templates and M2M tokens.
export const M2M_CATEGORY = 'cl_B7d4PD333AAA'
export const TEMPLATE_CATEGORY = 'cl_B7d4PD222AAA'
// OAuth access-token JWTs (RFC 9068).
const ACCESS_TOKEN_TYPES = new Set(['at+jwt', 'application/at+jwt'])
// Clerk's machine ids: an M2M JWT from before the category was stamped has sub mch_….
export const MACHINE_ID_PREFIX = 'mch_'

/**
 * The kind of a decoded (not yet verified) JWT, in Clerk's order: M2M first (category or a machine
 * subject), then OAuth (typ), else a session. JWT-template tokens are no kind we accept: 'template'.
 */
export function jwtTokenType (header: Record<string, unknown>, payload: Record<string, unknown>): JwtTokenType | 'template' {
  const { sub } = payload
  if (header.cat === M2M_CATEGORY || (typeof sub === 'string' && sub.startsWith(MACHINE_ID_PREFIX))) return 'm2m_token'
  if (ACCESS_TOKEN_TYPES.has(header.typ as string)) return 'oauth_token'
  if (header.cat === TEMPLATE_CATEGORY) return 'template'
  return 'session_token'
}
