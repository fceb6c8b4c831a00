// The auth objects as JSON (what `GET /me` answers): the one description of the callers' fields that
// responses follow. A test holds SessionAuth, MachineAuth and the GraphQL Me type to them.
const nullableString = { type: ['string', 'null'] } as const

export const sessionAuthSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['tokenType', 'userId', 'sessionId', 'sessionStatus', 'claims'],
  properties: {
    tokenType: { type: 'string', enum: ['session_token'] },
    userId: { type: 'string', description: 'sub' },
    sessionId: { type: 'string', description: 'sid' },
    sessionStatus: { type: 'string', description: 'sts: active, or pending when accepted' },
    actor: { type: ['object', 'null'], additionalProperties: true, description: 'act, during impersonation' },
    orgId: nullableString,
    orgRole: nullableString,
    orgSlug: nullableString,
    orgPermissions: { type: ['array', 'null'], items: { type: 'string' } },
    factorVerificationAge: {
      type: ['array', 'null'],
      items: { type: 'integer' },
      description: '[minutes since first factor, minutes since second factor], -1 when not enrolled'
    },
    claims: { type: 'object', additionalProperties: true, description: 'every verified claim' }
  }
} as const

export const machineAuthSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['tokenType', 'id', 'subject', 'scopes'],
  properties: {
    tokenType: { type: 'string', enum: ['m2m_token', 'oauth_token', 'api_key'] },
    id: { type: ['string', 'null'], description: 'jti: mt_… or oat_…' },
    subject: { type: 'string', description: 'sub: the machine (mch_…) or the user (user_…)' },
    scopes: { type: 'array', items: { type: 'string' }, description: 'M2M: the machines it may reach; OAuth: the granted scopes' },
    claims: { type: ['object', 'null'], additionalProperties: true, description: 'M2M: the claims but iss, sub, exp, nbf, iat and jti' },
    machineId: { type: 'string', description: 'M2M: the calling machine' },
    userId: nullableString,
    clientId: { type: 'string', description: 'OAuth: the client the user authorized' },
    orgId: nullableString,
    name: { type: 'string', description: 'API key: its name' }
  }
} as const

/** Either kind of caller; tokenType tells which. */
export const authObjectSchema = { anyOf: [sessionAuthSchema, machineAuthSchema] } as const
