import { defaultFieldResolver, getDirectiveValues, isIntrospectionType, isObjectType, type GraphQLSchema } from 'graphql'
import mercurius, { type MercuriusContext } from 'mercurius'
import { forbiddenMessage, missingPart, requirementProblem, type AuthRequirement } from '../clerk-auth/index.js'

export const authDirectiveTypeDefs = /* GraphQL */ `
  "What the caller must have to read this field; otherwise the field is null with a FORBIDDEN error."
  directive @auth(role: String, permission: String, feature: String, plan: String, reverification: String, scope: String) on FIELD_DEFINITION
`

/** Wraps every field marked @auth(...) so that it resolves only for callers meeting the requirement. */
export function applyAuthDirective (schema: GraphQLSchema): GraphQLSchema {
  const directive = schema.getDirective('auth')
  if (directive === undefined || directive === null) return schema
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || isIntrospectionType(type)) continue
    for (const field of Object.values(type.getFields())) {
      const values = field.astNode === undefined || field.astNode === null ? undefined : getDirectiveValues(directive, field.astNode)
      if (values === undefined) continue
      const requirement = values as AuthRequirement
      const problem = requirementProblem(requirement)
      if (problem !== undefined) throw new Error(`${type.name}.${field.name}: @auth ${problem}`)
      const resolve = field.resolve ?? defaultFieldResolver
      field.resolve = (source, args, context: MercuriusContext, info) => {
        const auth = context.reply.request.auth
        const unmet = auth === null ? (Object.keys(requirement) as Array<keyof AuthRequirement>) : context.app.clerkAuth.unmet(auth, requirement)
        if (unmet.length > 0) {
          throw new mercurius.ErrorWithProps(forbiddenMessage(requirement, unmet), { code: 'FORBIDDEN', missing: missingPart(requirement, unmet) })
        }
        return resolve(source, args, context, info)
      }
    }
  }
  return schema
}
