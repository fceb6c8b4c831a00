// Shapes that several routes (and the bench's bare twin) share, written once.

/** `/:id` of the ping routes: the id echoed in the answer. */
export const idParamsSchema = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
  required: ['id']
} as const

export interface IdParams { id: string }

/** A 200 of plain text, as the ping routes answer (documented as text/plain, not JSON). */
export const plainTextResponse = {
  content: { 'text/plain': { schema: { type: 'string' } } }
} as const
