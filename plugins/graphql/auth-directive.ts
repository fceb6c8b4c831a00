import { defaultFieldResolver, getDirectiveValues, isIntrospectionType, isObjectType, type GraphQLSchema } from 'graphql'
import mercurius, { type MercuriusContext } from 'mercurius'
import { forbiddenMessage, missingPart, requirementProblem, type AuthRequirement } from '../clerk-auth/index.js'

export const authDirectiveTypeDefs = /* GraphQL */ `
  "What the caller must have to read this field; otherwise the field is null with a FORBIDDEN error."
  directive @auth(role: String, permission: String, feature: String, plan: String, reverification: String, scope: String) on FIELD_DEFINITION
  "On a Query field: signed-out callers may select it (an operation of such fields runs without a token, with no caller). A token that is sent must be valid."
  directive @optionalAuth on FIELD_DEFINITION
`

/** The Query fields marked @optionalAuth; the directive anywhere else is a mistake that stops start-up. */
export function optionalAuthFields (schema: GraphQLSchema): Set<string> {
  const fields = new Set<string>()
  const queryType = schema.getQueryType()
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || isIntrospectionType(type)) continue
    for (const field of Object.values(type.getFields())) {
      if (field.astNode?.directives?.some((directive) => directive.name.value === 'optionalAuth') !== true) continue
      if (type !== queryType) throw new Error(`${type.name}.${field.name}: @optionalAuth belongs on Query fields, where an operation starts`)
      fields.add(field.name)
    }
  }
  return fields
}

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
      const check = (context: MercuriusContext): void => {
        const auth = context.reply.request.auth
        const unmet = auth === null ? (Object.keys(requirement) as Array<keyof AuthRequirement>) : context.app.clerkAuth.unmet(auth, requirement)
        if (unmet.length > 0) {
          throw new mercurius.ErrorWithProps(forbiddenMessage(requirement, unmet), { code: 'FORBIDDEN', missing: missingPart(requirement, unmet) })
        }
      }
      const resolve = field.resolve ?? defaultFieldResolver
      field.resolve = (source, args, context: MercuriusContext, info) => {
        check(context)
        return resolve(source, args, context, info)
      }
      // Subscription fields: checked at subscribe too, so that a forbidden subscription never starts.
      const { subscribe } = field
      if (subscribe !== undefined) {
        field.subscribe = (source, args, context: MercuriusContext, info) => {
          check(context)
          return subscribe(source, args, context, info)
        }
      }
    }
  }
  return schema
}
