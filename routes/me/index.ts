import type { FastifyInstance } from 'fastify'

const nullableString = { type: ['string', 'null'] }

export default async function me (fastify: FastifyInstance): Promise<void> {
  // What the backend sees of the caller: the auth object without has() and without the raw token.
  fastify.get('/', {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: {
            userId: { type: 'string' },
            sessionId: { type: 'string' },
            sessionStatus: { type: 'string' },
            actor: { type: ['object', 'null'], additionalProperties: true },
            orgId: nullableString,
            orgRole: nullableString,
            orgSlug: nullableString,
            orgPermissions: { type: ['array', 'null'], items: { type: 'string' } },
            factorVerificationAge: { type: ['array', 'null'], items: { type: 'integer' } },
            claims: { type: 'object', additionalProperties: true }
          }
        }
      }
    }
  }, async (request) => request.auth)
}
