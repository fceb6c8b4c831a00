// The auth object as JSON (what `GET /me` answers): the one description of the caller's fields that
// responses follow. A test holds ClerkAuth and the GraphQL Me type to it.
const nullableString = { type: ['string', 'null'] } as const

export const authObjectSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['userId', 'sessionId', 'sessionStatus', 'claims'],
  properties: {
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
