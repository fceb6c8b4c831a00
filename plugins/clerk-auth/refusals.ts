// Every way a request can be turned away, with its stable code, status and wording.
// Messages say what is wrong without echoing the token, key ids, dates or configuration.

interface Refusal {
  message: string
  /** RFC 6750 error_description; absent where no bearer token was presented. */
  description?: string
  /** Not the caller's fault: 503 with Retry-After instead of 401. */
  unavailable?: true
  /**
   * The same token always gets it, so the verdict is cached for a while. Not so: time-dependent ones
   * (not yet valid, issued in the future), unknown keys (a rotation may publish them), Clerk's answers
   * on opaque tokens (cached by their own rules) and anything about the issuer being unreachable.
   */
  lasting?: true
}

/** Every refusal, one row each: adding a code is adding a row. */
export const refusalTexts = {
  token_missing: {
    message: 'No token: send "Authorization: Bearer <token>" (a session token may also come in the __session cookie).'
  },
  token_scheme_invalid: {
    message: 'The Authorization header must use the Bearer scheme.'
  },
  token_malformed: {
    message: 'The token is not a well-formed JWT.',
    description: 'malformed token',
    lasting: true
  },
  token_header_invalid: {
    message: 'The token header is not accepted: it carries its own key, an unsupported type or critical extensions.',
    description: 'unacceptable token header',
    lasting: true
  },
  token_algorithm_invalid: {
    message: 'The token must be signed with RS256.',
    description: 'unsupported algorithm',
    lasting: true
  },
  token_key_unknown: {
    message: 'The token is signed with a key that the issuer does not publish.',
    description: 'unknown signing key'
  },
  token_signature_invalid: {
    message: 'The token signature is invalid.',
    description: 'invalid signature',
    lasting: true
  },
  token_expired: {
    message: 'The token has expired: fetch a fresh one (for a session, getToken()) and retry.',
    description: 'token expired',
    lasting: true
  },
  token_not_yet_valid: {
    message: 'The token is not valid yet (nbf is in the future).',
    description: 'token not yet valid'
  },
  token_issued_in_future: {
    message: 'The token was issued in the future (iat): check the clocks.',
    description: 'token issued in the future'
  },
  token_issuer_invalid: {
    message: 'The token was issued by another issuer.',
    description: 'wrong issuer',
    lasting: true
  },
  token_unauthorized_party: {
    message: 'The session token was issued to an origin that is not allowed (azp).',
    description: 'unauthorized party',
    lasting: true
  },
  token_claims_invalid: {
    message: 'The token lacks a required claim or has one of the wrong type or value (sessions: iss, sub, sid, exp, iat, nbf, sts, act; machine tokens: iss, sub, exp, nbf, iat, jti, client_id, scope, scopes, aud).',
    description: 'invalid claims',
    lasting: true
  },
  token_type_not_accepted: {
    message: 'This route does not accept this kind of token (session, M2M, OAuth access token, API key; JWT templates never).',
    description: 'token type not accepted',
    lasting: true
  },
  token_audience_invalid: {
    message: 'The machine token was not issued for this service: its aud or scopes do not name this service\'s machine.',
    description: 'token not issued for this service',
    lasting: true
  },
  session_pending: {
    message: 'The session is pending: it still has a task to finish (for example choosing an organization).',
    description: 'session pending',
    lasting: true
  },
  session_revoked: {
    message: 'Access has ended since the token was issued (signed out, session revoked, user banned or deleted, membership removed or role changed): sign in again.',
    description: 'session revoked'
  },
  token_revoked: {
    message: 'The machine token or API key has been revoked.',
    description: 'token revoked'
  },
  token_unknown: {
    message: 'Clerk does not know this machine token or API key.',
    description: 'unknown token'
  },
  issuer_unavailable: {
    message: "The issuer's signing keys cannot be fetched right now; retry shortly.",
    unavailable: true
  },
  clerk_api_unavailable: {
    message: "Clerk's Backend API cannot verify this token right now; retry shortly.",
    unavailable: true
  }
} as const satisfies Record<string, Refusal>

export type RefusalCode = keyof typeof refusalTexts

export interface RefusalResponse {
  statusCode: 401 | 503
  /** WWW-Authenticate for 401, Retry-After for 503. */
  headers: Record<string, string>
  /** Serialized once: refusals are sent often and never change. */
  body: string
}

export interface RefusalOptions {
  realm: string
  retryAfterSeconds: number
}

/** Builds the response for every code once, so a refusal costs no work per request. */
export function buildRefusalResponses (options: RefusalOptions): Record<RefusalCode, RefusalResponse> {
  const responses = {} as Record<RefusalCode, RefusalResponse>
  for (const code of Object.keys(refusalTexts) as RefusalCode[]) {
    const refusal: Refusal = refusalTexts[code]
    const { message, description } = refusal
    if (refusal.unavailable === true) {
      responses[code] = {
        statusCode: 503,
        headers: { 'retry-after': String(options.retryAfterSeconds) },
        body: JSON.stringify({ statusCode: 503, error: 'Service Unavailable', code, message })
      }
      continue
    }
    let challenge = `Bearer realm="${options.realm}"`
    if (description !== undefined) challenge += `, error="invalid_token", error_description="${description}"`
    responses[code] = {
      statusCode: 401,
      headers: { 'www-authenticate': challenge },
      body: JSON.stringify({ statusCode: 401, error: 'Unauthorized', code, message })
    }
  }
  return responses
}

/** Whether the same token always gets this refusal, so that it may be cached. */
export function isLasting (code: RefusalCode): boolean {
  return (refusalTexts[code] as Refusal).lasting === true
}

/** A refusal carried through code paths that can only throw or reject (the key lookup). */
export class RefusalError extends Error {
  override name = 'RefusalError'
  constructor (readonly code: RefusalCode, options?: ErrorOptions) {
    super(refusalTexts[code].message, options)
  }
}
